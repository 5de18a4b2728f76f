"""Admission control for one web process: at most REQUEST_SLOTS requests run Django's synchronous code at once.

Every request runs its middleware and views in a worker thread, and every thread of the process shares one GIL
with the event loop that streams the replies. Under a burst (a hundred chats started within two seconds) some
twenty request threads were runnable at once: the loop got a twentieth of the GIL, and every stream froze for up
to a second between text events. Admitted a few at a time, the requests queue on the loop, where waiting costs
nothing; the loop keeps a large share of the GIL, so the replies already streaming keep flowing; and requests
finish in arrival order instead of all late together (the same work, served first come first served, has a lower
mean time to first token than shared out evenly).

A request gives its slot back when its response starts (an event stream then runs on the loop, slot-free), or
after LEASE_SECONDS, so a slow request (a key test waiting on a provider, an upload arriving slowly) delays the
queue by that much at most. Some requests skip the queue: a reply's event stream (the browser opens it right after
its POST was served: queued again behind the POSTs that arrived meanwhile, a chat waited twice for its first token;
its synchronous part is one owner check), and health checks and metrics (a probe must not time out behind a burst).
"""

from __future__ import annotations

import asyncio
import re

from chatbot.loops import loop_singleton

LEASE_SECONDS = 0.5
UNQUEUED = re.compile(r"^/(?:healthz|readyz|metrics)\b|/streams/[0-9a-f-]+/events/$")


class AdmissionLimiter:
    def __init__(self, app, *, slots: int) -> None:
        self.app = app
        self.slots = slots

    async def __call__(self, scope, receive, send) -> None:
        if self.slots <= 0 or scope["type"] != "http" or UNQUEUED.search(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        semaphore = loop_singleton("request-slots", lambda: asyncio.Semaphore(self.slots))
        await semaphore.acquire()
        held = True

        def release() -> None:
            nonlocal held
            if held:
                held = False
                semaphore.release()

        lease = asyncio.get_running_loop().call_later(LEASE_SECONDS, release)

        async def send_and_release(message) -> None:
            if message["type"] == "http.response.start":
                release()
            await send(message)

        try:
            await self.app(scope, receive, send_and_release)
        finally:
            lease.cancel()
            release()
