"""Objects that live once per asyncio event loop (connection pools, background tasks).

Keyed by the loop object itself, held, so a new loop (each test's, a restarted server's) never inherits a dead
loop's client or task because it happens to get the same id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

logger = logging.getLogger(__name__)

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


def on_loop_end(cleanup: Callable[[], Awaitable[None]]) -> None:
    """Have `cleanup` awaited when the running loop ends under asyncio.run, then forget the loop's objects.

    Short-lived loops (asgiref's for an async view called from synchronous code, as the test client does) made
    connection pools that nobody closed: aiohttp warned "Unclosed client session" at the interpreter's exit, and each
    such loop stayed in `_per_loop` with its pools. asyncio.run closes the async generators still open on its loop
    before closing it: the one hook into a loop's end, so a generator waits there.
    """
    cleanups = loop_singleton("loop-end-cleanups", _watch_loop_end)
    if cleanup not in cleanups:
        cleanups.append(cleanup)


def _watch_loop_end() -> list:
    loop = asyncio.get_running_loop()
    cleanups: list[Callable[[], Awaitable[None]]] = []

    async def watch():
        try:
            yield
        finally:
            for cleanup in cleanups:
                try:
                    await cleanup()
                except Exception:
                    logger.exception("cleanup at the end of an event loop failed")
            for key in [key for key, entry in _per_loop.items() if entry[0] is loop]:
                _per_loop.pop(key, None)

    async def first_step(generator) -> None:
        await generator.__anext__()  # registers it with the loop, which holds it weakly: held in _per_loop below

    generator = watch()
    _per_loop[("loop-end-watch", id(loop))] = (loop, (generator, loop.create_task(first_step(generator))))
    return cleanups
