"""Each message says when it was written (docs/decisions.md, "A phone's composer, and message times"): a <time>
with its instant and the full date in its title, on the owner's page and a shared one, without a query per message;
the Markdown export gives each message's time as it gives the chat's."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from conversations.models import Conversation
from tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db
TIME = re.compile(r'<time class="message-time" datetime="([^"]+)" title="([^"]+)" data-local-time>([^<]+)</time>')


def chat_of(user, *, exchanges: int, start: dt.datetime, **options) -> Conversation:
    """A chat of `exchanges` questions and answers, a minute apart from `start`."""
    conversation = ConversationFactory(user=user, title="Times", **options)
    parent = None
    for number in range(exchanges):
        moment = start + dt.timedelta(minutes=2 * number)
        question = MessageFactory(conversation=conversation, parent=parent, role="user", created_at=moment)
        parent = MessageFactory(conversation=conversation, parent=question, role="assistant", model="claude-x",
                                content=f"Answer {number}.", created_at=moment + dt.timedelta(minutes=1))  # fmt: skip
    return conversation


def test_every_message_has_its_time_and_the_page_costs_no_query_more_per_message(user_client, user, settings):
    settings.TIME_ZONE = "Europe/Paris"  # the server's zone: the title says which
    long_ago = dt.datetime(2025, 3, 4, 9, 5, 30, 123456, tzinfo=dt.UTC)
    today = timezone.now().replace(microsecond=0)

    older = chat_of(user, exchanges=1, start=long_ago)
    page = user_client.get(reverse("conversations:detail", args=[older.id])).content.decode()
    times = TIME.findall(page)
    assert len(times) == 2, "the question's and the answer's"
    instant, title, short = times[0]
    assert instant == "2025-03-04T09:05:30Z"  # to the second: HTML's datetime takes three decimals at most
    assert title == "Tuesday 4 March 2025, 10:05 CET" and short == "4 Mar 2025, 10:05"  # another year: its year
    assert TIME.findall(page)[1][0] == "2025-03-04T09:06:30Z"

    recent = chat_of(user, exchanges=1, start=today)
    short = TIME.findall(user_client.get(reverse("conversations:detail", args=[recent.id])).content.decode())[0][2]
    assert short == timezone.localtime(today).strftime("%H:%M"), "today's message: the time alone"

    def queries(conversation) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert user_client.get(reverse("conversations:detail", args=[conversation.id])).status_code == 200
        return len(captured)

    longer = chat_of(user, exchanges=5, start=long_ago)
    assert len(TIME.findall(user_client.get(reverse("conversations:detail", args=[longer.id])).content.decode())) == 10
    assert queries(longer) == queries(older), "a query more per message"


def test_a_shared_chat_shows_each_messages_time(user):
    conversation = chat_of(user, exchanges=2, start=dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC), visibility="public")
    page = Client().get(reverse("conversations:shared", args=[conversation.id])).content.decode()
    assert [instant for instant, _, _ in TIME.findall(page)] == [
        "2026-01-02T03:04:00Z", "2026-01-02T03:05:00Z", "2026-01-02T03:06:00Z", "2026-01-02T03:07:00Z",
    ]  # fmt: skip


def test_the_markdown_export_gives_each_messages_time(user_client, user):
    conversation = chat_of(user, exchanges=1, start=dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC))
    text = user_client.get(reverse("conversations:export", args=[conversation.id, "md"])).content.decode()
    assert "### You · 2026-01-02 03:04 UTC\n" in text
    assert "### Assistant (claude-x) · 2026-01-02 03:05 UTC\n" in text
