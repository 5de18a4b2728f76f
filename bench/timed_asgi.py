"""The app wrapped for the chat benchmark: every response says how long the server held it (x-bench-server-ms)."""

from __future__ import annotations

import os
import time

from chatbot.asgi import application as django_application

_monitor = None
_profile = None
_gc_report = None
_process_started = time.perf_counter()


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
    if scope["type"] == "lifespan":

        async def receive_and_dump():
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                if _profile is not None:
                    _profile.disable()
                    _profile.dump_stats(os.environ["BENCH_CPROFILE"])
                if _gc_report is not None:
                    _gc_report()
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

# Garbage collector pauses (BENCH_GC=1): each generation's count, total and longest pause, printed at shutdown.
if os.environ.get("BENCH_GC"):
    import gc
    import sys

    _gc_started: list[float] = []
    _gc_pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    _gc_collected = {0: 0, 1: 0, 2: 0}

    def _gc_timer(phase, info):
        if phase == "start":
            _gc_started[:] = [time.perf_counter()]
        elif _gc_started:
            stopped = time.perf_counter()
            pause = stopped - _gc_started[0]
            _gc_pauses[info["generation"]].append(pause)
            _gc_collected[info["generation"]] += info["collected"]
            if info["generation"] == 2:
                print(f"GC gen2 at {stopped - _process_started:.1f} s: {pause * 1000:.1f} ms, {len(gc.get_objects())} "
                      f"objects tracked, {gc.get_freeze_count()} frozen", file=sys.stderr)  # fmt: skip

    gc.callbacks.append(_gc_timer)

    if os.environ.get("BENCH_GC") == "types":  # keep what the collector frees, to count it by type at shutdown
        gc.set_debug(gc.DEBUG_SAVEALL)

    def _gc_report():
        if gc.get_debug() & gc.DEBUG_SAVEALL:
            import collections

            gc.collect()
            kinds = collections.Counter(type(thing).__qualname__ for thing in gc.garbage)
            print(f"GC freed by type: {kinds.most_common(25)}", file=sys.stderr)
        for generation, pauses in _gc_pauses.items():
            if pauses:
                freed = _gc_collected[generation]
                print(f"GC gen{generation}: {len(pauses)} runs, {sum(pauses) * 1000:.0f} ms in all, longest "
                      f"{max(pauses) * 1000:.1f} ms, {freed} objects freed", file=sys.stderr)  # fmt: skip
