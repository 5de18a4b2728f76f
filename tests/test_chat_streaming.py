"""Streaming replies end to end: uvicorn + Redis streams + the real anthropic SDK against the fake API."""

from __future__ import annotations

import time

import pytest

from accounts.models import KeyAuditLog
from accounts.services import SYSTEM, provider_key_save
from conversations.generation import sweep_stale_streams
from conversations.models import Conversation, Message, Stream, UsageLog
from tests.factories import UserFactory
from tests.fake_anthropic import split_tokens

pytestmark = [pytest.mark.slow]
KEY = "sk-ant-test-streaming-key-0001"


def with_key(user, key: str = KEY, config: dict | None = None):
    provider_key_save(user=user, provider="anthropic", api_key=key, client=SYSTEM, config=config)
    return user


def latest_stream_url(conversation: Conversation) -> str:
    # The SSE endpoint replays a stream from its start, even when the reply finished before the page asked.
    return f"/c/streams/{Stream.objects.filter(conversation=conversation).latest('created_at').id}/events/"


def start_chat(client, content: str) -> tuple[Conversation, str]:
    response = client.post("/c/new/", {"content": content})
    assert response.status_code == 204, response.text
    assert response.headers["HX-Redirect"].startswith("/c/")
    conversation = Conversation.objects.get(user=client.user)
    return conversation, latest_stream_url(conversation)


def send(client, conversation: Conversation, path: str, data: dict | None = None) -> tuple[str, str]:
    response = client.post(path, data)
    assert response.status_code == 200, response.text
    return response.text, latest_stream_url(conversation)


def reply_of(conversation: Conversation) -> Message:
    return Message.objects.filter(conversation=conversation, role="assistant").latest("created_at")


def wait_for(predicate, timeout: float = 15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_a_reply_streams_token_by_token_and_is_saved_once_complete(live_client, fake_anthropic):
    client = live_client(with_key(UserFactory()))
    fake_anthropic.behaviour.reply = "Paris is the capital of **France**."
    conversation, url = start_chat(client, "What is the capital of France?")
    events = list(client.events(url))
    deltas = [e for e in events if e.event == "delta"]
    # The first token goes out at once; tokens arriving within 20 ms of each other share an event.
    assert deltas[0].data == "Paris"
    assert "".join(d.data for d in deltas) == "Paris is the capital of **France**."
    assert events[-1].event == "done" and "<strong>France</strong>" in events[-1].data
    assert len({e.id for e in events}) == len(events), "every event has its own id"
    message = reply_of(conversation)
    assert message.status == "complete"
    assert message.content == "Paris is the capital of **France**."
    assert (message.provider, message.model) == ("anthropic", conversation.model)
    assert message.output_tokens == len(split_tokens(message.content)) and message.input_tokens > 0
    assert message.time_to_first_token_ms is not None and message.latency_ms >= message.time_to_first_token_ms
    usage = UsageLog.objects.get(message=message)
    assert (usage.input_tokens, usage.output_tokens) == (message.input_tokens, message.output_tokens)
    assert KeyAuditLog.objects.filter(user=client.user, action="use", success=True).count() == 1
    assert Stream.objects.get(message=message).status == "complete"


def test_history_and_system_prompt_reach_the_model(live_client, fake_anthropic):
    client = live_client(with_key(UserFactory()))
    conversation, url = start_chat(client, "First question")
    list(client.events(url))
    client.post(f"/c/{conversation.id}/settings/", {"model": conversation.model, "system_prompt": "Answer in French."})
    _, url = send(client, conversation, f"/c/{conversation.id}/messages/", {"content": "Second question"})
    list(client.events(url))
    request = fake_anthropic.requests[-1]
    assert request["system"] == "Answer in French."
    assert [(m["role"], m["content"]) for m in request["messages"]] == [
        ("user", "First question"),
        ("assistant", "You said: First question"),
        ("user", "Second question"),
    ]


def test_a_dropped_connection_does_not_stop_the_reply_and_resume_has_no_gap_or_duplicate(live_client, fake_anthropic):
    client = live_client(with_key(UserFactory()))
    words = [f" w{i}" for i in range(30)]
    fake_anthropic.behaviour.tokens = words
    fake_anthropic.behaviour.token_delay = 0.03
    conversation, url = start_chat(client, "Count slowly")
    first = list(client.events(url, limit=5))  # then the connection closes, as a tab would
    # Under load the relay coalesces deltas, so compare text, not events: what arrived before plus what the
    # resumed stream sends is the whole reply, once.
    before = "".join(e.data for e in first)
    assert before and "".join(words).startswith(before)
    message = wait_for(lambda: Message.objects.filter(id=reply_of(conversation).id, status="complete").first())
    assert message.content == "".join(words), "the reply completed without anyone listening"
    rest = list(client.events(url, last_event_id=first[-1].id))
    assert before + "".join(e.data for e in rest if e.event == "delta") == "".join(words)
    assert rest[-1].event == "done"


def test_stop_ends_the_reply_and_keeps_what_arrived(live_client, fake_anthropic):
    client = live_client(with_key(UserFactory()))
    fake_anthropic.behaviour.tokens = [f" t{i}" for i in range(200)]
    fake_anthropic.behaviour.token_delay = 0.02
    conversation, url = start_chat(client, "Talk for a long time")
    stream = Stream.objects.get(conversation=conversation)
    received = []
    for event in client.events(url):
        if event.event == "delta":
            received.append(event.data)
            if len(received) == 3:
                assert client.post(f"/c/streams/{stream.id}/stop/").status_code == 204
        elif event.event == "done":
            assert "Stopped" in event.data
    message = reply_of(conversation)
    assert message.status == "cancelled"
    assert message.content == "".join(received)
    assert 3 <= len(received) < 100, "generation ended soon after Stop"
    stream.refresh_from_db()
    assert stream.status == "cancelled" and stream.finished_at is not None
    # The provider read the prompt and wrote what arrived, and bills both: the usage (and the budget) count them,
    # estimated, since a stopped stream never carries the provider's own counts.
    usage = UsageLog.objects.get(message=message)
    assert usage.input_tokens >= len("Talk for a long time") // 4
    assert usage.output_tokens >= len(message.content) // 4 > 0
    assert (message.input_tokens, message.output_tokens) == (None, None), "the reply itself says unknown"


def test_an_overloaded_error_mid_reply_keeps_the_partial_text_and_offers_retry(live_client, fake_anthropic):
    client = live_client(with_key(UserFactory()))
    conversation, url = start_chat(client, "one two three four five six [[overloaded]]")
    events = list(client.events(url))
    partial = "".join(e.data for e in events if e.event == "delta")
    assert partial == "You said: one"  # three tokens, then the error event
    assert "overloaded" in events[-1].data and "Retry" in events[-1].data
    message = reply_of(conversation)
    assert (message.status, message.content) == ("failed", "You said: one")
    assert "overloaded" in message.error


def test_a_connection_lost_mid_reply_keeps_the_partial_text_and_says_so(live_client, fake_anthropic):
    client = live_client(with_key(UserFactory()))
    conversation, url = start_chat(client, "one two three four five six [[drop]]")
    events = list(client.events(url))
    assert "".join(e.data for e in events if e.event == "delta") == "You said: one"
    assert "Could not reach the provider" in events[-1].data and "Retry" in events[-1].data
    message = reply_of(conversation)
    assert (message.status, message.content) == ("failed", "You said: one")
    assert "Could not reach the provider" in message.error


@pytest.mark.parametrize(
    ("key", "config", "expected"),
    [
        ("sk-ant-revoked-key-000000", None, "rejected the API key"),
        (KEY, {"base_url": "http://127.0.0.1:9"}, "Could not reach the provider"),
    ],
    ids=["401-bad-key", "provider-unreachable"],
)
def test_provider_failures_are_explained_in_the_bubble(live_client, key, config, expected):
    client = live_client(with_key(UserFactory(), key=key, config=config))
    conversation, url = start_chat(client, "Hello?")
    events = list(client.events(url))
    assert expected in events[-1].data and "Retry" in events[-1].data
    message = reply_of(conversation)
    assert message.status == "failed" and expected in message.error


def test_a_refused_key_is_named_and_linked_in_the_bubble_and_its_use_audited_as_failed(live_client):
    client = live_client(with_key(UserFactory(), key="sk-ant-revoked-key-00w9xz"))
    key = client.user.provider_keys.get()
    conversation, url = start_chat(client, "Hello?")
    done = list(client.events(url))[-1].data
    assert "rejected the API key" in done and "…w9xz" in done
    assert f'href="/settings/keys/#key-{key.id}"' in done
    use = KeyAuditLog.objects.get(user=client.user, action="use")
    assert use.success is False and "authentication" in use.error_message
    assert reply_of(conversation).metadata["failure"] == {
        "kind": "authentication", "provider": "anthropic", "guest": False, "key_id": str(key.id), "key_hint": "w9xz",
    }  # fmt: skip
    # The page shows the same explanation as the stream did.
    assert f'href="/settings/keys/#key-{key.id}"' in client.get(f"/c/{conversation.id}/").text


def test_any_failed_call_records_the_keys_use_as_failed(live_client):
    client = live_client(with_key(UserFactory()))
    _, url = start_chat(client, "Hello [[429]]")
    assert "rate limiting" in list(client.events(url))[-1].data
    # The key was accepted but the call failed all the same: the use did not give the user an answer.
    use = KeyAuditLog.objects.get(user=client.user, action="use")
    assert use.success is False and "rate_limited" in use.error_message


@pytest.mark.parametrize(
    ("marker", "expected"),
    [("[[429]]", "rate limiting"), ("[[too-long]]", "too long for the model"), ("[[500]]", "returned an error")],
)
def test_provider_http_errors_are_explained_and_retryable(live_client, marker, expected):
    client = live_client(with_key(UserFactory()))
    conversation, url = start_chat(client, f"Hello {marker}")
    events = list(client.events(url))
    assert expected in events[-1].data and "Retry" in events[-1].data
    message = reply_of(conversation)
    assert message.status == "failed" and expected in message.error and message.content == ""


def test_without_any_key_the_offline_assistant_answers_honestly(live_client):
    client = live_client(UserFactory())
    conversation, url = start_chat(client, "Hello?")
    assert conversation.provider == "offline"
    events = list(client.events(url))
    assert len([e for e in events if e.event == "delta"]) > 10, "it streams like a model"
    assert "This conversation has no language model" in events[-1].data and "Offline assistant" in events[-1].data
    assert reply_of(conversation).status == "complete"


def test_a_conversation_set_to_claude_without_a_key_says_so(live_client):
    user = with_key(UserFactory())
    client = live_client(user)
    conversation, url = start_chat(client, "Hello?")
    list(client.events(url))
    user.provider_keys.all().delete()
    _, url = send(client, conversation, f"/c/{conversation.id}/messages/", {"content": "Again"})
    events = list(client.events(url))
    assert "No API key is configured" in events[-1].data


def test_regenerate_and_edit_create_branches_and_the_prompt_follows_the_branch_shown(live_client, fake_anthropic):
    client = live_client(with_key(UserFactory()))
    conversation, url = start_chat(client, "Original question")
    list(client.events(url))
    first_reply = reply_of(conversation)
    fake_anthropic.behaviour.reply = "A second answer."
    html, url = send(client, conversation, f"/c/{conversation.id}/messages/{first_reply.id}/regenerate/")
    assert "2/2" in html
    assert "2/2" in list(client.events(url))[-1].data, "the finished bubble keeps its branch arrows"
    second_reply = reply_of(conversation)
    assert second_reply.parent_id == first_reply.parent_id and second_reply.content == "A second answer."
    assert Message.objects.filter(id=first_reply.id).exists(), "the old reply is kept"

    response = client.post(f"/c/{conversation.id}/messages/{first_reply.id}/switch/")
    assert "1/2" in response.text and "You said: Original question" in response.text

    fake_anthropic.behaviour.reply = None
    original = Message.objects.get(conversation=conversation, role="user")
    _, url = send(
        client, conversation, f"/c/{conversation.id}/messages/{original.id}/edit/", {"content": "Edited question"}
    )
    list(client.events(url))
    assert [m["content"] for m in fake_anthropic.requests[-1]["messages"]] == ["Edited question"]
    page = client.get(f"/c/{conversation.id}/").text
    assert "Edited question" in page and "Original question" not in page.split('id="thread"')[1]
    assert Message.objects.filter(conversation=conversation, role="user").count() == 2

    # Back on the first branch, a follow-up is sent with that branch's history.
    client.post(f"/c/{conversation.id}/messages/{first_reply.id}/switch/")
    _, url = send(client, conversation, f"/c/{conversation.id}/messages/", {"content": "Follow-up"})
    list(client.events(url))
    assert [m["content"] for m in fake_anthropic.requests[-1]["messages"]] == [
        "Original question",
        "You said: Original question",
        "Follow-up",
    ]


def test_the_stream_endpoint_sends_proxy_safe_headers(live_client):
    client = live_client(UserFactory())
    _, url = start_chat(client, "Headers?")
    with client.http.stream("GET", url) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert "no-cache" in response.headers["cache-control"]
        assert response.headers["x-accel-buffering"] == "no"


def test_the_sweep_fails_a_generation_whose_process_died_and_keeps_its_buffered_text(transactional_db, settings):
    import datetime as dt

    import redis
    from django.utils import timezone

    from conversations import streams
    from tests.factories import StreamFactory

    stream = StreamFactory(created_at=timezone.now() - dt.timedelta(minutes=5))
    client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    for piece in ["Half ", "a ", "reply"]:
        client.xadd(streams.stream_key(stream.id), {"t": "delta", "x": piece})
    fresh = StreamFactory()  # just started: left alone
    assert sweep_stale_streams() == 1
    stream.message.refresh_from_db()
    assert (stream.message.status, stream.message.content) == ("failed", "Half a reply")
    assert "interrupted" in stream.message.error
    last = client.xrevrange(streams.stream_key(stream.id), count=1)[0][1]
    assert last["t"] == "done", "listeners are told the reply ended"
    fresh.refresh_from_db()
    assert fresh.status == "active"


def test_a_finished_stream_asked_for_past_its_end_answers_at_once_with_the_saved_reply(live_client):
    client = live_client(with_key(UserFactory()))
    _, url = start_chat(client, "Hello?")
    events = list(client.events(url))
    assert events[-1].event == "done"
    # A browser that reconnects with the done entry's id (or later) used to wait forever on keep-alives.
    again = list(client.events(url, last_event_id=events[-1].id, timeout=10))
    assert [event.event for event in again] == ["done"]
    assert "You said: Hello?" in again[0].data
