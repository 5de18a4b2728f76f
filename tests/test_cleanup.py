"""Retention: `manage.py cleanup` and the daily beat job."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from accounts.models import Session
from conversations.models import Conversation, Message, Stream
from tests.factories import ConversationFactory, MessageFactory, SessionFactory, StreamFactory

pytestmark = pytest.mark.django_db


def days_ago(days: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=days)


def aged(conversation: Conversation, days: float) -> Conversation:
    Conversation.objects.filter(id=conversation.id).update(updated_at=days_ago(days))  # auto_now on save
    return conversation


def finished_stream(days: float) -> Stream:
    stream = StreamFactory()
    Stream.objects.filter(id=stream.id).update(status="complete", finished_at=days_ago(days))
    return stream


def run(*args: str) -> str:
    out = StringIO()
    call_command("cleanup", *args, stdout=out)
    return out.getvalue()


def test_expired_sessions_and_old_finished_streams_go_and_everything_current_stays():
    expired = SessionFactory(expire_date=days_ago(1))
    current = SessionFactory()
    old, recent = finished_stream(3), finished_stream(0.1)
    running = StreamFactory()  # still streaming, however old
    Stream.objects.filter(id=running.id).update(created_at=days_ago(5))

    output = run()

    assert "deleted 1 expired sessions" in output and "deleted 1 finished reply streams" in output
    assert list(Session.objects.values_list("session_key", flat=True)) == [current.session_key]
    assert set(Stream.objects.values_list("id", flat=True)) == {recent.id, running.id}
    assert not Session.objects.filter(session_key=expired.session_key).exists()
    assert Message.objects.filter(id=old.message_id).exists(), "the reply itself stays"


def test_conversations_are_kept_forever_by_default():
    assert settings.CONVERSATION_RETENTION_DAYS == 0
    ancient = aged(ConversationFactory(), 3650)
    output = run()
    assert "inactive conversations" not in output
    assert Conversation.objects.filter(id=ancient.id).exists()


def test_with_a_retention_inactive_conversations_go_with_their_messages_but_pinned_and_busy_ones_stay(settings):
    settings.CONVERSATION_RETENTION_DAYS = 90
    inactive = aged(ConversationFactory(), 91)
    MessageFactory.create_batch(3, conversation=inactive)
    recent = aged(ConversationFactory(), 89)
    pinned = aged(ConversationFactory(pinned=True), 400)
    busy = StreamFactory().conversation  # a reply is streaming in it right now
    aged(busy, 200)

    output = run()

    assert "deleted 1 inactive conversations" in output
    assert set(Conversation.objects.values_list("id", flat=True)) == {recent.id, pinned.id, busy.id}
    assert not Message.objects.filter(conversation_id=inactive.id).exists()


def test_a_dry_run_counts_and_deletes_nothing():
    SessionFactory(expire_date=days_ago(1))
    old = aged(ConversationFactory(), 40)
    finished_stream(2)  # in a conversation of its own, touched today

    output = run("--dry-run", "--conversation-days", "30")

    assert output.splitlines() == [
        "would delete 1 expired sessions",
        "would delete 1 finished reply streams",
        "would delete 1 inactive conversations",
    ]
    assert Session.objects.count() == 1 and Stream.objects.count() == 1
    assert Conversation.objects.filter(id=old.id).exists() and Conversation.objects.count() == 2


def test_beat_runs_the_cleanup_daily():
    entry = settings.CELERY_BEAT_SCHEDULE["cleanup"]
    assert entry["task"] == "chatbot.tasks.cleanup" and entry["schedule"] == 24 * 60 * 60
    from chatbot.tasks import cleanup

    SessionFactory(expire_date=days_ago(1))
    assert cleanup()["expired sessions"] == 1
