from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from chatbot.text import clean_text


def client_ip(request: HttpRequest) -> str | None:
    """The client's address; behind a trusted proxy, the last hop it added to X-Forwarded-For.

    Only an IP address: it is stored in an inet column, where anything else ("unknown", a NUL) failed the INSERT.
    """
    address = request.META.get("REMOTE_ADDR") or None
    if settings.TRUSTED_PROXY_COUNT:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part]
        if len(forwarded) >= settings.TRUSTED_PROXY_COUNT:
            address = forwarded[-settings.TRUSTED_PROXY_COUNT]
    try:
        return str(ipaddress.ip_address(address)) if address else None
    except ValueError:
        return None


def client_user_agent(request: HttpRequest) -> str:
    """The browser's User-Agent as it can be stored: cleaned (a NUL in it failed the INSERT) and cut to the column."""
    return clean_text(request.headers.get("User-Agent", ""))[:500]


class SessionMiddleware(DjangoSessionMiddleware):
    """Django's session middleware, handing the store the client's IP and browser."""

    def process_request(self, request: HttpRequest) -> None:
        session_key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
        request.session = self.SessionStore(session_key, ip=client_ip(request), user_agent=client_user_agent(request))


# Seen-times are written at most this often, so browsing costs no extra write per request.
LAST_SEEN_INTERVAL_SECONDS = 300


def last_seen_middleware(get_response: Callable) -> Callable:
    """Keep Session.last_seen_at and User.last_active_at roughly current (for the Sessions page, guest purge)."""
    from accounts.models import User

    def middleware(request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        if session is not None and session.session_key:
            user_id = session.get(SESSION_KEY)
            now = time.time()
            if user_id and now - session.get("_last_seen", 0) >= LAST_SEEN_INTERVAL_SECONDS:
                session["_last_seen"] = now  # saving the session stamps last_seen_at
                User.objects.filter(id=user_id).update(last_active_at=timezone.now())
        return get_response(request)

    return middleware


# allauth's pages a guest may open: becoming a registered user, or leaving. Everything else there manages an account
# (email addresses, password, two-factor) that a guest does not have: done as a guest, it gave the guest an email
# and a password while it stayed a guest (20 messages a day, purged when idle), and signing up with that address
# was then refused as taken.
GUEST_ACCOUNT_PAGES = {
    "account_signup", "account_login", "account_logout", "account_confirm_email", "account_email_verification_sent",
    "account_reset_password", "account_reset_password_done", "account_reset_password_from_key",
    "account_reset_password_from_key_done",
}  # fmt: skip


def guest_account_pages_middleware(get_response: Callable) -> Callable:
    """Send a guest who opens an account-management page of allauth to sign-up instead."""
    from django.contrib import messages
    from django.shortcuts import redirect
    from django.urls import Resolver404, resolve

    def middleware(request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/accounts/") and request.user.is_authenticated and request.user.is_guest:
            try:
                name = resolve(request.path_info).url_name
            except Resolver404:
                name = None
            if name is not None and name not in GUEST_ACCOUNT_PAGES:
                messages.info(request, "Sign up first: email addresses, passwords and two-factor need an account.")
                return redirect("account_signup")
        return get_response(request)

    return middleware
