"""A fixed-window rate limiter on the shared cache (Redis), for endpoints allauth does not cover."""

from __future__ import annotations

import time

from django.core.cache import cache


def hit(*, scope: str, key: str, limit: int, window_seconds: int) -> tuple[bool, int]:
    """Count one attempt; return (allowed, seconds until the window resets)."""
    window = int(time.time() // window_seconds)
    cache_key = f"ratelimit:{scope}:{key}:{window}"
    # add() is atomic: only the first attempt in a window creates the counter with its expiry.
    cache.add(cache_key, 0, timeout=window_seconds + 1)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, timeout=window_seconds + 1)
        count = 1
    retry_after = window_seconds - int(time.time() % window_seconds)
    return count <= limit, retry_after


def peek(*, scope: str, key: str, window_seconds: int) -> int:
    window = int(time.time() // window_seconds)
    return cache.get(f"ratelimit:{scope}:{key}:{window}", 0)
