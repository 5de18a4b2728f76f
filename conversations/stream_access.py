"""Signed stream URLs: a reply's event stream opened without Django's request cycle or a database round trip.

The page that draws a streaming bubble signs its stream's URL for the viewer's session (`stream_token`): the stream
id and a digest of the session key, timestamped. The browser opens it right away; `serve_signed_stream`, in front of
Django in chatbot/asgi.py, checks the signature, its age and that the request carries that same session cookie, then
relays the stream from Redis. Anything else (no token, another session's, a forged or stale one, a stream whose
record says it finished before the browser's cursor) goes on to the Django view, which checks the owner in the
database and renders a finished reply: the signed path only ever serves what that view would.

Why: per streamed chat, the event stream's request cost a worker-thread trip through every middleware, the session,
the user and the stream's row (three queries), under load about a twelfth of a chat's CPU (bench/chat_latency.py).
The digest, not the key, is in the URL, so a URL in a log is useless without the cookie; a session signed out
elsewhere keeps reading at most the streams it was shown, for TOKEN_MAX_AGE_SECONDS.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import re
import time
import uuid
from urllib.parse import parse_qs

from django.conf import settings
from django.core import signing
from django.http.cookie import parse_cookie
from django.utils.crypto import salted_hmac

from conversations import streams

SALT = "conversations.stream"
TOKEN_MAX_AGE_SECONDS = 600
# A stream with no record yet is one whose reply has not written its first words: served when its token is this
# fresh (a page drawn just now); older, the view looks in the database (the record may have expired).
NOT_STARTED_MAX_AGE_SECONDS = 60
STREAM_PATH = re.compile(r"/c/streams/(?P<id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/events/")
HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"x-accel-buffering", b"no"),  # nginx: pass events through as they come
    (b"x-content-type-options", b"nosniff"),
]


def _session_digest(session_key: str) -> str:
    return salted_hmac(SALT, session_key).hexdigest()[:32]


def stream_token(*, stream_id: uuid.UUID, session_key: str) -> str:
    return signing.dumps([str(stream_id), _session_digest(session_key), int(time.time())], salt=SALT)


def token_age(token: str, *, stream_id: str, session_key: str) -> float | None:
    """Seconds since a valid token for this stream and session was signed; None when it is not one."""
    try:
        stream, digest, signed_at = signing.loads(token, salt=SALT, max_age=TOKEN_MAX_AGE_SECONDS)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if stream != stream_id or not hmac.compare_digest(str(digest), _session_digest(session_key)):
        return None
    return max(0.0, time.time() - float(signed_at))


def _request_parts(scope) -> tuple[str, str, str]:
    """The token, the session cookie and the browser's cursor of a stream request."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    headers = {}
    for name, value in scope.get("headers", ()):
        if name in (b"cookie", b"last-event-id"):
            headers[name] = headers.get(name, "") + ("; " if name in headers else "") + value.decode("latin-1")
    session_key = parse_cookie(headers.get(b"cookie", "")).get(settings.SESSION_COOKIE_NAME, "")  # as Django reads it
    last_event_id = headers.get(b"last-event-id") or (query.get("last_event_id") or [""])[0]
    return (query.get("t") or [""])[0], session_key, last_event_id


async def _servable(stream_id: str, cursor: str, age: float) -> bool:
    """Whether the relay serves this stream as the view would: it has entries after the cursor, or is not over."""
    client = streams.redis_client()
    last = await client.xrevrange(streams.stream_key(stream_id), count=1)
    if not last:
        return age <= NOT_STARTED_MAX_AGE_SECONDS
    fields = last[0][1]
    if fields.get("t") != "done":
        return True  # running: relayed from the cursor, waiting for what comes
    return await streams.has_entries_after(stream_id, cursor)


async def serve_signed_stream(scope, receive, send) -> bool:
    """Serve a stream request with a valid signed URL (True); False: not one, the Django view answers it."""
    if scope.get("type") != "http" or scope.get("method") != "GET":
        return False
    match = STREAM_PATH.fullmatch(scope.get("path", ""))
    if match is None:
        return False
    token, session_key, last_event_id = _request_parts(scope)
    if not token or not session_key:
        return False
    stream_id = match["id"]
    age = token_age(token, stream_id=stream_id, session_key=session_key)
    if age is None:
        return False
    cursor = streams.stream_cursor(last_event_id)
    if not await _servable(stream_id, cursor, age):
        return False
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    relay = asyncio.ensure_future(_relay(stream_id, cursor, send))
    disconnect = asyncio.ensure_future(_disconnected(receive))
    try:
        await asyncio.wait({relay, disconnect}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (relay, disconnect):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    return True


async def _relay(stream_id: str, cursor: str, send) -> None:
    async with contextlib.aclosing(streams.relay(stream_id, last_event_id=cursor)) as events:
        async for chunk in events:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _disconnected(receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
