"""Reply streams in Redis: the generation appends deltas, any web process relays them as Server-Sent Events.

Keys, per Stream row id:
  chat:stream:<id>        a Redis stream of entries {t: "delta", x: text} ... then {t: "done", s: status, h: html};
                          a reply's thinking, when it has some, comes as {t: "thinking", x: text} entries (SSE event
                          "thinking"), kept apart from the answer's deltas
  chat:stream:<id>:stop   set by the Stop button; the generation checks it between deltas
  chat:stream:<id>:alive  refreshed by the running generation, dropped while it waits for an approval; the sweep
                          treats its absence as a dead process unless the reply is waiting
Entry ids are the SSE event ids, so a reconnecting browser (Last-Event-ID) resumes with no gap or duplicate.

Redis round trips are shared per event loop, so a hundred replies streaming at once cost a few commands per tick
rather than a few per token: an `Outbox` sends every running reply's buffered text in one pipeline per tick
(FLUSH_SECONDS, longer under load), and one `StreamReader` blocks in a single XREAD over every stream somebody is
watching.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import math
import re
import time
from collections.abc import Callable

import redis.asyncio as aioredis
from django.conf import settings
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from chatbot.loops import loop_singleton, loop_singleton_pop

logger = logging.getLogger(__name__)

STREAM_TTL_SECONDS = 3600
ALIVE_TTL_SECONDS = 30
ALIVE_REFRESH_SECONDS = 10
KEEPALIVE_SECONDS = 15
FLUSH_SECONDS = 0.02
# The tick lengthens with the replies streaming from this loop: 2 ms per reply, from 20 ms (10 replies) to 40 ms.
# Each tick's entries cost the same per reply whatever their length (Redis, the relay, the SSE write, the browser's
# parse); at a hundred replies over two workers a 40 ms tick cut the web processes' CPU by a sixth and the events by
# a third, and the gap between events p95 did not grow (its tail is the machine's contention, not the tick).
FLUSH_SECONDS_PER_REPLY = 0.002
MAX_FLUSH_SECONDS = 0.04
STOP_CHECK_SECONDS = 0.25


def redis_client() -> aioredis.Redis:
    """One async client (and connection pool) per event loop."""
    return loop_singleton(
        "redis-client",
        lambda: aioredis.Redis.from_url(settings.REDIS_URL, decode_responses=True, max_connections=2000),
    )


async def close_clients() -> None:
    """Stop this loop's reader and outbox and close its Redis connections (server shutdown)."""
    for name in ("chat-stream-reader", "chat-outbox"):
        worker = loop_singleton_pop(name)
        if worker is not None and worker.task is not None:
            worker.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await worker.task
    client = loop_singleton_pop("redis-client")
    if client is not None:
        await client.aclose()


def stream_key(stream_id) -> str:
    return f"chat:stream:{stream_id}"


def stop_key(stream_id) -> str:
    return f"chat:stream:{stream_id}:stop"


def alive_key(stream_id) -> str:
    return f"chat:stream:{stream_id}:alive"


def request_stops(stream_ids) -> None:
    """Set the Stop flags of replies from synchronous code (a deleted conversation's): each generation sees its flag
    at its next stop check, wherever it runs, and ends."""
    import redis

    if not stream_ids:
        return
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        pipe = client.pipeline(transaction=False)
        for stream_id in stream_ids:
            pipe.set(stop_key(stream_id), "1", ex=STREAM_TTL_SECONDS)
        pipe.execute()
    finally:
        client.close()


async def request_stop(stream_id) -> None:
    await redis_client().set(stop_key(stream_id), "1", ex=STREAM_TTL_SECONDS)
    publisher = outbox().publishers.get(str(stream_id))
    if publisher is not None:  # generated in this process: no need to wait for the next stop check
        publisher.stop()


_SSE_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_SSE_FIELD_BREAK = re.compile(r"[\r\n\x00]")


def sse_event(event: str, data: str, event_id: str | None = None) -> bytes:
    """One Server-Sent Event that nothing in `data` can end early or forge.

    Browsers end a line at CRLF, a lone LF or a lone CR, so the data is split on all three and each piece sent as
    its own `data:` line (the browser joins them with LF). The event name and id are single-line fields: any line
    break (or NUL, which voids an id) is removed from them, so they cannot start another field or event.
    """
    lines = []
    if event_id:
        lines.append(f"id: {_SSE_FIELD_BREAK.sub('', event_id)}")
    lines.append(f"event: {_SSE_FIELD_BREAK.sub('', event)}")
    lines.extend(f"data: {line}" for line in _SSE_LINE_BREAK.split(data))
    return ("\n".join(lines) + "\n\n").encode()


_EVENT_ID = re.compile(r"(\d{1,20})-(\d{1,20})")


def stream_cursor(last_event_id: str | None) -> str:
    """The Redis stream id a browser resumes after (Last-Event-ID), or the start: anything else (a line break, a
    number Redis cannot hold) would make the shared XREAD of every stream on this process fail."""
    match = _EVENT_ID.fullmatch(last_event_id or "")
    if match is None or max(int(part) for part in match.groups()) >= 2**64:
        return "0-0"
    return last_event_id


async def has_entries_after(stream_id, cursor: str) -> bool:
    """Whether a stream's record holds any entry after `cursor` (a valid entry id, or "0-0")."""
    return bool(await redis_client().xrange(stream_key(stream_id), min=f"({cursor}", max="+", count=1))


def delta_html(text: str) -> str:
    # Deltas are plain text shown in a pre-wrap element until the final rendered markdown replaces them.
    return html.escape(text)


def delta_text(entries) -> str:
    """The reply text carried by a stream's entries (from XRANGE or XREAD)."""
    return "".join(fields.get("x", "") for _, fields in entries if fields.get("t") == "delta")


def thinking_text(entries) -> str:
    """The reply's thinking carried by a stream's entries (shown apart from the answer, saved in its parts)."""
    return "".join(fields.get("x", "") for _, fields in entries if fields.get("t") == "thinking")


def delta_payload(text: str) -> dict:
    return {"t": "delta", "x": text}


def thinking_payload(text: str) -> dict:
    return {"t": "thinking", "x": text}


def done_payload(*, status: str, html_fragment: str) -> dict:
    return {"t": "done", "s": status, "h": html_fragment}


def tool_payload(html_fragment: str) -> dict:
    """A tool call's card (chatbot/tools): shown, or replaced by its id, in the reply's bubble as it changes."""
    return {"t": "tool", "h": html_fragment}


# --- Writing: one pipeline per tick for every reply generated on this loop -------------------------------------


class Publisher:
    """One reply's way into its Redis stream. The first token is sent at once; later ones wait for the tick."""

    def __init__(self, stream_id, *, on_stop: Callable[[], None]) -> None:
        self.stream_id = str(stream_id)
        self.key = stream_key(stream_id)
        self.stop_key = stop_key(stream_id)
        self.alive_key = alive_key(stream_id)
        self.on_stop = on_stop
        self.buffer: list[str] = []
        self.thinking: list[str] = []  # sent before the buffer's text in a tick: thinking precedes the answer
        self.sent_any = False
        self.stopped = False
        self.alive_at = -math.inf
        self.outbox = outbox()
        self.outbox.add(self)

    async def add(self, text: str) -> None:
        if self.sent_any:
            self.buffer.append(text)
            self.outbox.schedule(self)
            return
        self.sent_any = True
        # Shielded: cancelling mid-command would leave a reply unread on a pooled connection.
        await asyncio.shield(self.outbox.client.xadd(self.key, delta_payload(text)))

    async def add_entry(self, payload: dict) -> None:
        """An entry other than text (a tool card), in order: after the text buffered until now."""
        await self.outbox.settled(self)
        pipe = self.outbox.client.pipeline(transaction=False)
        if self.buffer:
            pipe.xadd(self.key, delta_payload("".join(self.buffer)))
            self.buffer.clear()
            self.outbox.pending.pop(self, None)
        pipe.xadd(self.key, payload)
        self.sent_any = True
        await asyncio.shield(pipe.execute())

    async def add_thinking(self, text: str) -> None:
        if self.sent_any:
            self.thinking.append(text)
            self.outbox.schedule(self)
            return
        self.sent_any = True
        await asyncio.shield(self.outbox.client.xadd(self.key, thinking_payload(text)))

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            self.on_stop()

    async def finish(self, *, status: str, html_fragment: str) -> None:
        """The rest of the text, then the done entry; the stream expires later and the flags go now."""
        await self.drain()
        pipe = self.outbox.client.pipeline(transaction=False)
        pipe.xadd(self.key, done_payload(status=status, html_fragment=html_fragment))
        pipe.expire(self.key, STREAM_TTL_SECONDS)
        pipe.delete(self.alive_key, self.stop_key)
        await asyncio.shield(pipe.execute())

    async def park(self) -> None:
        """Send what is buffered and stop marking the reply alive: it waits for the user (a tool call's approval),
        nothing runs it until an answer resumes it, and its waiting state in the database tells the sweep so."""
        await self.drain()
        await asyncio.shield(self.outbox.client.delete(self.alive_key))

    async def drain(self) -> None:
        """Send what is buffered now and leave the outbox (in order: after any send already under way)."""
        self.outbox.remove(self)
        await self.outbox.settled(self)
        if self.thinking:
            thinking = "".join(self.thinking)
            self.thinking.clear()
            await asyncio.shield(self.outbox.client.xadd(self.key, thinking_payload(thinking)))
        if self.buffer:
            text = "".join(self.buffer)
            self.buffer.clear()
            await asyncio.shield(self.outbox.client.xadd(self.key, delta_payload(text)))


class Outbox:
    """Every running reply of an event loop: buffered text out once per FLUSH_SECONDS, Stop flags and alive
    marks read and refreshed for all of them together."""

    def __init__(self) -> None:
        self.client = redis_client()
        self.publishers: dict[str, Publisher] = {}
        self.pending: dict[Publisher, None] = {}  # ordered set of publishers with buffered text
        self.sending: tuple[set[Publisher], asyncio.Future] | None = None
        self.wakeup = asyncio.Event()
        self.task: asyncio.Task | None = None
        self.last_send = -math.inf
        self.last_stop_check = -math.inf

    def add(self, publisher: Publisher) -> None:
        self.publishers[publisher.stream_id] = publisher
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run(), name="chat-outbox")

    def remove(self, publisher: Publisher) -> None:
        self.publishers.pop(publisher.stream_id, None)
        self.pending.pop(publisher, None)

    def flush_seconds(self) -> float:
        """The tick: longer with more replies streaming (see FLUSH_SECONDS_PER_REPLY)."""
        return min(MAX_FLUSH_SECONDS, max(FLUSH_SECONDS, len(self.publishers) * FLUSH_SECONDS_PER_REPLY))

    def schedule(self, publisher: Publisher) -> None:
        if publisher in self.pending:
            return
        self.pending[publisher] = None
        if len(self.pending) == 1:
            self.wakeup.set()  # the loop may be waiting for the next stop check only

    async def settled(self, publisher: Publisher) -> None:
        if self.sending is not None and publisher in self.sending[0]:
            await asyncio.shield(self.sending[1])

    async def _run(self) -> None:
        while self.publishers:
            now = time.monotonic()
            send_at = self.last_send + self.flush_seconds() if self.pending else math.inf
            check_at = self.last_stop_check + STOP_CHECK_SECONDS
            at = min(send_at, check_at)
            if at > now:
                self.wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wakeup.wait(), at - now)
                continue
            try:
                await self._send(check=check_at <= now)
            except Exception:
                # Redis trouble: listeners miss that tick's text, but the reply carries on, is saved whole, and
                # its done entry brings the whole rendered reply to the page.
                logger.exception("sending reply deltas to Redis failed")
                await asyncio.sleep(FLUSH_SECONDS)

    async def _send(self, *, check: bool) -> None:
        now = time.monotonic()
        batch = [p for p in self.pending if p.buffer or p.thinking]
        self.pending.clear()
        pipe = self.client.pipeline(transaction=False)
        entries = 0
        for publisher in batch:
            if publisher.thinking:
                pipe.xadd(publisher.key, thinking_payload("".join(publisher.thinking)))
                publisher.thinking.clear()
                entries += 1
            if publisher.buffer:
                pipe.xadd(publisher.key, delta_payload("".join(publisher.buffer)))
                publisher.buffer.clear()
                entries += 1
        checks: list[tuple[Publisher, bool]] = []  # (publisher, its alive mark refreshed in this pipeline)
        for publisher in self.publishers.values() if check else ():
            pipe.exists(publisher.stop_key)
            refresh = now - publisher.alive_at >= ALIVE_REFRESH_SECONDS
            if refresh:
                publisher.alive_at = now
                pipe.set(publisher.alive_key, "1", ex=ALIVE_TTL_SECONDS)
            checks.append((publisher, refresh))
        self.last_send = now
        if check:
            self.last_stop_check = now
        if not len(pipe):
            return
        done = asyncio.get_running_loop().create_future()
        self.sending = (set(batch), done)
        try:
            results = await asyncio.shield(pipe.execute())
        finally:
            self.sending = None
            done.set_result(None)
        replies = iter(results[entries:])
        for publisher, refreshed in checks:
            stopped = next(replies)
            if refreshed:
                next(replies)
            if stopped:
                publisher.stop()


def outbox() -> Outbox:
    return loop_singleton("chat-outbox", Outbox)


# --- Reading: one blocking XREAD for every stream watched on this loop ------------------------------------------


def _entry_id(entry_id: str) -> tuple[int, int]:
    milliseconds, _, sequence = entry_id.partition("-")
    return int(milliseconds), int(sequence or 0)


class Listener:
    """One SSE connection's view of a stream: entries after its cursor, as the reader delivers them."""

    __slots__ = ("cursor", "entries", "key", "waiter")

    def __init__(self, key: str, cursor: str) -> None:
        self.key = key
        self.cursor = cursor
        self.entries: list = []
        self.waiter: asyncio.Future | None = None

    def deliver(self, entries: list) -> None:
        self.entries.extend(entries)
        self.cursor = entries[-1][0]
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def next(self, timeout: float) -> list | None:
        """The entries delivered since the last call, or None after `timeout` seconds without any."""
        if not self.entries:
            loop = asyncio.get_running_loop()
            self.waiter = loop.create_future()
            timer = loop.call_later(timeout, lambda w=self.waiter: w.done() or w.set_result(None))
            try:
                await self.waiter
            finally:
                timer.cancel()
                self.waiter = None
            if not self.entries:
                return None
        entries, self.entries = self.entries, []
        return entries


class StreamReader:
    """Fans one XREAD BLOCK over all watched streams out to their listeners.

    A new listener's stream must join the read under way: the reader's connection is woken with CLIENT UNBLOCK
    and reads again with the new set.
    """

    BLOCK_MS = 30_000
    COUNT = 1000

    def __init__(self) -> None:
        self.listeners: dict[str, set[Listener]] = {}
        self.version = 0  # bumped by every new listener
        self.reading_version = -1  # the version the current read covers
        self.blocked = False
        self.changed = asyncio.Event()
        self.connection: aioredis.Redis | None = None
        self.connection_id: int | None = None
        self.task: asyncio.Task | None = None

    async def listen(self, key: str, cursor: str) -> Listener:
        listener = Listener(key, cursor)
        self.listeners.setdefault(key, set()).add(listener)
        self.version += 1
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run(), name="chat-stream-reader")
        self.changed.set()
        await self._join(self.version)
        return listener

    def forget(self, listener: Listener) -> None:
        group = self.listeners.get(listener.key)
        if group is not None:
            group.discard(listener)
            if not group:
                del self.listeners[listener.key]

    async def _join(self, version: int) -> None:
        deadline = time.monotonic() + 1.0
        while self.reading_version < version and time.monotonic() < deadline:
            blocked_id = self.connection_id if self.blocked else None
            if blocked_id is not None and await redis_client().client_unblock(blocked_id):
                return
            # The read is on its way to Redis, or just returned: look again in a moment.
            await asyncio.sleep(0.001)

    async def _connect(self) -> aioredis.Redis:
        if self.connection is None:
            # No silent reconnects: CLIENT UNBLOCK needs this connection's id to stay true.
            connection = aioredis.Redis.from_url(
                settings.REDIS_URL,
                decode_responses=True,
                single_connection_client=True,
                retry=Retry(NoBackoff(), 0),
                socket_timeout=self.BLOCK_MS / 1000 + 5,  # the client's default (5 s) would cut a blocked read short
            )
            self.connection_id = await connection.client_id()
            self.connection = connection
        return self.connection

    async def _reset(self) -> None:
        connection, self.connection, self.connection_id = self.connection, None, None
        if connection is not None:
            with contextlib.suppress(Exception):  # a connection that failed may not close cleanly either
                await connection.aclose()

    async def _run(self) -> None:
        try:
            while True:
                if not self.listeners:
                    self.changed.clear()
                    self.reading_version = self.version
                    try:
                        await asyncio.wait_for(self.changed.wait(), 60)
                    except TimeoutError:
                        if not self.listeners:
                            return
                    continue
                self.reading_version = self.version
                request = {
                    key: min((listener.cursor for listener in group), key=_entry_id)
                    for key, group in self.listeners.items()
                }
                try:
                    connection = await self._connect()
                    self.blocked = True
                    try:
                        response = await connection.xread(request, block=self.BLOCK_MS, count=self.COUNT)
                    finally:
                        self.blocked = False
                except Exception:
                    logger.exception("reading reply streams from Redis failed")
                    await self._reset()
                    await asyncio.sleep(0.2)
                    continue
                for key, entries in response or ():
                    self._deliver(key, entries, request[key])
        finally:
            await self._reset()

    def _deliver(self, key: str, entries: list, read_from: str) -> None:
        finished = entries[-1][1].get("t") == "done"
        for listener in list(self.listeners.get(key, ())):
            if listener.cursor == read_from:
                new = entries
            else:  # a listener further along than the slowest one on this stream
                cursor = _entry_id(listener.cursor)
                new = [entry for entry in entries if _entry_id(entry[0]) > cursor]
            if new:
                listener.deliver(new)
            if finished:
                self.forget(listener)  # nothing follows a done entry, even if the connection never says goodbye


def reader() -> StreamReader:
    return loop_singleton("chat-stream-reader", StreamReader)


async def relay(stream_id, *, last_event_id: str = "0-0"):
    """Yield SSE bytes for a stream from after last_event_id until its done entry."""
    yield b"retry: 1000\n\n"
    stream_reader = reader()
    listener = await stream_reader.listen(stream_key(stream_id), last_event_id or "0-0")
    try:
        while True:
            entries = await listener.next(KEEPALIVE_SECONDS)
            if entries is None:
                yield b": keep-alive\n\n"  # also lets the server notice a client that went away
                continue
            events = []
            for entry_id, fields in entries:
                if fields.get("t") == "delta":
                    events.append(sse_event("delta", delta_html(fields.get("x", "")), entry_id))
                elif fields.get("t") == "thinking":
                    events.append(sse_event("thinking", delta_html(fields.get("x", "")), entry_id))
                elif fields.get("t") == "tool":
                    events.append(sse_event("tool", fields.get("h", ""), entry_id))
                elif fields.get("t") == "done":
                    events.append(sse_event("done", fields.get("h", ""), entry_id))
                    yield b"".join(events)
                    return
            yield b"".join(events)
    finally:
        stream_reader.forget(listener)
