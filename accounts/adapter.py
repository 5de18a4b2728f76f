from __future__ import annotations

from typing import Any

from allauth.account import app_settings
from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.internal import ratelimit
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse

from accounts.devices import known_account_ids, remember_device
from accounts.models import User


class AccountAdapter(DefaultAccountAdapter):
    def new_user(self, request: HttpRequest) -> User:
        # A guest who signs up becomes that user: same id, so their conversations and documents stay theirs.
        current = getattr(request, "user", None)
        if current is not None and current.is_authenticated and current.is_guest:
            return current
        return super().new_user(request)

    def save_user(self, request: HttpRequest, user: User, form, commit: bool = True) -> User:
        was_guest = user.is_guest and user.pk is not None
        user.is_guest = False
        user = super().save_user(request, user, form, commit=commit)
        if was_guest:
            # Until the new email address is confirmed, the session must not act as the registered account.
            logout(request)
        return user

    def is_safe_url(self, url: str | None) -> bool:
        """allauth's check, but a `next` that is no URL at all ("http://[", an unclosed IPv6 host) is unsafe, not
        a 500: allauth parses it before Django's check, which would have refused it."""
        try:
            return super().is_safe_url(url)
        except ValueError:
            return False

    def pre_authenticate(self, request: HttpRequest, **credentials: Any) -> None:
        """allauth's limits on failed sign-ins, but a browser the account signed in from before is held to the
        per-address limit only: a stranger's wrong passwords cannot lock the owner out of their own devices."""
        login = (credentials.get("email") or credentials.get("username") or "").strip()
        known = known_account_ids(request)  # most sign-ins come from no known device: no query for those
        user = User.objects.filter(email__iexact=login, id__in=known).only("id").first() if login and known else None
        if user is None:
            super().pre_authenticate(request, **credentials)
            return
        rates = app_settings.RATE_LIMITS.get("login_failed") or ""
        per_address = ",".join(rate for rate in rates.split(",") if rate.strip().endswith("/ip"))
        self._login_failed_rl_usage = ratelimit.consume(
            request, app="allauth.account", action="login_failed", config={"login_failed": per_address}
        )
        if not self._login_failed_rl_usage:
            raise self.validation_error("too_many_login_attempts")

    def post_login(self, request: HttpRequest, user: User, **kwargs: Any) -> HttpResponse:
        new_device = str(user.pk) not in known_account_ids(request)
        response = super().post_login(request, user, **kwargs)
        remember_device(request, response, user_id=user.pk)
        if new_device and not kwargs.get("signup"):
            # Read before this browser is remembered. A sign-up is the account's first device: nothing to report.
            from django.urls import reverse

            from accounts.middleware import client_ip, client_user_agent
            from accounts.notifications import send_security_email

            context = {
                "ip": client_ip(request),
                "user_agent": client_user_agent(request),
                "sessions_url": request.build_absolute_uri(reverse("accounts:sessions")),
            }
            send_security_email(user=user, kind="new_device_sign_in", context=context)
        return response
