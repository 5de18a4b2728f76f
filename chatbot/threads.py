"""Worker threads for requests' synchronous code, reused from one request to the next.

Django runs each ASGI request in asgiref's `ThreadSensitiveContext()`, and asgiref gives every such context a new
one-thread executor: its thread is started on the request's first synchronous call, and a second thread is started
at the end to join it. Starting a thread waits for the new thread to take the GIL, so on a busy server each start
stalled the event loop, and every reply streaming from it (bench/peers.py, docs/decisions.md: about 4 thread
starts per chat, the event loop's largest lock wait under 100 conversations).

Here a request enters a context with a one-thread executor taken from an idle list and given back after it, as a
threaded WSGI server reuses its threads; Django's own context inside it then does nothing (only the outermost
one counts). One request at a time per executor, so a request's sync code still runs on one thread of its own.
"""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext

IDLE_MAX = 64  # threads kept between bursts, per process; more are started when needed and let go after

_idle: list[ThreadPoolExecutor] = []  # touched only from the event loop's thread
_numbers = itertools.count(1)  # threads named request-1, request-2, ... (one per executor)


async def in_request_thread(application, scope, receive, send) -> None:
    """Call an ASGI application with its thread-sensitive work on a reused thread of its own."""
    executor = _idle.pop() if _idle else ThreadPoolExecutor(1, thread_name_prefix=f"request-{next(_numbers)}")
    try:
        async with ThreadSensitiveContext(executor=executor):
            await application(scope, receive, send)
    finally:
        # Its sync calls are done (or, if the client went away mid-call, the next request queues behind it).
        if len(_idle) < IDLE_MAX:
            _idle.append(executor)
        else:
            executor.shutdown(wait=False)
