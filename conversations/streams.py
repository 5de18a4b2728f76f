"""Reply streams in Redis: the generation appends deltas, any web process relays them as Server-Sent Events.

Keys, per Stream row id:
  chat:stream:<id>        a Redis stream of entries {t: "delta", x: text} ... then {t: "done", s: status, h: html}
  chat:stream:<id>:stop   set by the Stop button; the generation checks it between deltas
  chat:stream:<id>:alive  refreshed by the running generation; the sweep treats its absence as a dead process
Entry ids are the SSE event ids, so a reconnecting browser (Last-Event-ID) resumes with no gap or duplicate.
"""

from __future__ import annotations

import asyncio
import html

import redis.asyncio as aioredis
from django.conf import settings

STREAM_TTL_SECONDS = 3600
ALIVE_TTL_SECONDS = 30
KEEPALIVE_SECONDS = 15

_clients: dict[int, aioredis.Redis] = {}


def redis_client() -> aioredis.Redis:
    """One async client (and connection pool) per event loop."""
    loop_id = id(asyncio.get_running_loop())
    client = _clients.get(loop_id)
    if client is None:
        client = _clients[loop_id] = aioredis.Redis.from_url(
            settings.REDIS_URL, decode_responses=True, max_connections=2000
        )
    return client


def stream_key(stream_id) -> str:
    return f"chat:stream:{stream_id}"


def stop_key(stream_id) -> str:
    return f"chat:stream:{stream_id}:stop"


def alive_key(stream_id) -> str:
    return f"chat:stream:{stream_id}:alive"


async def request_stop(stream_id) -> None:
    await redis_client().set(stop_key(stream_id), "1", ex=STREAM_TTL_SECONDS)


def sse_event(event: str, data: str, event_id: str | None = None) -> bytes:
    """One Server-Sent Event; multi-line data becomes several data: lines, as the format requires."""
    lines = []
    if event_id:
        lines.append(f"id: {event_id}")
    lines.append(f"event: {event}")
    lines.extend(f"data: {line}" for line in data.split("\n"))
    return ("\n".join(lines) + "\n\n").encode()


def delta_html(text: str) -> str:
    # Deltas are plain text shown in a pre-wrap element until the final rendered markdown replaces them.
    return html.escape(text)


async def relay(stream_id, *, last_event_id: str = "0-0", block_ms: int = KEEPALIVE_SECONDS * 1000):
    """Yield SSE bytes for a stream from after last_event_id until its done entry."""
    client = redis_client()
    key = stream_key(stream_id)
    cursor = last_event_id or "0-0"
    yield b"retry: 1000\n\n"
    while True:
        response = await client.xread({key: cursor}, block=block_ms, count=500)
        if not response:
            yield b": keep-alive\n\n"  # also lets the server notice a client that went away
            continue
        for entry_id, fields in response[0][1]:
            cursor = entry_id
            if fields.get("t") == "delta":
                yield sse_event("delta", delta_html(fields.get("x", "")), entry_id)
            elif fields.get("t") == "done":
                yield sse_event("done", fields.get("h", ""), entry_id)
                return


def delta_text(entries) -> str:
    """The reply text carried by a stream's entries (from XRANGE or XREAD)."""
    return "".join(fields.get("x", "") for _, fields in entries if fields.get("t") == "delta")


def done_payload(*, status: str, html_fragment: str) -> dict:
    return {"t": "done", "s": status, "h": html_fragment}
