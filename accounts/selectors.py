from __future__ import annotations

import re

from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import KeyAuditLog, ProviderKey, Session, User


def session_list(*, user: User) -> QuerySet[Session]:
    return Session.objects.filter(user=user, expire_date__gt=timezone.now()).order_by("-last_seen_at")


def provider_key_list(*, user: User) -> QuerySet[ProviderKey]:
    return ProviderKey.objects.filter(user=user).order_by("provider").defer("encrypted_key")


def audit_log_list(*, user: User) -> QuerySet[KeyAuditLog]:
    return KeyAuditLog.objects.filter(user=user).order_by("-created_at")


def offered_models(*, user: User) -> list:
    """The models (catalog.KnownModel) of every provider the user can chat with: the catalogue's, Ollama's as its
    server lists them, and those a custom endpoint of the user's listed when their key was tested."""
    from chatbot.llm.catalog import PROVIDERS, KnownModel, known_models

    keys = dict(ProviderKey.objects.filter(user=user, is_active=True).values_list("provider", "config"))
    offered = []
    for name, spec in PROVIDERS.items():
        if name not in keys and not spec.operator_configured:
            continue
        config = keys.get(name) or {}
        if config.get("base_url") and config.get("models"):
            offered += [KnownModel(name, model, f"{model} ({spec.label})") for model in config["models"]]
        else:
            offered += known_models(name)
    return offered


def offered_model_provider(*, user: User, model: str, current_provider: str, current_model: str) -> str:
    """The provider a model picked from the offered ones runs on (conversations.views._model_choices offers them:
    the offline assistant, the user's models, the conversation's own, and the operator's Claude default)."""
    if model == "offline":
        return "offline"
    if model == current_model and current_provider:
        return current_provider
    match = next((offered for offered in offered_models(user=user) if offered.id == model), None)
    return match.provider if match is not None else "anthropic"  # ANTHROPIC_DEFAULT_MODEL, the one other


def default_chat_model(*, user: User, preferred: str = "") -> tuple[str, str]:
    """(provider, model) for a new conversation: the preferred model when the user can use it, else the first
    usable provider's first model (Anthropic's: the operator's default), else the offline assistant."""
    from django.conf import settings

    offered = offered_models(user=user)
    if preferred:
        match = next((model for model in offered if model.id == preferred), None)
        if match is not None:
            return match.provider, match.id
    if not offered:
        return "offline", "offline"
    first = offered[0]
    if first.provider == "anthropic":
        return "anthropic", preferred if preferred.startswith("claude") else settings.ANTHROPIC_DEFAULT_MODEL
    return first.provider, first.id


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
