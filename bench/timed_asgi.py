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


# A timeline of each POST (BENCH_TRACE=1): milliseconds from the request's arrival to each SQL statement, the
# session's read, the send, the prompt, the provider's request and the response's start, printed to stderr.
if os.environ.get("BENCH_TRACE"):
    import asyncio
    import contextvars
    import functools
    import inspect
    import sys

    _trace: contextvars.ContextVar = contextvars.ContextVar("bench_trace", default=None)

    _latest: list = []  # the last POST's marks: the reply's own task may run in a context of its own

    def _mark(label: str) -> None:
        marks = _trace.get()
        if marks is None and _latest and len(_latest[0]) < 400:
            marks = _latest[0]
        if marks is not None:
            marks.append((time.perf_counter(), label))

    def _traced(owner, name: str, label: str) -> None:
        original = getattr(owner, name)
        if inspect.iscoroutinefunction(original):

            @functools.wraps(original)
            async def wrapper(*args, **kwargs):
                _mark(f"{label} >")
                try:
                    return await original(*args, **kwargs)
                finally:
                    _mark(f"{label} <")
        else:

            @functools.wraps(original)
            def wrapper(*args, **kwargs):
                _mark(f"{label} >")
                try:
                    return original(*args, **kwargs)
                finally:
                    _mark(f"{label} <")

        setattr(owner, name, wrapper)

    import aiohttp
    from django.contrib.sessions.backends.db import SessionStore
    from django.db.backends.utils import CursorWrapper

    import conversations.views as _views
    from conversations import generation as _generation
    from conversations import services as _services

    _original_execute = CursorWrapper._execute

    def _execute(self, sql, *args, **kwargs):
        _mark("sql > " + " ".join(str(sql).split())[:70])
        try:
            return _original_execute(self, sql, *args, **kwargs)
        finally:
            _mark("sql <")

    CursorWrapper._execute = _execute
    _traced(SessionStore, "load", "session")
    _traced(_services, "message_send", "message_send")
    _traced(_views, "prepare_generation", "prepare")
    _traced(_views, "_new_turn_response", "render")
    _traced(_views, "start_generation", "start_generation")
    _traced(_generation, "resolve_provider", "resolve_provider")
    _traced(aiohttp.ClientSession, "_request", "provider request")
    import openai._base_client

    from conversations import streams as _streams

    _traced(openai._base_client.AsyncAPIClient, "request", "openai request")
    _traced(_streams.Publisher, "add", "publish")
    _traced(_streams.Listener, "deliver", "deliver")
    _untraced_application = application

    async def application(scope, receive, send):  # the traced wrapper of the one above
        if scope["type"] != "http" or scope["method"] != "POST":
            return await _untraced_application(scope, receive, send)
        marks = [(time.perf_counter(), "arrived")]
        _trace.set(marks)
        _latest[:] = [marks]

        async def traced_send(message):
            if message["type"] == "http.response.start":
                marks.append((time.perf_counter(), "response start"))
            await send(message)

        await _untraced_application(scope, receive, traced_send)
        await asyncio.sleep(0.15)  # the reply's provider request, started meanwhile
        start, previous = marks[0][0], marks[0][0]
        lines = []
        for at, label in marks:
            lines.append(f"{(at - start) * 1000:7.2f} (+{(at - previous) * 1000:5.2f}) {label}")
            previous = at
        print("TRACE " + scope["path"] + "\n" + "\n".join(lines), file=sys.stderr)
