"""Admission control (chatbot/admission.py): a few requests at a time run Django's synchronous code; the others
wait on the event loop, in order; event streams and probes do not wait; a slow request gives its slot back."""

from __future__ import annotations

import asyncio

import pytest

from chatbot import admission
from chatbot.admission import AdmissionLimiter


class RecordingApp:
    """An ASGI app whose requests each wait for `release[path]` before starting their response."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.release: dict[str, asyncio.Event] = {}

    async def __call__(self, scope, receive, send) -> None:
        path = scope["path"]
        self.started.append(path)
        await self.release.setdefault(path, asyncio.Event()).wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await asyncio.sleep(0.05)  # the body: no longer holding a slot
        await send({"type": "http.response.body", "body": b""})


async def request(app, path: str) -> None:
    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message) -> None:
        pass

    await app({"type": "http", "path": path}, receive, send)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_requests_beyond_the_slots_wait_in_order_until_a_response_starts():
    async def scenario() -> None:
        inner = RecordingApp()
        app = AdmissionLimiter(inner, slots=2)
        tasks = [asyncio.create_task(request(app, f"/c/{n}/")) for n in range(4)]
        await settle()
        assert inner.started == ["/c/0/", "/c/1/"]
        inner.release.setdefault("/c/1/", asyncio.Event()).set()  # its response starts: its slot is free
        await settle()
        assert inner.started == ["/c/0/", "/c/1/", "/c/2/"]
        for n in (0, 2, 3):
            inner.release.setdefault(f"/c/{n}/", asyncio.Event()).set()
        await asyncio.wait_for(asyncio.gather(*tasks), 2)
        assert inner.started == ["/c/0/", "/c/1/", "/c/2/", "/c/3/"]

    asyncio.run(scenario())


def test_event_streams_and_probes_do_not_wait_behind_a_burst():
    async def scenario() -> None:
        inner = RecordingApp()
        app = AdmissionLimiter(inner, slots=1)
        busy = asyncio.create_task(request(app, "/c/new/"))
        await settle()
        paths = ["/c/streams/7d3c2a5e-0b1f-4c6e-9a7b-2f5d8e1c4b3a/events/", "/healthz", "/readyz", "/metrics"]
        others = [asyncio.create_task(request(app, path)) for path in [*paths, "/c/queued/"]]
        await settle()
        assert inner.started == ["/c/new/", *paths]
        for event in inner.release.values():
            event.set()
        inner.release.setdefault("/c/queued/", asyncio.Event()).set()
        await asyncio.wait_for(asyncio.gather(busy, *others), 2)

    asyncio.run(scenario())


def test_a_slow_request_gives_its_slot_back_after_the_lease(monkeypatch):
    monkeypatch.setattr(admission, "LEASE_SECONDS", 0.05)

    async def scenario() -> None:
        inner = RecordingApp()
        app = AdmissionLimiter(inner, slots=1)
        slow = asyncio.create_task(request(app, "/settings/keys/1/test/"))  # waits on a provider, say
        queued = asyncio.create_task(request(app, "/c/next/"))
        await settle()
        assert inner.started == ["/settings/keys/1/test/"]
        await asyncio.sleep(0.15)
        assert inner.started == ["/settings/keys/1/test/", "/c/next/"], "the queue waited for the slow request"
        for event in inner.release.values():
            event.set()
        await asyncio.wait_for(asyncio.gather(slow, queued), 2)

    asyncio.run(scenario())


def test_a_request_that_fails_gives_its_slot_back():
    async def failing(scope, receive, send) -> None:
        raise RuntimeError("boom")

    async def scenario() -> None:
        app = AdmissionLimiter(failing, slots=1)
        for _ in range(3):  # each would wait forever for a slot never given back
            with pytest.raises(RuntimeError):
                await asyncio.wait_for(request(app, "/c/"), 1)

    asyncio.run(scenario())
