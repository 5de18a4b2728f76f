"""A reply's event stream (SSE) and its Stop button: the owner's only, another user's stream is a 404."""

from __future__ import annotations

import uuid

from asgiref.sync import sync_to_async
from django.db import connections
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET, require_POST

from conversations import streams
from conversations.generation import render_finished
from conversations.models import Stream


def _owned_stream_or_404(request: HttpRequest, stream_id: uuid.UUID) -> Stream:
    try:
        if not request.user.is_authenticated:
            raise Http404
        stream = Stream.objects.filter(id=stream_id, conversation__user=request.user).select_related("message").first()
        if stream is None:
            raise Http404  # another user's stream looks exactly like a missing one
        return stream
    finally:
        # A stream stays open for minutes: give the database connection back to the pool now, not when it ends.
        connections.close_all()


async def _owned_stream(request: HttpRequest, stream_id: uuid.UUID) -> Stream:
    # One trip to a worker thread for the user, the stream and the connection's return: on a busy server each
    # trip waits its turn for the GIL.
    return await sync_to_async(_owned_stream_or_404)(request, stream_id)


async def _finished_events(stream: Stream):
    html_fragment = await sync_to_async(render_finished)(stream.message)  # the preview too: this tab missed it
    yield streams.sse_event("done", html_fragment)


@require_GET
async def stream_events(request: HttpRequest, stream_id: uuid.UUID) -> StreamingHttpResponse:
    stream = await _owned_stream(request, stream_id)
    last_event_id = streams.stream_cursor(request.headers.get("Last-Event-ID") or request.GET.get("last_event_id"))
    if stream.status != Stream.Status.ACTIVE and not await streams.has_entries_after(stream.id, last_event_id):
        # Saved already, and nothing in its record after the browser's cursor: the record has expired, or the cursor
        # is at or past the done entry (a replay would wait forever). One done event with the saved reply.
        body = _finished_events(stream)
    else:  # running, or finished with entries the browser has not seen: relayed from its cursor
        body = streams.relay(stream.id, last_event_id=last_event_id)
    response = StreamingHttpResponse(body, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache, no-transform"
    response["X-Accel-Buffering"] = "no"  # nginx: pass events through as they come
    return response


@require_POST
async def stream_stop(request: HttpRequest, stream_id: uuid.UUID) -> HttpResponse:
    stream = await _owned_stream(request, stream_id)
    if stream.status == Stream.Status.ACTIVE:
        await streams.request_stop(stream.id)
        from chatbot.tools.waiting import stop_waiting

        await stop_waiting(stream.id)  # a reply waiting for a tool approval has no generation to stop: ended here
    return HttpResponse(status=204)
