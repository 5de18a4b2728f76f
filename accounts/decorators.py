from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect


def registered_required(view: Callable) -> Callable:
    """Signed in with a real account: guests are sent to sign up, anonymous visitors to log in."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if request.user.is_guest:
            messages.info(
                request,
                "Sign up to use this: a guest can chat and set preferences, but documents, API keys and the other "
                "settings need an account.",
            )
            return redirect("account_signup")
        return view(request, *args, **kwargs)

    return wrapper
