"""Objects that live once per asyncio event loop (connection pools, background tasks).

Keyed by the loop object itself, held, so a new loop (each test's, a restarted server's) never inherits a dead
loop's client or task because it happens to get the same id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

_per_loop: dict[tuple[str, int], tuple[asyncio.AbstractEventLoop, object]] = {}


def loop_singleton(name: str, factory: Callable[[], T]) -> T:
    """The running loop's `name` object, made by `factory` the first time."""
    loop = asyncio.get_running_loop()
    entry = _per_loop.get((name, id(loop)))
    if entry is None or entry[0] is not loop:
        entry = _per_loop[(name, id(loop))] = (loop, factory())
    return entry[1]


def loop_singleton_pop(name: str) -> object | None:
    """Forget the running loop's `name` object and return it (to close it), or None if it was never made."""
    loop = asyncio.get_running_loop()
    entry = _per_loop.pop((name, id(loop)), None)
    return entry[1] if entry is not None and entry[0] is loop else None
