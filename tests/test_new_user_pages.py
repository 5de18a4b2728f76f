"""What a new user meets beyond the chat itself: sources saved by older versions, search, guests' wording."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from conversations.models import Conversation
from tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db

# What replies stored before sources carried their passage (seed 000): no chunk id, number, title or text.
OLD_SOURCES = [
    {"chapter": "Communication", "section": "Topics", "score": 0.82},
    {"chapter": "Execution", "section": "Lifecycle nodes", "score": 0.5},
]


def conversation_with_old_sources(user) -> Conversation:
    conversation = ConversationFactory(user=user, title="Old reply", visibility=Conversation.Visibility.PUBLIC)
    question = MessageFactory(conversation=conversation, role="user", content="Topics?")
    reply = MessageFactory(
        conversation=conversation,
        role="assistant",
        parent=question,
        content="Topics are streams.",
        metadata={"sources": OLD_SOURCES},
    )
    conversation.active_leaf = reply
    conversation.save(update_fields=["active_leaf"])
    return conversation


def test_a_source_saved_without_its_passage_is_listed_without_a_link_instead_of_failing(user, user_client):
    conversation = conversation_with_old_sources(user)

    for client, url in (
        (user_client, reverse("conversations:detail", args=[conversation.id])),
        (Client(), reverse("conversations:shared", args=[conversation.id])),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        page = response.content.decode()
        assert "Communication › Topics" in page and "Execution › Lifecycle nodes" in page
        assert "/documents/passages/" not in page
        # Numbered in order, each with its own anchor.
        assert f'id="source-{conversation.active_leaf_id}-1" value="1"' in page
        assert f'id="source-{conversation.active_leaf_id}-2" value="2"' in page
