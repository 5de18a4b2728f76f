"""Security emails (issue 16): a new API key added, a sign-in from a new device, the account's data export ready.

Sent only while the user's `Preferences.email_notifications` is on (the default), to registered users with an
address. Through Django's email backend; a failure to send is logged and never fails what triggered it (a sign-in,
a saved key, an export job).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.models import Preferences, User

logger = logging.getLogger(__name__)

# Each kind: its subject; its body is templates/accounts/email/security_<kind>.txt.
KINDS = {
    "api_key_added": "A new API key was added to your account",
    "new_device_sign_in": "New sign-in to your account",
    "export_ready": "Your data export is ready",
}


def notifications_enabled(*, user: User) -> bool:
    """The user's choice; a user who never saved preferences has the model's default (on)."""
    enabled = Preferences.objects.filter(user=user).values_list("email_notifications", flat=True).first()
    return Preferences._meta.get_field("email_notifications").default if enabled is None else enabled


def send_security_email(*, user: User, kind: str, context: Mapping | None = None) -> bool:
    """Email the user about `kind` (one of KINDS) when their preference allows it; returns whether it was sent.

    `context` fills the kind's template: api_key_added takes provider (its label), key_hint, replaced, ip and
    user_agent; new_device_sign_in takes ip, user_agent and sessions_url; export_ready takes download_url and
    expires_at (a datetime). Unknown kinds are a programming error (ValueError).
    """
    if kind not in KINDS:
        raise ValueError(f"Unknown security email: {kind!r}")
    if user.is_guest or not user.email or not notifications_enabled(user=user):
        return False
    body = render_to_string(
        f"accounts/email/security_{kind}.txt", {"user": user, "now": timezone.now(), **(context or {})}
    )
    try:
        send_mail(
            subject=f"{settings.ACCOUNT_EMAIL_SUBJECT_PREFIX}{KINDS[kind]}",
            message=body,
            from_email=None,
            recipient_list=[user.email],
        )
    except Exception:  # the mail server is down or refuses: the action that triggered it still stands
        logger.exception("The %s email to user %s could not be sent", kind, user.pk)
        return False
    return True
