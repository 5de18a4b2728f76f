from __future__ import annotations

import re
from dataclasses import dataclass

from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from accounts.models import KeyAuditLog, ProviderKey, Session, User


def session_list(*, user: User) -> QuerySet[Session]:
    return Session.objects.filter(user=user, expire_date__gt=timezone.now()).order_by("-last_seen_at")


def provider_key_list(*, user: User) -> QuerySet[ProviderKey]:
    return ProviderKey.objects.filter(user=user).order_by("provider").defer("encrypted_key")


# What says whether a key works, as its status shows it: its latest test, or its latest chat use that went through,
# since it was saved (a replaced key starts afresh). Read from the audit log, which already holds each test's and use's
# outcome with its time and reason: no state kept on the key to fall out of step with it. A chat use that failed is
# not held against the key (the provider may have been down or busy, and the reply says why); a failed test is the
# user asking whether it works and being told no.
def _key_checks(*, user_id, provider) -> QuerySet[KeyAuditLog]:
    Action = KeyAuditLog.Action
    return (
        KeyAuditLog.objects.filter(user_id=user_id, provider=provider)
        .filter(Q(action__in=[Action.CREATE, Action.UPDATE, Action.TEST]) | Q(action=Action.USE, success=True))
        .order_by("-created_at")
    )


def _failed_test(entry: KeyAuditLog | None) -> KeyAuditLog | None:
    return entry if entry is not None and entry.action == KeyAuditLog.Action.TEST and not entry.success else None


def provider_key_failed_test(*, key: ProviderKey) -> KeyAuditLog | None:
    """The key's failed test when it is the latest word on the key (no successful test or chat use since, nor a
    new key saved): its audit row, with when and why."""
    return _failed_test(_key_checks(user_id=key.user_id, provider=key.provider).first())


def provider_keys_checked(*, user: User) -> list[ProviderKey]:
    """The user's keys (provider_key_list), each with `failed_test` (provider_key_failed_test): two queries, each
    key's latest check found by the audit log's (user, time) index."""
    latest = _key_checks(user_id=OuterRef("user_id"), provider=OuterRef("provider")).values("id")[:1]
    keys = list(provider_key_list(user=user).annotate(last_check_id=Subquery(latest)))
    ids = [key.last_check_id for key in keys if key.last_check_id]
    checks = KeyAuditLog.objects.in_bulk(ids) if ids else {}
    for key in keys:
        key.failed_test = _failed_test(checks.get(key.last_check_id))
    return keys


def audit_log_list(*, user: User) -> QuerySet[KeyAuditLog]:
    return KeyAuditLog.objects.filter(user=user).order_by("-created_at")


# --- Models: what a user may pick, keyed by (provider, model) --------------------------------------------------

OFFLINE_KEY = "offline:offline"


def model_key(provider: str, model: str) -> str:
    """How a model is named in forms and preferences: two providers serving the same model id stay apart."""
    return f"{provider}:{model}"


def split_model_key(value: str) -> tuple[str, str] | None:
    """(provider, model) of a key, or None when `value` is not one (a bare model id, as older preferences hold)."""
    from chatbot.llm.catalog import PROVIDERS

    provider, separator, model = (value or "").partition(":")
    if separator and model and (provider in PROVIDERS or provider == "offline"):
        return provider, model
    return None


def offered_models(*, user: User) -> list:
    """The models (catalog.KnownModel) of every provider the user can chat with (their own active key, or the
    operator's), in menu order: the catalogue's enabled models; for Ollama, what its server lists; for a key with
    a custom endpoint, what that endpoint listed when the key was tested. A disabled catalogue row hides a model a
    server lists; an enabled one names it."""
    from django.conf import settings

    from catalog.selectors import catalogue_rows
    from chatbot.llm.catalog import PROVIDERS, KnownModel, ollama_models

    keys = dict(ProviderKey.objects.filter(user=user, is_active=True).values_list("provider", "config"))
    usable = [name for name, spec in PROVIDERS.items() if name in keys or spec.operator_configured]
    if not usable:
        return []
    rows: dict[str, list] = {}
    for row in catalogue_rows(providers=usable):
        rows.setdefault(row.provider, []).append(row)
    offered = []
    for name in usable:
        config = keys.get(name) or {}
        if config.get("base_url") and config.get("models"):
            listed = [str(model) for model in config["models"]]
        elif name == "ollama":
            listed = [model.id for model in ollama_models()]
        else:
            listed = None
        entries = rows.get(name, [])
        if listed is None:
            ids = [entry.model_id for entry in entries if entry.enabled]
            if name == "anthropic" and settings.ANTHROPIC_DEFAULT_MODEL not in {e.model_id for e in entries}:
                ids.append(settings.ANTHROPIC_DEFAULT_MODEL)  # the operator's choice is always offered
        else:
            disabled = {entry.model_id for entry in entries if not entry.enabled}
            ids = [model for model in dict.fromkeys(listed) if model not in disabled]
        by_id = {entry.model_id: entry for entry in entries}
        for model in ids:
            entry = by_id.get(model)
            offered.append(
                KnownModel(name, model, entry.display_name if entry else model, entry.context_window if entry else None)
            )
    return offered


def resolve_model_choice(
    *, user: User, value: str, current: tuple[str, str] | None = None, offered: list | None = None
) -> tuple[str, str] | None:
    """(provider, model) for a model picked in a form: the offline assistant, the conversation's current model
    (kept selectable even when no longer offered), or one offered to the user. A bare model id (an older
    preference, a form posted by hand) is the first offered model of that id. None: not the user's to pick."""
    value = (value or "").strip()
    if value in ("offline", OFFLINE_KEY):
        return "offline", "offline"
    keyed = split_model_key(value)
    if current is not None and keyed == current:
        return current
    if current is not None and keyed is None and value == current[1]:
        return current
    for model in offered if offered is not None else offered_models(user=user):
        if (model.provider, model.id) == keyed or (keyed is None and model.id == value):
            return model.provider, model.id
    return None


def default_chat_model(
    *, user: User, preferred: str = "", offered: list | None = None, hidden: list[str] | None = None
) -> tuple[str, str]:
    """(provider, model) for a new conversation: the preferred model when the user can use it, else the first
    usable provider's first model (Anthropic's: the operator's default), else the offline assistant. Models hidden
    from the menu (`hidden`, else the user's preferences) are skipped unless preferred: a new chat started on one
    would put it back in the menu."""
    from django.conf import settings

    offered = offered_models(user=user) if offered is None else offered
    if preferred:
        choice = resolve_model_choice(user=user, value=preferred, offered=offered)
        if choice is not None:
            return choice
    hidden_keys = {str(key) for key in (hidden if hidden is not None else _hidden_models(user))}
    offered = [model for model in offered if model_key(model.provider, model.id) not in hidden_keys]
    if not offered:
        return "offline", "offline"
    first = offered[0]
    operator_pick = ("anthropic", settings.ANTHROPIC_DEFAULT_MODEL)
    if first.provider == "anthropic" and any((model.provider, model.id) == operator_pick for model in offered):
        return operator_pick  # unless the catalogue disables it
    return first.provider, first.id


@dataclass(frozen=True)
class ModelOption:
    provider: str
    model: str
    label: str
    favourite: bool = False
    available: bool = True

    @property
    def key(self) -> str:
        return model_key(self.provider, self.model)


@dataclass(frozen=True)
class ModelGroup:
    label: str
    options: list[ModelOption]


@dataclass(frozen=True)
class ModelMenu:
    groups: list[ModelGroup]
    selected: str  # the key of the chosen model

    @property
    def selected_is_favourite(self) -> bool:
        return any(
            option.key == self.selected and option.favourite for group in self.groups for option in group.options
        )

    @property
    def can_compare(self) -> bool:
        """Whether there are two models to answer side by side (favourites are listed twice: counted once)."""
        keys = {option.key for group in self.groups for option in group.options if option.available}
        return len(keys) > 1

    @property
    def selected_label(self) -> str:
        return next((o.label for g in self.groups for o in g.options if o.key == self.selected), self.selected)


def model_menu(*, user: User, selected: tuple[str, str] | None, hidden: list[str] | None = None) -> ModelMenu:
    """The composer's model menu: favourites first, then each usable provider's models, then the offline
    assistant (never hidden: it is what still answers past a budget); models hidden in the preferences left out,
    but never the one selected, which is always listed (marked unavailable when it no longer is)."""
    from chatbot.llm.catalog import PROVIDERS

    offered = offered_models(user=user)
    hidden_keys = {str(key) for key in (hidden if hidden is not None else _hidden_models(user))} - {OFFLINE_KEY}
    if selected is None:
        selected = default_chat_model(
            user=user, preferred=_preferred_model(user), offered=offered, hidden=list(hidden_keys)
        )
    selected_key = model_key(*selected)
    favourites = {str(key) for key in (user.favorite_models or [])}
    entries = [(model.provider, model.id, model.label, True) for model in offered]
    entries.append(("offline", "offline", "Offline assistant (no language model)", True))
    if selected_key not in {model_key(provider, model) for provider, model, _, _ in entries}:
        # The conversation's own model, not listed: still usable when its provider is (a fine-tune, an id the
        # catalogue lacks); otherwise kept visible, marked, so the menu does not silently show another one.
        usable = selected[0] in {model.provider for model in offered}
        entries.append((*selected, selected[1] if usable else f"{selected[1]} (not available now)", usable))
    order = [*PROVIDERS, "offline"]
    entries.sort(key=lambda entry: order.index(entry[0]) if entry[0] in order else len(order))  # stable
    starred: list[ModelOption] = []
    groups: dict[str, list[ModelOption]] = {}
    for provider, model, label, available in entries:
        key = model_key(provider, model)
        if key in hidden_keys and key != selected_key:
            continue
        group = PROVIDERS[provider].label if provider in PROVIDERS else "Offline"
        if key in favourites:
            label = label if provider == "offline" else f"{label} · {group}"
            starred.append(ModelOption(provider, model, label, favourite=True, available=available))
        else:
            groups.setdefault(group, []).append(ModelOption(provider, model, label, available=available))
    menu = [ModelGroup("Favourites", starred)] if starred else []
    menu += [ModelGroup(label, options) for label, options in groups.items()]
    return ModelMenu(groups=menu, selected=selected_key)


def preferences_of(user: User):
    """The user's Preferences row, or None if never saved (reading a page must not write one): one query per user
    object, kept on it, so that a page's theme, sidebar, model menu and tool cards share it."""
    from accounts.models import Preferences

    if not hasattr(user, "_preferences_row"):
        # A fixed statement: read on every page and reply, and Django's build of `filter(user=...).first()` cost
        # twice the query (0.58 ms of CPU against 0.2 ms, at load 3.7). One row a user at most.
        rows = Preferences.objects.raw("SELECT * FROM user_preferences WHERE user_id = %s", [user.pk])
        user._preferences_row = next(iter(rows), None)
    return user._preferences_row


def shows_tool_invocations(user: User) -> bool:
    """Whether the user's replies show every tool call's card (the preference; on when never saved)."""
    preferences = preferences_of(user)
    return preferences is None or preferences.show_tool_invocations


def _preferred_model(user: User) -> str:
    preferences = preferences_of(user)
    return preferences.default_model if preferences is not None else ""


def _hidden_models(user: User) -> list[str]:
    preferences = preferences_of(user)
    return list(preferences.hidden_models or []) if preferences is not None else []


_BROWSERS = [("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Safari/", "Safari")]
_SYSTEMS = [
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
]


def describe_user_agent(user_agent: str) -> str:
    """'Firefox on Linux' from a User-Agent header; good enough to recognise one's own devices."""
    if not user_agent:
        return "Unknown device"
    browser = next((name for token, name in _BROWSERS if token in user_agent), None)
    if browser is None and re.search(r"HeadlessChrome|Chromium", user_agent):
        browser = "Chromium"
    system = next((name for token, name in _SYSTEMS if token in user_agent), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or user_agent[:60]
