"""Writes for accounts: keys (always audited), quotas, guests, sessions, account deletion."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.crypto import KeyDecryptionError, decrypt_secret, encrypt_secret, key_hint, reencrypt_secret
from accounts.models import (
    AutoApprovalSettings,
    KeyAuditLog,
    Preferences,
    ProviderKey,
    RetrievalSettings,
    Session,
    User,
)

logger = logging.getLogger(__name__)
Action = KeyAuditLog.Action


@dataclass(frozen=True)
class ClientInfo:
    """Where a request came from, for the audit trail."""

    ip: str | None = None
    user_agent: str = ""

    @classmethod
    def from_request(cls, request) -> ClientInfo:
        from accounts.middleware import client_ip, client_user_agent

        return cls(ip=client_ip(request), user_agent=client_user_agent(request))


SYSTEM = ClientInfo(ip=None, user_agent="system")


def _audit_entry(
    *, user: User, provider: str, action: str, client: ClientInfo, success: bool = True, error: str = ""
) -> KeyAuditLog:
    return KeyAuditLog(
        user=user,
        provider=provider,
        action=action,
        ip=client.ip,
        user_agent=client.user_agent,
        success=success,
        error_message=error[:2000],
    )


def audit_log_write(
    *, user: User, provider: str, action: str, client: ClientInfo, success: bool = True, error: str = ""
) -> KeyAuditLog:
    entry = _audit_entry(user=user, provider=provider, action=action, client=client, success=success, error=error)
    entry.save(force_insert=True)
    return entry


# --- API keys -------------------------------------------------------------------------------------------


@transaction.atomic
def provider_key_save(
    *, user: User, provider: str, api_key: str, client: ClientInfo, config: dict | None = None
) -> ProviderKey:
    """Add the user's key for a provider, or replace the one they had; the plaintext is never stored."""
    api_key = api_key.strip()
    existing = ProviderKey.objects.select_for_update().filter(user=user, provider=provider).first()
    key = existing or ProviderKey(user=user, provider=provider)
    key.encrypted_key = encrypt_secret(api_key)
    key.key_hint = key_hint(api_key)
    key.is_active = True
    if config is not None:
        key.config = config
    key.save()
    audit_log_write(user=user, provider=provider, action=Action.UPDATE if existing else Action.CREATE, client=client)
    _notify_key_added(key=key, replaced=existing is not None, client=client)
    return key


def _notify_key_added(*, key: ProviderKey, replaced: bool, client: ClientInfo) -> None:
    """A security email once the key is saved (not for a save rolled back), when the user wants them."""
    from accounts.notifications import send_security_email

    context = {
        "provider": key.get_provider_display(),
        "key_hint": key.key_hint,
        "replaced": replaced,
        "ip": client.ip,
        "user_agent": client.user_agent,
    }
    transaction.on_commit(lambda: send_security_email(user=key.user, kind="api_key_added", context=context))


@transaction.atomic
def provider_key_set_active(*, key: ProviderKey, active: bool, client: ClientInfo) -> ProviderKey:
    key.is_active = active
    key.save(update_fields=["is_active", "updated_at"])
    audit_log_write(
        user=key.user, provider=key.provider, action=Action.ACTIVATE if active else Action.DEACTIVATE, client=client
    )
    return key


@transaction.atomic
def provider_key_delete(*, key: ProviderKey, client: ClientInfo) -> None:
    audit_log_write(user=key.user, provider=key.provider, action=Action.DELETE, client=client)
    key.delete()


def provider_key_reveal(*, key: ProviderKey, action: str, client: ClientInfo) -> str | None:
    """Decrypt a key for a purpose (a chat, a test); a failure is audited and returns None."""
    try:
        return decrypt_secret(key.encrypted_key)
    except KeyDecryptionError as exc:
        logger.warning("API key %s of user %s cannot be decrypted", key.id, key.user_id)
        audit_log_write(
            user=key.user, provider=key.provider, action=Action.DECRYPT_FAILURE, client=client, success=False,
            error=f"{exc} (during {action})",
        )  # fmt: skip
        return None


def provider_key_test(*, key: ProviderKey, client: ClientInfo) -> tuple[bool, str]:
    """Ask the provider whether the key works; audited either way. Returns (ok, message for the user).

    The key's own base URL goes through the network policy first, as for a chat; a custom endpoint's models
    (what it listed) are kept on the key, so they can be picked.
    """
    from chatbot.llm.catalog import PROVIDERS
    from chatbot.llm.keys import verify_key
    from chatbot.netpolicy import BaseUrlRefused, check_user_base_url

    secret = provider_key_reveal(key=key, action="test", client=client)
    if secret is None:
        return False, "This key can no longer be decrypted. Please add it again."
    base_url = (key.config.get("base_url") or "").strip()
    try:
        base_url = check_user_base_url(base_url) if base_url else ""
    except BaseUrlRefused as exc:
        ok, message, models = False, exc.reason, []
    else:
        check = verify_key(
            provider=key.provider,
            api_key=secret or "none",
            base_url=PROVIDERS[key.provider].api_url(base_url) or PROVIDERS[key.provider].operator_base_url or None,
            user_base_url=bool(base_url),
        )
        ok, message, models = check.ok, check.message, check.models
    if ok and base_url and models and models != key.config.get("models"):
        key.config = {**key.config, "models": models}
        key.save(update_fields=["config", "updated_at"])
    audit_log_write(
        user=key.user, provider=key.provider, action=Action.TEST, client=client, success=ok, error="" if ok else message
    )
    return ok, message


KEY_LAST_USED_PRECISION = dt.timedelta(minutes=1)


# How long marking a use failed waits for its row, which the request that started the reply writes just after it.
KEY_USE_RECORD_WAIT_SECONDS = 30


@dataclass(frozen=True)
class KeyUse:
    """A user's key handed to a provider for one call, with the audit row that records the use.

    The row is written at once, or, for a reply (`provider_key_for_chat(defer_audit=True)`), by `key_use_record`
    once the reply's provider request has gone out: its two writes are then off the path to the first token.
    """

    secret: str
    config: dict
    key_id: uuid.UUID
    key_hint: str
    audit_id: uuid.UUID
    recorded: threading.Event = field(default_factory=threading.Event, compare=False, repr=False)
    # The row and whether the key's "last used" is due, until key_use_record writes them.
    pending: tuple[KeyAuditLog, bool] | None = field(default=None, compare=False, repr=False)


def provider_key_for_chat(*, user: User, provider: str, client: ClientInfo, defer_audit: bool = False) -> KeyUse | None:
    """The user's active key for a provider (decrypted) and its settings, for one reply; audited as a use.

    The use is recorded as a success when the key is handed over; `key_use_failed` marks it failed when the
    provider then refuses the call. `defer_audit`: the caller writes the record with `key_use_record`.
    """
    # A fixed statement: read for every reply, and Django's build of it cost more than running it. One a provider.
    found = ProviderKey.objects.raw(
        "SELECT * FROM user_keys WHERE user_id = %s AND provider = %s AND is_active", [user.pk, provider]
    )
    key = next(iter(found), None)
    if key is None:
        return None
    secret = provider_key_reveal(key=key, action="chat", client=client)
    if secret is None:
        return None
    # Shown as "used 3 minutes ago": a write per minute is enough; the audit log records every use.
    touch = key.last_used_at is None or timezone.now() - key.last_used_at >= KEY_LAST_USED_PRECISION
    entry = _audit_entry(user=user, provider=provider, action=Action.USE, client=client)
    use = KeyUse(
        secret=secret, config=key.config, key_id=key.id, key_hint=key.key_hint, audit_id=entry.id,
        pending=(entry, touch),
    )  # fmt: skip
    if not defer_audit:
        key_use_record(key=use)
    return use


def key_use_record(*, key: KeyUse) -> None:
    """Write a key use's audit row (and its "last used"), once; whoever waits to mark it failed may go on."""
    if key.recorded.is_set() or key.pending is None:
        return
    entry, touch = key.pending
    try:
        if touch:
            ProviderKey.objects.filter(id=key.key_id).update(last_used_at=entry.created_at)
        entry.save(force_insert=True)
    finally:
        key.recorded.set()


def key_use_failed(*, key: KeyUse, error: str) -> None:
    """The call a key was used for failed at the provider: its use is recorded as failed, with why."""
    key.recorded.wait(KEY_USE_RECORD_WAIT_SECONDS)
    KeyAuditLog.objects.filter(id=key.audit_id).update(success=False, error_message=error[:2000])


@dataclass(frozen=True)
class Credentials:
    """What a call to a provider needs; `key` is the user's own key, None for the operator's."""

    api_key: str
    base_url: str | None
    key: KeyUse | None = None
    # The base URL was typed by the user: checked by chatbot/netpolicy.py (it was, just now) and reached only
    # through the guarded connections. The operator's base URLs are trusted.
    user_base_url: bool = False


def provider_credentials(
    *, user: User, provider: str, client: ClientInfo, defer_audit: bool = False
) -> Credentials | None:
    """The key and base URL for a call to a provider on the user's behalf: their own active key first (its use
    audited), then the operator's; None when neither exists.

    A base URL the user set on their key is checked against the network policy now; refused, the use is
    recorded as failed and `BaseUrlRefused` is raised (with the key, so the reader can be sent to it): the
    user meant their key for that endpoint, so it is not silently sent elsewhere, nor the operator's key used.
    `defer_audit`: the use is recorded later, by the caller (`provider_key_for_chat`).
    """
    from chatbot.llm.catalog import PROVIDERS
    from chatbot.netpolicy import BaseUrlRefused, check_user_base_url

    spec = PROVIDERS[provider]
    own = provider_key_for_chat(user=user, provider=provider, client=client, defer_audit=defer_audit)
    if own is not None:
        base_url = (own.config.get("base_url") or "").strip()
        if not base_url:
            if not spec.operator_base_url and not spec.needs_key:
                return None  # an Ollama entry without an address, and no operator server to fall back on
            return Credentials(own.secret or "none", spec.operator_base_url or None, own)
        try:
            base_url = check_user_base_url(base_url)
        except BaseUrlRefused as exc:
            key_use_record(key=own)
            key_use_failed(key=own, error=f"base_url_refused: {exc.reason}")
            raise BaseUrlRefused(exc.reason, key=own) from exc
        # A keyless server (Ollama) still needs a non-empty key for the SDK; it is not sent anywhere it matters.
        return Credentials(own.secret or "none", spec.api_url(base_url), own, user_base_url=True)
    if not spec.operator_configured:
        return None
    return Credentials(spec.operator_key or "none", spec.operator_base_url or None)


def provider_keys_rotate() -> tuple[int, int]:
    """Re-encrypt every stored key under the newest encryption key. Returns (rotated, failed)."""
    rotated = failed = 0
    for key in ProviderKey.objects.select_related("user").iterator(chunk_size=500):
        try:
            token = reencrypt_secret(key.encrypted_key)
        except KeyDecryptionError as exc:
            failed += 1
            audit_log_write(
                user=key.user, provider=key.provider, action=Action.DECRYPT_FAILURE, client=SYSTEM, success=False,
                error=f"{exc} (during rotation)",
            )  # fmt: skip
            continue
        with transaction.atomic():
            ProviderKey.objects.filter(id=key.id).update(encrypted_key=token)
            audit_log_write(user=key.user, provider=key.provider, action=Action.ROTATE, client=SYSTEM)
        rotated += 1
    return rotated, failed


# --- Settings rows --------------------------------------------------------------------------------------------


def preferences_get(*, user: User) -> Preferences:
    return Preferences.objects.get_or_create(user=user)[0]


def retrieval_settings_get(*, user: User) -> RetrievalSettings:
    return RetrievalSettings.objects.get_or_create(user=user)[0]


def auto_approval_settings_get(*, user: User) -> AutoApprovalSettings:
    return AutoApprovalSettings.objects.get_or_create(user=user)[0]


# --- Daily message quota ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuotaResult:
    allowed: bool
    used: int
    limit: int
    resets_at: dt.datetime
    guest: bool = False

    @property
    def message(self) -> str:
        if self.allowed:
            return ""
        hours, remainder = divmod(int((self.resets_at - timezone.now()).total_seconds()), 3600)
        wait = f"{hours} h {remainder // 60} min" if hours else f"{max(1, remainder // 60)} min"
        sent = f"{self.limit} message{'s' if self.limit != 1 else ''}"
        return f"You have sent your {sent} for today. The limit resets at midnight UTC (in {wait})." + (
            " Sign up for a higher limit." if self.guest else ""
        )


def daily_message_limit(*, user: User) -> int:
    return settings.GUEST_DAILY_MESSAGE_LIMIT if user.is_guest else settings.USER_DAILY_MESSAGE_LIMIT


def message_quota_consume(*, user: User) -> QuotaResult:
    """Count one sent message against today's limit, atomically (two tabs cannot both slip through)."""
    now = timezone.now()
    today = now.astimezone(dt.UTC).date()
    resets_at = dt.datetime.combine(today + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
    limit = daily_message_limit(user=user)
    # One round trip on the send path: the ORM's update() cannot return the new count.
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {User._meta.db_table} SET
                daily_message_count = CASE WHEN daily_message_reset_on IS DISTINCT FROM %(today)s THEN 1
                                           ELSE daily_message_count + 1 END,
                daily_message_reset_on = %(today)s,
                last_active_at = %(now)s
            WHERE id = %(id)s AND (daily_message_reset_on IS DISTINCT FROM %(today)s OR daily_message_count < %(limit)s)
            RETURNING daily_message_count
            """,  # noqa: S608 (the table name is ours; every value is a parameter)
            {"today": today, "now": now, "id": user.id, "limit": limit},
        )
        row = cursor.fetchone()
    if row is None:  # refused: nothing was counted
        user.refresh_from_db(fields=["daily_message_count", "daily_message_reset_on"])
    else:
        user.daily_message_count, user.daily_message_reset_on = row[0], today
    return QuotaResult(
        allowed=row is not None, used=user.daily_message_count, limit=limit, resets_at=resets_at, guest=user.is_guest
    )


def message_quota_refund(*, user: User) -> None:
    """Give back a counted message when sending failed before anything was generated."""
    User.objects.filter(id=user.id, daily_message_count__gt=0).update(daily_message_count=F("daily_message_count") - 1)


# --- Guests ---------------------------------------------------------------------------------------------------


def guest_create() -> User:
    user = User.objects.create_user(email=None, is_guest=True, last_active_at=timezone.now())
    user.set_unusable_password()
    user.save(update_fields=["password"])
    return user


def guests_purge_inactive(*, older_than_days: int | None = None, batch_size: int = 500) -> int:
    """Delete guests inactive for the retention period (GUEST_RETENTION_DAYS, whose 0 keeps them, as the other
    retention settings' 0 does; or `older_than_days`, where 0 is every guest), with everything they own; batched."""
    if older_than_days is None and settings.GUEST_RETENTION_DAYS <= 0:
        return 0
    days = settings.GUEST_RETENTION_DAYS if older_than_days is None else older_than_days
    cutoff = timezone.now() - dt.timedelta(days=days)
    stale = User.objects.filter(is_guest=True).filter(
        Q(last_active_at__lt=cutoff) | Q(last_active_at__isnull=True, created_at__lt=cutoff)
    )
    deleted = 0
    while ids := list(stale.values_list("id", flat=True)[:batch_size]):
        with transaction.atomic():
            for user in User.objects.filter(id__in=ids):
                user_delete(user=user)
        deleted += len(ids)
    return deleted


# --- Sessions -------------------------------------------------------------------------------------------------


def session_revoke(*, user: User, session_key: str) -> bool:
    return Session.objects.filter(user=user, session_key=session_key).delete()[0] > 0


def sessions_revoke_others(*, user: User, current_session_key: str | None) -> int:
    return Session.objects.filter(user=user).exclude(session_key=current_session_key or "").delete()[0]


# --- Account deletion -----------------------------------------------------------------------------------------


@transaction.atomic
def user_delete(*, user: User) -> None:
    """Immediate purge of everything the user owns (seed 001 retention); files go once this commits."""
    user_id: uuid.UUID = user.id
    user.delete()
    logger.info("deleted user %s and all their data", user_id)
