from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject


def preferences(request: HttpRequest) -> dict:
    """The signed-in user's theme, so every page renders in it from the first byte (no flash).

    Lazy: fragments never show it, so they never query it.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"theme": "system"}

    def theme() -> str:
        from accounts.selectors import preferences_of

        row = preferences_of(user)
        return (row.theme if row is not None else "") or "system"

    return {"theme": SimpleLazyObject(theme)}
