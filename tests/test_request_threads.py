"""Requests' synchronous code runs on reused threads (chatbot/threads.py): no thread started per request, and still
one thread per request at a time (issue 19: each start stalled the event loop and every streaming reply)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading

from asgiref.sync import ThreadSensitiveContext, sync_to_async

from chatbot.threads import in_request_thread
from tests.processes import BASE_DIR, child_environment


def django_like(seen: list[tuple[int, str]], index: int, overlap: asyncio.Barrier | None = None):
    """An ASGI app that, like Django's handler, enters its own ThreadSensitiveContext and calls sync code twice."""

    async def application(scope, receive, send) -> None:
        async with ThreadSensitiveContext():
            seen.append((index, await sync_to_async(lambda: threading.current_thread().name)()))
            if overlap is not None:
                await overlap.wait()  # every request is inside its thread-sensitive block at once
            seen.append((index, await sync_to_async(lambda: threading.current_thread().name)()))

    return application


def test_sequential_requests_reuse_one_thread_and_concurrent_ones_each_have_their_own():
    async def scenario():
        sequential: list[tuple[int, str]] = []
        for index in range(4):
            await in_request_thread(django_like(sequential, index), {}, None, None)
        concurrent: list[tuple[int, str]] = []
        overlap = asyncio.Barrier(3)
        await asyncio.gather(
            *(in_request_thread(django_like(concurrent, index, overlap), {}, None, None) for index in range(3))
        )
        return sequential, concurrent

    sequential, concurrent = asyncio.run(scenario())

    assert len({name for _, name in sequential}) == 1
    threads = {index: {name for i, name in concurrent if i == index} for index in range(3)}
    assert all(len(names) == 1 for names in threads.values()), "a request's sync calls stay on one thread"
    assert len(set().union(*threads.values())) == 3, "requests under way at once never share a thread"


PROBE = """
import asyncio, json, sys, threading

started = []


def first_call(frame, event, arg):  # runs in every thread started from now on, once
    started.append(threading.current_thread().name)
    sys.setprofile(None)


import chatbot.asgi

threading.setprofile(first_call)


async def get(path):
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"127.0.0.1")], "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80)}
    sent = []
    bodies = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive():
        if bodies:
            return bodies.pop()
        await asyncio.Event().wait()  # the client stays: Django stops listening once it has answered

    async def send(message):
        sent.append(message)

    await chatbot.asgi.application(scope, receive, send)
    return sent[0]["status"]


async def main():
    return [await get("/accounts/login/") for _ in range(5)]


statuses = asyncio.run(main())
print(json.dumps({"statuses": statuses, "started": started}))
"""


def test_the_app_starts_no_thread_per_request(db):
    result = subprocess.run(
        [sys.executable, "-c", PROBE], env=child_environment(), cwd=BASE_DIR, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    probe = json.loads(result.stdout.splitlines()[-1])

    assert probe["statuses"] == [200] * 5
    # One request thread for all five (asgiref alone started two per request: the worker and one to join it).
    assert len([name for name in probe["started"] if not name.startswith("asyncio")]) == 1, probe["started"]
