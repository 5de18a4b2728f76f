"""Signed stream URLs (conversations/stream_access.py): the page's URL is relayed without Django's request cycle,
for the session it was signed for only; anything else goes on to the view's owner check."""

from __future__ import annotations

import html
import re

import pytest
from django.core import signing

from conversations import stream_access
from conversations.models import Stream
from tests.factories import UserFactory
from tests.test_chat_streaming import latest_stream_url, send, start_chat

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def signed_url(text: str) -> str:
    return html.unescape(re.search(r'sse-connect="([^"]+)"', text).group(1))


def stream_response(client, url: str, **headers):
    """Status, headers and body of an event stream read to its end."""
    with client.http.stream("GET", url, headers=headers, timeout=30) as response:
        return response.status_code, response.headers, response.read().decode()


def fast(headers) -> bool:
    # Every response of Django's request cycle carries the request id (chatbot/middleware.py); the signed path's not.
    return "x-request-id" not in headers


def a_turn(client):
    conversation, first = start_chat(client, "Hello")
    list(client.events(first))
    text, _ = send(client, conversation, f"/c/{conversation.id}/messages/", {"content": "And again?"})
    return conversation, signed_url(text)


def test_the_pages_signed_url_streams_the_reply_without_a_request_cycle(live_client):
    client = live_client(UserFactory())
    _, url = a_turn(client)
    assert "?t=" in url
    status, headers, body = stream_response(client, url)
    assert status == 200 and headers["content-type"] == "text/event-stream" and fast(headers)
    assert "event: done" in body and "event: delta" in body
    assert headers["cache-control"] == "no-cache, no-transform"


def test_another_session_with_the_url_gets_the_views_404(live_client):
    owner, other = live_client(UserFactory()), live_client(UserFactory())
    _, url = a_turn(owner)
    status, headers, _ = stream_response(other, url)
    assert status == 404 and not fast(headers)


def test_the_owner_in_another_session_or_with_a_forged_token_goes_through_the_view(live_client):
    user = UserFactory()
    client, second_tab = live_client(user), live_client(user)  # two sessions of one user
    _, url = a_turn(client)
    status, headers, body = stream_response(second_tab, url)
    assert status == 200 and not fast(headers) and "event: done" in body, "the view's owner check lets them in"
    forged = url[:-3] + ("aaa" if not url.endswith("aaa") else "bbb")
    status, headers, _ = stream_response(client, forged)
    assert status == 200 and not fast(headers)


def test_a_stale_token_or_a_cursor_past_the_end_goes_through_the_view(live_client, monkeypatch):
    client = live_client(UserFactory())
    conversation, url = a_turn(client)
    events = list(client.events(url))
    stream = Stream.objects.filter(conversation=conversation).latest("created_at")
    session_key = next(cookie.value for cookie in client.http.cookies.jar if cookie.name == "sessionid")

    # The done entry already seen: nothing of the record is left to relay, so the view renders the saved reply.
    status, headers, body = stream_response(client, url, **{"Last-Event-ID": events[-1].id})
    assert status == 200 and not fast(headers) and "event: done" in body

    fresh = stream_access.stream_token(stream_id=stream.id, session_key=session_key)
    status, headers, body = stream_response(client, f"{latest_stream_url(conversation)}?t={fresh}")
    assert status == 200 and fast(headers) and "event: done" in body, "a fresh token replays the finished record"
    real_time = signing.time.time
    monkeypatch.setattr(signing.time, "time", lambda: real_time() - stream_access.TOKEN_MAX_AGE_SECONDS - 5)
    stale = stream_access.stream_token(stream_id=stream.id, session_key=session_key)
    monkeypatch.undo()
    status, headers, _ = stream_response(client, f"{latest_stream_url(conversation)}?t={stale}")
    assert status == 200 and not fast(headers)


def test_tokens_are_bound_to_their_stream_and_session():
    stream_id, other_stream = "7d3c2a5e-0b1f-4c6e-9a7b-2f5d8e1c4b3a", "0d3c2a5e-0b1f-4c6e-9a7b-2f5d8e1c4b3a"
    token = stream_access.stream_token(stream_id=stream_id, session_key="session-one")
    assert stream_access.token_age(token, stream_id=stream_id, session_key="session-one") < 5
    assert stream_access.token_age(token, stream_id=stream_id, session_key="session-two") is None
    assert stream_access.token_age(token, stream_id=other_stream, session_key="session-one") is None
    assert stream_access.token_age(token + "x", stream_id=stream_id, session_key="session-one") is None
    assert stream_access.token_age("", stream_id=stream_id, session_key="session-one") is None
    assert "session-one" not in token, "the URL carries a digest of the session, not its key"
