from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.contrib.auth import logout
from django.http import HttpRequest

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
