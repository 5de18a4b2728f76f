"""`manage.py cleanup` and the daily beat job (the rules themselves: tests/test_retention.py)."""

from __future__ import annotations

import datetime as dt
import logging
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from accounts.models import Session
from conversations.models import Conversation, Message, Stream
from tests.clock import clock_fixture  # noqa: F401  (the clock fixture)
from tests.factories import ConversationFactory, MessageFactory, SessionFactory, StreamFactory

pytestmark = pytest.mark.django_db


def days_ago(days: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=days)


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

    assert "expired sessions: 1" in output and "finished reply streams: 1" in output
    assert list(Session.objects.values_list("session_key", flat=True)) == [current.session_key]
    assert set(Stream.objects.values_list("id", flat=True)) == {recent.id, running.id}
    assert not Session.objects.filter(session_key=expired.session_key).exists()
    assert Message.objects.filter(id=old.message_id).exists(), "the reply itself stays"


def test_the_defaults_archive_after_90_days_and_delete_nothing():
    assert settings.CONVERSATION_ARCHIVE_DAYS == 90 and settings.CONVERSATION_RETENTION_DAYS == 0
    assert settings.SYSTEM_MESSAGE_RETENTION_DAYS == 30


def test_a_dry_run_prints_counts_per_rule_and_changes_nothing(clock, settings):
    settings.CONVERSATION_RETENTION_DAYS = 30
    SessionFactory(expire_date=days_ago(1))
    idle = ConversationFactory()
    archived = ConversationFactory(archived_at=timezone.now())
    MessageFactory(conversation=idle, role="system")
    finished_stream(2)
    clock.advance(days=91)

    output = run("--dry-run")

    assert output.splitlines() == [
        "Dry run, nothing changed. What each rule would do:",
        "expired sessions: 1",
        "finished reply streams: 1",
        "expired data exports: 0",
        "unsent attachments deleted: 0",
        "inactive conversations archived: 2",  # idle, and the stream's conversation
        "archived conversations deleted: 1",
        "system messages deleted: 1",
        "orphaned files deleted: 0",
    ]
    assert Session.objects.count() == 1 and Stream.objects.count() == 1 and Message.objects.count() == 2
    assert Conversation.objects.filter(archived_at__isnull=True).count() == 2
    assert Conversation.objects.filter(id=archived.id).exists()


def test_the_options_override_the_settings(clock):
    idle = ConversationFactory()
    clock.advance(days=10)
    assert "inactive conversations archived" not in run("--archive-days", "0")
    assert Conversation.objects.get(id=idle.id).archived_at is None
    output = run("--archive-days", "5", "--retention-days", "1")
    assert "inactive conversations archived: 1" in output and "archived conversations deleted: 0" in output
    clock.advance(days=2)
    assert "archived conversations deleted: 1" in run("--archive-days", "5", "--retention-days", "1")
    assert not Conversation.objects.filter(id=idle.id).exists()


def test_a_run_logs_what_it_did(clock, caplog):
    ConversationFactory()
    clock.advance(days=100)
    with caplog.at_level(logging.INFO, logger="chatbot.cleanup"):
        run()
    assert "cleanup: inactive conversations archived: 1" in caplog.text


def test_beat_runs_the_cleanup_daily():
    entry = settings.CELERY_BEAT_SCHEDULE["cleanup"]
    assert entry["task"] == "chatbot.tasks.cleanup" and entry["schedule"] == 24 * 60 * 60
    from chatbot.tasks import cleanup

    SessionFactory(expire_date=days_ago(1))
    assert cleanup()["expired sessions"] == 1
