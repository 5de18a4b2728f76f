"""What a page shows when a reply changes state between two of the page's reads."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from conversations.models import Stream
from tests.factories import ConversationFactory, MessageFactory, StreamFactory

pytestmark = pytest.mark.django_db


def test_a_reply_that_finished_while_the_page_was_read_is_drawn_streaming_and_its_done_event_follows(user_client, user):
    chat = ConversationFactory(user=user)
    question = MessageFactory(conversation=chat, role="user", content="Hi")
    # The row still says streaming (read before the reply finished), but its stream has finished since: drawn as
    # finished, it was an empty bubble with no error and no Retry until a reload.
    reply = MessageFactory(conversation=chat, role="assistant", parent=question, content="", status="streaming")
    stream = StreamFactory(message=reply, conversation=chat, status=Stream.Status.FAILED)
    page = user_client.get(reverse("conversations:detail", args=[chat.id])).content.decode()
    connects = f'sse-connect="/c/streams/{stream.id}/events/?t='
    assert connects in page, "it connects, and the done event brings the bubble"


def test_a_thread_with_nothing_streaming_does_not_look_for_streams(user_client, user):
    chat = ConversationFactory(user=user)
    MessageFactory(conversation=chat, role="user", content="Hi")
    url = reverse("conversations:detail", args=[chat.id])
    with CaptureQueriesContext(connection) as queries:
        assert user_client.get(url).status_code == 200
    assert not [query for query in queries.captured_queries if 'FROM "streams"' in query["sql"]]
