from __future__ import annotations

from django.http import HttpRequest


def preferences(request: HttpRequest) -> dict:
    """The signed-in user's theme, so every page renders in it from the first byte (no flash)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"theme": "system"}
    from accounts.models import Preferences

    theme = Preferences.objects.filter(user=user).values_list("theme", flat=True).first()
    return {"theme": theme or "system"}
