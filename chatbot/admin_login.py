"""The admin login, behind a per-IP limit on failed attempts (allauth's limits cover only its own forms)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from accounts.middleware import client_ip
from chatbot.ratelimit import hit, peek

SCOPE = "admin-login-failed"


def rate_limited_admin_login(request: HttpRequest) -> HttpResponse:
    ip = client_ip(request) or "unknown"
    window = settings.ADMIN_LOGIN_RATE_WINDOW
    if request.method == "POST" and peek(scope=SCOPE, key=ip, window_seconds=window) >= settings.ADMIN_LOGIN_RATE_LIMIT:
        response = HttpResponse(
            "Too many failed sign-in attempts from your address. Try again in a few minutes.",
            status=429,
            content_type="text/plain",
        )
        response["Retry-After"] = str(window)
        return response
    response = admin.site.login(request)
    failed = request.method == "POST" and not request.user.is_authenticated
    if failed:
        hit(scope=SCOPE, key=ip, limit=settings.ADMIN_LOGIN_RATE_LIMIT, window_seconds=window)
    return response
