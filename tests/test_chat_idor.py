"""Object-level access: every conversation, message and stream URL is its owner's alone.

Another signed-in user gets 404 (the object looks missing, never "forbidden"), and nothing changes: no message,
no stream stopped, no title or setting changed, nothing deleted, no quota spent. Includes the regression of
CVE-2026-31950 (LibreChat's stream endpoint had no owner check): the SSE endpoint of an *active* stream is as
closed to another user as the rest, and leaks no delta.

The stream views hand their database connection back before streaming, which cannot happen inside a test's
transaction: these tests use transactional_db.
"""

from __future__ import annotations

import time

import httpx
import pytest
import redis
from django.conf import settings
from django.urls import reverse

from accounts.models import User
from conversations import streams
from conversations.models import Conversation, Message, Stream
from tests.factories import ConversationFactory, MessageFactory, StreamFactory, UserFactory

SECRET_DELTA = "TOP-SECRET-DELTA-7f3a"


# --- Fixtures and helpers ------------------------------------------------------------------------------------


CONVERSATION_FIELDS = (
    "id", "user_id", "title", "provider", "model", "system_prompt", "retrieval_enabled", "active_leaf_id", "updated_at"
)  # fmt: skip
MESSAGE_FIELDS = ("id", "conversation_id", "parent_id", "role", "content", "status")


def snapshot() -> dict:
    """Everything an access-control failure could change, keyed by id."""
    return {
        "conversations": {row[0]: row for row in Conversation.objects.values_list(*CONVERSATION_FIELDS)},
        "messages": {row[0]: row for row in Message.objects.values_list(*MESSAGE_FIELDS)},
        "streams": {row[0]: row for row in Stream.objects.values_list("id", "status", "finished_at")},
        "quota": dict(User.objects.values_list("id", "daily_message_count")),
    }


@pytest.fixture
def sync_redis():
    client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def owned(transactional_db, sync_redis):
    """The owner's conversation: a question, a complete reply, and a second reply still streaming."""
    owner = UserFactory()
    conversation = ConversationFactory(user=owner, title="Owner's secret plans", system_prompt="Be terse.")
    question = MessageFactory(conversation=conversation, role="user", content="What is the launch code?")
    reply = MessageFactory(conversation=conversation, role="assistant", parent=question, content="It is 0000.")
    streaming = MessageFactory(conversation=conversation, role="assistant", parent=question, content="")
    streaming.status = Message.Status.STREAMING
    streaming.save(update_fields=["status"])
    stream = StreamFactory(message=streaming, conversation=conversation)
    conversation.active_leaf = streaming
    conversation.save(update_fields=["active_leaf"])
    sync_redis.xadd(streams.stream_key(stream.id), {"t": "delta", "x": SECRET_DELTA})
    yield {
        "owner": owner,
        "conversation": conversation,
        "question": question,
        "reply": reply,
        "streaming": streaming,
        "stream": stream,
    }
    sync_redis.delete(streams.stream_key(stream.id), streams.stop_key(stream.id))


@pytest.fixture
def intruder(client, transactional_db):
    user = UserFactory()
    client.force_login(user)
    return client


def _requests(o: dict) -> list[tuple[str, str, dict]]:
    """(method, url, data) for every URL that takes a conversation, message or stream id; valid data throughout."""
    c, q, r, s = o["conversation"].id, o["question"].id, o["reply"].id, o["stream"].id
    return [
        ("get", reverse("conversations:detail", args=[c]), {}),
        ("post", reverse("conversations:message_create", args=[c]), {"content": "Intruder was here"}),
        ("post", reverse("conversations:regenerate", args=[c, r]), {}),
        ("post", reverse("conversations:edit", args=[c, q]), {"content": "Intruder's edit"}),
        ("post", reverse("conversations:switch", args=[c, r]), {}),
        (
            "post",
            reverse("conversations:settings", args=[c]),
            {"model": "offline", "system_prompt": "Obey the intruder", "retrieval_enabled": "on"},
        ),
        ("post", reverse("conversations:rename", args=[c]), {"title": "Hacked"}),
        ("get", reverse("conversations:title", args=[c]), {}),
        ("post", reverse("conversations:summarise", args=[c]), {}),
        ("post", reverse("conversations:delete", args=[c]), {}),
        ("get", reverse("conversations:stream_events", args=[s]), {}),
        ("post", reverse("conversations:stream_stop", args=[s]), {}),
    ]


REQUEST_IDS = [
    "detail",
    "message_create",
    "regenerate",
    "edit",
    "switch",
    "settings",
    "rename",
    "title",
    "summarise",
    "delete",
    "stream_events",
    "stream_stop",
]


def _read_async_stream(response) -> str:
    """The whole body of an async streaming response, read on an event loop (as the test client cannot)."""
    from asgiref.sync import async_to_sync

    async def read() -> bytes:
        return b"".join([chunk async for chunk in response.streaming_content])

    return async_to_sync(read)().decode()


# --- Another signed-in user ----------------------------------------------------------------------------------


@pytest.mark.parametrize("index", range(len(REQUEST_IDS)), ids=REQUEST_IDS)
def test_another_user_gets_404_and_changes_nothing(owned, intruder, sync_redis, index):
    method, url, data = _requests(owned)[index]
    before = snapshot()
    response = getattr(intruder, method)(url, data)
    assert response.status_code == 404
    body = response.content.decode()
    for secret in ("Owner&#x27;s secret plans", "Owner's secret plans", "launch code", "It is 0000", SECRET_DELTA):
        assert secret not in body
    assert snapshot() == before
    assert Conversation.objects.filter(id=owned["conversation"].id, title="Owner's secret plans").exists()
    stream = owned["stream"]
    stream.refresh_from_db()
    assert stream.status == Stream.Status.ACTIVE and stream.finished_at is None
    assert not sync_redis.exists(streams.stop_key(stream.id)), "no stop was requested"


def test_the_same_requests_reach_the_owner(owned, client, sync_redis):
    """The control for the test above: the URLs are right, only the user differs."""
    client.force_login(owned["owner"])
    o = owned
    c, q, r, s = o["conversation"].id, o["question"].id, o["reply"].id, o["stream"].id
    page = client.get(reverse("conversations:detail", args=[c]))
    assert page.status_code == 200 and "Owner&#x27;s secret plans" in page.content.decode()
    # Requests that would start a generation are sent invalid (or blocked by the reply in progress) on purpose.
    empty = client.post(reverse("conversations:message_create", args=[c]), {"content": ""})
    assert empty.status_code == 400 and "Write a message first." in empty.content.decode()
    busy = client.post(reverse("conversations:regenerate", args=[c, r]), headers={"HX-Request": "true"})
    assert busy.status_code == 409 and "Wait for the current reply to finish" in busy.content.decode()
    empty_edit = client.post(
        reverse("conversations:edit", args=[c, q]), {"content": "  "}, headers={"HX-Request": "true"}
    )
    assert empty_edit.status_code == 400
    switched = client.post(reverse("conversations:switch", args=[c, r]), headers={"HX-Request": "true"})
    assert switched.status_code == 200 and "It is 0000." in switched.content.decode()
    # Without JavaScript the arrows' forms bring the chat's page back, on that version.
    switched = client.post(reverse("conversations:switch", args=[c, r]))
    assert switched.status_code == 302 and switched.url == reverse("conversations:detail", args=[c]) + f"#message-{r}"
    assert client.post(reverse("conversations:rename", args=[c]), {"title": "Renamed"}).status_code == 302
    assert Conversation.objects.get(id=c).title == "Renamed"
    sync_redis.xadd(streams.stream_key(s), {"t": "done", "s": "complete", "h": "<p>done</p>"})
    events = client.get(reverse("conversations:stream_events", args=[s]))
    assert events.status_code == 200
    assert SECRET_DELTA in _read_async_stream(events)
    assert client.post(reverse("conversations:stream_stop", args=[s])).status_code == 204
    assert sync_redis.exists(streams.stop_key(s))
    assert client.post(reverse("conversations:delete", args=[c])).status_code == 302
    assert not Conversation.objects.filter(id=c).exists()


def test_another_users_conversation_url_with_their_own_message_id_is_404(owned, client):
    """The intruder's own conversation in the URL does not make the owner's message reachable."""
    intruder = UserFactory()
    client.force_login(intruder)
    own = ConversationFactory(user=intruder)
    theirs_q, theirs_r = owned["question"].id, owned["reply"].id
    before = snapshot()
    for name, message_id, data in [
        ("regenerate", theirs_r, {}),
        ("edit", theirs_q, {"content": "Mine now"}),
        ("switch", theirs_r, {}),
    ]:
        response = client.post(reverse(f"conversations:{name}", args=[own.id, message_id]), data)
        assert response.status_code == 404, name
    assert snapshot() == before


# --- One user, two conversations: a message only works under its own conversation -----------------------------


@pytest.fixture
def two_conversations(db):
    user = UserFactory()
    a = ConversationFactory(user=user, title="Conversation A")
    a_question = MessageFactory(conversation=a, role="user", content="Question in A")
    a_reply = MessageFactory(conversation=a, role="assistant", parent=a_question, content="Reply in A")
    a.active_leaf = a_reply
    a.save(update_fields=["active_leaf"])
    b = ConversationFactory(user=user, title="Conversation B")
    b_question = MessageFactory(conversation=b, role="user", content="Question in B")
    b_reply = MessageFactory(conversation=b, role="assistant", parent=b_question, content="Reply in B")
    b.active_leaf = b_reply
    b.save(update_fields=["active_leaf"])
    return {"user": user, "a": a, "a_question": a_question, "a_reply": a_reply, "b": b}


@pytest.mark.parametrize(
    ("name", "message_key", "data"),
    [
        ("regenerate", "a_reply", {}),
        ("edit", "a_question", {"content": "Edited across conversations"}),
        ("switch", "a_reply", {}),
    ],
)
def test_a_message_under_another_conversations_url_is_404(two_conversations, client, name, message_key, data):
    t = two_conversations
    client.force_login(t["user"])
    before = snapshot()
    response = client.post(reverse(f"conversations:{name}", args=[t["b"].id, t[message_key].id]), data)
    assert response.status_code == 404
    assert snapshot() == before
    assert Conversation.objects.get(id=t["b"].id).active_leaf_id != t["a_reply"].id


# --- Anonymous visitors ----------------------------------------------------------------------------------------


def test_anonymous_detail_redirects_to_login(owned, client):
    url = reverse("conversations:detail", args=[owned["conversation"].id])
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login")) and f"next={url}" in response["Location"]
    assert "launch code" not in response.content.decode()


@pytest.mark.parametrize("name", ["message_create", "chat_new"])
def test_anonymous_cannot_send(owned, client, name):
    url = (
        reverse("conversations:new")
        if name == "chat_new"
        else reverse("conversations:message_create", args=[owned["conversation"].id])
    )
    before = snapshot()
    response = client.post(url, {"content": "Anonymous message"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))
    assert snapshot() == before


@pytest.mark.parametrize("name", ["stream_events", "stream_stop"])
def test_anonymous_stream_endpoints_are_404(owned, client, sync_redis, name):
    method = client.get if name == "stream_events" else client.post
    before = snapshot()
    response = method(reverse(f"conversations:{name}", args=[owned["stream"].id]))
    assert response.status_code == 404
    assert SECRET_DELTA not in response.content.decode()
    assert snapshot() == before
    assert not sync_redis.exists(streams.stop_key(owned["stream"].id))


def test_a_stream_id_that_does_not_exist_is_404_like_anothers(transactional_db, user_client):
    import uuid

    missing = uuid.uuid4()
    assert user_client.get(reverse("conversations:stream_events", args=[missing])).status_code == 404
    assert user_client.post(reverse("conversations:stream_stop", args=[missing])).status_code == 404


# --- CVE-2026-31950 regression, end to end: a generation in flight under uvicorn --------------------------------


@pytest.mark.slow
def test_an_active_stream_is_closed_to_another_user_and_leaks_no_delta(live_client, fake_anthropic):
    from tests.test_chat_streaming import reply_of, start_chat, with_key

    owner = live_client(with_key(UserFactory()))
    intruder = live_client(UserFactory())
    tokens = [f" secret{i}" for i in range(40)]
    fake_anthropic.behaviour.tokens = tokens
    fake_anthropic.behaviour.token_delay = 0.05
    conversation, url = start_chat(owner, "Tell me the secrets slowly")
    stream = Stream.objects.get(conversation=conversation)
    stop_url = reverse("conversations:stream_stop", args=[stream.id])

    # Wait until deltas are flowing, so the stream is certainly active with data to leak.
    first = list(owner.events(url, limit=2))
    assert "".join(tokens).startswith("".join(e.data for e in first))  # deltas may coalesce under load

    started = time.monotonic()
    for headers in ({}, {"Last-Event-ID": "0-0"}, {"Accept": "text/event-stream"}):
        response = intruder.http.get(url, headers=headers, timeout=httpx.Timeout(5))
        assert response.status_code == 404
        assert "secret" not in response.text and "event: delta" not in response.text
        assert not response.headers.get("content-type", "").startswith("text/event-stream")
    with intruder.http.stream("GET", url + "?last_event_id=0-0", timeout=5) as response:
        assert response.status_code == 404
        assert "secret0" not in response.read().decode()
    assert intruder.post(stop_url).status_code == 404
    assert time.monotonic() - started < 5, "the 404s came at once, not after the stream"
    stream.refresh_from_db()
    assert stream.status == Stream.Status.ACTIVE, "the stream was still running while the intruder knocked"

    rest = list(owner.events(url, last_event_id=first[-1].id))
    assert "".join(e.data for e in [*first, *rest] if e.event == "delta") == "".join(tokens)
    message = reply_of(conversation)
    assert message.status == Message.Status.COMPLETE, "the intruder's Stop was ignored"
    assert message.content == "".join(tokens)
    stream.refresh_from_db()
    assert stream.status == Stream.Status.COMPLETE
