"""The app wrapped for the chat benchmark: every response says how long the server held it (x-bench-server-ms)."""

from __future__ import annotations

import os
import time

from chatbot.asgi import application as django_application

_monitor = None
_profile = None


async def _lag_monitor():
    """Prints, each second, how late a 5 ms sleep woke up (BENCH_LAG=1): the event loop's own backlog."""
    import asyncio
    import sys
    import threading

    while True:
        lags = []
        began = time.perf_counter()
        while time.perf_counter() - began < 1:
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            lags.append(time.perf_counter() - before - 0.005)
        lags.sort()
        print(
            f"LAG p50 {lags[len(lags) // 2] * 1000:.1f} ms  max {lags[-1] * 1000:.1f} ms  "
            f"threads {threading.active_count()}",
            file=sys.stderr,
        )


async def application(scope, receive, send):
    global _monitor
    if _monitor is None and os.environ.get("BENCH_LAG"):
        import asyncio

        _monitor = asyncio.get_running_loop().create_task(_lag_monitor())
    if scope["type"] == "lifespan" and _profile is not None:

        async def receive_and_dump():
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                _profile.disable()
                _profile.dump_stats(os.environ["BENCH_CPROFILE"])
            return message

        return await django_application(scope, receive_and_dump, send)
    if scope["type"] != "http":
        return await django_application(scope, receive, send)
    started = time.perf_counter()
    scope["bench_started"] = started

    async def timed_send(message):
        if message["type"] == "http.response.start":
            elapsed = f"{(time.perf_counter() - started) * 1000:.1f}".encode()
            message = {**message, "headers": [*message.get("headers", []), (b"x-bench-server-ms", elapsed)]}
        await send(message)

    return await django_application(scope, receive, timed_send)


if os.environ.get("BENCH_SWITCH_INTERVAL"):  # to compare with the app's own setting (chatbot/asgi.py)
    import sys

    sys.setswitchinterval(float(os.environ["BENCH_SWITCH_INTERVAL"]))

# The event loop's thread, deterministically (one worker; written when the server stops).
if os.environ.get("BENCH_CPROFILE"):
    import cProfile

    _profile = cProfile.Profile()
    _profile.enable()
