"""A POST's thread lets the reply it started send its provider request before rendering (conversations/generation.py,
`hand_off`): the two would otherwise share the interpreter and the request leave later."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from accounts.models import KeyAuditLog, User
from accounts.services import SYSTEM, ClientInfo, key_use_failed, provider_key_save
from chatbot.llm.http import close_http_clients
from conversations import generation, services
from conversations.generation import Prepared, hand_off, prepare_generation, start_generation
from conversations.models import Message
from tests.factories import ConversationFactory, UserFactory


class RecordingEvent:
    def __init__(self) -> None:
        self.timeouts: list[float] = []

    def wait(self, timeout: float) -> bool:
        self.timeouts.append(timeout)
        return False


def prepared_with(event) -> Prepared:
    prepared = Prepared(provider=None, request=None, provider_name="openai", model="m")
    prepared.handed_off = event
    return prepared


def sent_on_openai(content: str, *, with_key: bool = True) -> tuple[User, services.Generation]:
    """A user's message just sent in a conversation on OpenAI (with the user's own key unless `with_key` is False)."""
    user = UserFactory()
    if with_key:
        provider_key_save(user=user, provider="openai", api_key="sk-test-hand-off-0123456789", client=SYSTEM)
    conversation = ConversationFactory(user=user, provider="openai", model="gpt-5.5")
    return user, services.message_send(user=user, conversation_id=conversation.id, content=content)


def test_the_thread_waits_for_each_reply_within_one_short_deadline(monkeypatch):
    monkeypatch.setattr(generation, "_running", set())
    first, second = RecordingEvent(), RecordingEvent()
    hand_off([prepared_with(first), prepared_with(second)])
    assert len(first.timeouts) == len(second.timeouts) == 1
    assert 0 < first.timeouts[0] <= generation.HAND_OFF_WAIT_SECONDS
    assert second.timeouts[0] <= first.timeouts[0]  # one deadline for all of them, not one each


def test_a_busy_server_does_not_hold_the_requests_thread(monkeypatch):
    monkeypatch.setattr(generation, "_running", {object() for _ in range(generation.HAND_OFF_QUIET_REPLIES + 1)})
    event = RecordingEvent()
    hand_off([prepared_with(event)])
    assert event.timeouts == []


def test_a_reply_never_started_does_not_keep_the_thread_past_the_deadline(monkeypatch):
    monkeypatch.setattr(generation, "_running", set())
    prepared = prepared_with(threading.Event())
    started = time.monotonic()
    hand_off([prepared])
    assert time.monotonic() - started < 5  # bounded by HAND_OFF_WAIT_SECONDS, with room for a busy machine


@pytest.mark.django_db(transaction=True)
def test_a_reply_hands_off_once_its_provider_request_is_out_and_long_before_its_first_token(fake_openai):
    fake_openai.behaviour.first_token_delay = 1.0
    _, sent = sent_on_openai("Are you there?")
    prepared = prepare_generation(sent.stream.id, ClientInfo(), generation=sent)
    assert not prepared.handed_off.is_set()

    async def run() -> tuple[float, int, float]:
        started = time.monotonic()
        task = start_generation(sent.stream.id, ClientInfo(), prepared=prepared)
        handed_off = await asyncio.to_thread(prepared.handed_off.wait, 5)
        assert handed_off
        handed_off_after = time.monotonic() - started
        for _ in range(100):  # the request's bytes are out; the fake's thread reads them
            if fake_openai.requests:
                break
            await asyncio.sleep(0.01)
        received = len(fake_openai.requests)
        await task
        finished_after = time.monotonic() - started  # the reply, then the title's call, in the same task
        await close_http_clients()
        return handed_off_after, received, finished_after

    handed_off_after, received, finished_after = asyncio.run(run())
    assert received == 1
    assert len(fake_openai.title_requests) == 1  # named after its first reply, within the reply's task
    assert handed_off_after < 0.5 < 1.0 <= finished_after  # well before the fake's first token
    reply = Message.objects.get(id=sent.assistant_message.id)
    assert reply.status == Message.Status.COMPLETE
    assert reply.content == "You said: Are you there?"


@pytest.mark.django_db(transaction=True)
def test_a_reply_that_fails_before_its_request_hands_off_too():
    _, sent = sent_on_openai("Hello?", with_key=False)  # and the operator has no key either
    prepared = prepare_generation(sent.stream.id, ClientInfo(), generation=sent)
    assert prepared.error is not None

    async def run() -> None:
        await start_generation(sent.stream.id, ClientInfo(), prepared=prepared)

    asyncio.run(run())
    assert prepared.handed_off.is_set()
    assert Message.objects.get(id=sent.assistant_message.id).status == Message.Status.FAILED


def key_uses(user) -> list[KeyAuditLog]:
    return list(KeyAuditLog.objects.filter(user=user, action=KeyAuditLog.Action.USE))


@pytest.mark.django_db(transaction=True)
def test_a_keys_use_is_recorded_once_the_reply_has_started_and_marked_failed_after_it_is(fake_openai):
    user, sent = sent_on_openai("Hello?")
    prepared = prepare_generation(sent.stream.id, ClientInfo(ip="203.0.113.9"), generation=sent, defer_key_audit=True)
    assert prepared.key is not None and key_uses(user) == []  # not on the way to the provider's request

    # The reply failed at once (a refused key) and its finish marks the use failed before the POST's thread has
    # written it: the mark waits for the row.
    marking = threading.Thread(target=key_use_failed, kwargs={"key": prepared.key, "error": "401 refused"})
    marking.start()
    marking.join(0.3)
    assert marking.is_alive()
    prepared.handed_off.set()
    hand_off([prepared])
    marking.join(10)
    assert not marking.is_alive()
    [use] = key_uses(user)
    assert use.id == prepared.key.audit_id
    assert (use.success, use.error_message, use.ip) == (False, "401 refused", "203.0.113.9")

    hand_off([prepared])  # recorded once, whoever calls again
    assert len(key_uses(user)) == 1


@pytest.mark.django_db(transaction=True)
def test_without_deferring_a_keys_use_is_recorded_when_the_key_is_handed_over(fake_openai):
    user, sent = sent_on_openai("Hello?")
    prepared = prepare_generation(sent.stream.id, ClientInfo(), generation=sent)
    [use] = key_uses(user)
    assert use.success and use.id == prepared.key.audit_id and prepared.key.recorded.is_set()
