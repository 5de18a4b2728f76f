"""Sharing a conversation read-only by link; private ones stay invisible to everyone else."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from conversations.models import Conversation
from tests.factories import ConversationFactory, MessageFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_a_private_conversation_has_no_public_page(client):
    conversation = ConversationFactory()
    MessageFactory(conversation=conversation, content="private thoughts")
    url = reverse("conversations:shared", args=[conversation.id])
    assert client.get(url).status_code == 404
    client.force_login(UserFactory())
    assert client.get(url).status_code == 404
    client.force_login(conversation.user)
    assert client.get(url).status_code == 404, "even the owner: the page exists only while shared"


def test_the_owner_shares_and_anyone_with_the_link_reads_it_without_a_composer(client):
    owner = UserFactory()
    conversation = ConversationFactory(user=owner, title="How to proof dough")
    MessageFactory(conversation=conversation, role="user", content="How long should dough proof?")
    MessageFactory(
        conversation=conversation, role="assistant", author=None, content="About **an hour** <script>x</script>"
    )
    client.force_login(owner)
    client.post(reverse("conversations:share", args=[conversation.id]), {"public": "on"})
    conversation.refresh_from_db()
    assert conversation.visibility == "public"

    page = Client().get(reverse("conversations:shared", args=[conversation.id])).content.decode()
    assert "How to proof dough" in page and "<strong>an hour</strong>" in page
    assert "<script>x</script>" not in page
    assert 'id="composer"' not in page and "Regenerate" not in page

    client.post(reverse("conversations:share", args=[conversation.id]), {})
    assert Conversation.objects.get(id=conversation.id).visibility == "private"
    assert Client().get(reverse("conversations:shared", args=[conversation.id])).status_code == 404


def test_only_the_owner_can_change_sharing(client):
    conversation = ConversationFactory()
    client.force_login(UserFactory())
    response = client.post(reverse("conversations:share", args=[conversation.id]), {"public": "on"})
    assert response.status_code == 404
    assert Conversation.objects.get(id=conversation.id).visibility == "private"
