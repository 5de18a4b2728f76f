"""Devices a user has signed in from: a signed cookie naming the accounts that signed in on this browser.

It exists for the per-account limit on failed sign-ins. That limit stops a password being guessed from many
addresses, but as allauth ships it, anyone who knows an email address can lock its owner out for minutes with five
wrong passwords. A browser that has signed in to the account before is exempt from it (the per-address limit
still applies), so the owner's own devices always get in with the right password.
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponseBase

COOKIE = "known_device"
SALT = "accounts.devices.known"
MAX_AGE = 400 * 24 * 3600  # browsers cap cookies at 400 days
MAX_ACCOUNTS = 5  # a shared family computer, not a list to grow without end


def known_account_ids(request: HttpRequest) -> list[str]:
    try:
        value = request.get_signed_cookie(COOKIE, default="", salt=SALT, max_age=MAX_AGE)
    except signing.BadSignature:
        return []
    return [part for part in value.split(",") if part][:MAX_ACCOUNTS]


def remember_device(request: HttpRequest, response: HttpResponseBase, *, user_id) -> None:
    """Mark this browser as one the user signed in from (most recent first)."""
    ids = [str(user_id), *(known for known in known_account_ids(request) if known != str(user_id))]
    response.set_signed_cookie(
        COOKIE,
        ",".join(ids[:MAX_ACCOUNTS]),
        salt=SALT,
        max_age=MAX_AGE,
        httponly=True,
        secure=settings.SESSION_COOKIE_SECURE,
        samesite="Lax",
    )
