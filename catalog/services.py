"""Writes about models: a user's favourites (starred in the composer's model menu)."""

from __future__ import annotations

from django.db import transaction

from accounts.models import User

MAX_FAVOURITES = 50


@transaction.atomic
def favourite_model_toggle(*, user: User, key: str) -> bool:
    """Star or unstar a model (its menu key) for this user; returns whether it is a favourite now. The row is
    locked so two tabs starring at once both count."""
    locked = User.objects.select_for_update().only("id", "favorite_models").get(id=user.id)
    favourites = [str(value) for value in (locked.favorite_models or []) if isinstance(value, str)]
    if key in favourites:
        favourites.remove(key)
        starred = False
    else:
        favourites = [*favourites, key][-MAX_FAVOURITES:]
        starred = True
    User.objects.filter(id=user.id).update(favorite_models=favourites)
    user.favorite_models = favourites
    return starred
