from __future__ import annotations

from django.conf import settings
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """The client's address; behind a trusted proxy, the last hop it added to X-Forwarded-For."""
    if settings.TRUSTED_PROXY_COUNT:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part]
        if len(forwarded) >= settings.TRUSTED_PROXY_COUNT:
            return forwarded[-settings.TRUSTED_PROXY_COUNT]
    return request.META.get("REMOTE_ADDR") or None


class SessionMiddleware(DjangoSessionMiddleware):
    """Django's session middleware, handing the store the client's IP and browser."""

    def process_request(self, request: HttpRequest) -> None:
        session_key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
        request.session = self.SessionStore(
            session_key, ip=client_ip(request), user_agent=request.headers.get("User-Agent", "")
        )
