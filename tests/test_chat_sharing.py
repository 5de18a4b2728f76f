"""Sharing a conversation read-only by link; private ones stay invisible to everyone else."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from conversations.models import Conversation
from documents.retrieval import Source
from tests.factories import ChunkFactory, ConversationFactory, DocumentFactory, MessageFactory, UserFactory

pytestmark = pytest.mark.django_db


def source_of(chunk, number: int) -> dict:
    """What a reply stores for a passage it cites."""
    return Source(
        number=number,
        chunk_id=chunk.id,
        document_id=chunk.document_id,
        title=chunk.document.title,
        chapter=chunk.chapter,
        section=chunk.section,
        text=chunk.text,
        char_start=chunk.char_start,
        char_end=chunk.char_end,
        score=0.03,
        similarity=0.8,
    ).as_metadata()


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
    response = client.post(reverse("conversations:share", args=[conversation.id]), {"public": "on"}, follow=True)
    conversation.refresh_from_db()
    assert conversation.visibility == "public"
    link = "http://testserver" + reverse("conversations:shared", args=[conversation.id])
    assert f"Shared: anyone with this link can read the conversation: {link}" in response.content.decode()

    page = Client().get(reverse("conversations:shared", args=[conversation.id])).content.decode()
    assert "How to proof dough" in page and "<strong>an hour</strong>" in page
    assert "<script>x</script>" not in page
    assert 'id="composer"' not in page and "Regenerate" not in page

    response = client.post(reverse("conversations:share", args=[conversation.id]), {}, follow=True)
    assert Conversation.objects.get(id=conversation.id).visibility == "private"
    assert "No longer shared: its link now shows nothing." in response.content.decode()
    assert Client().get(reverse("conversations:shared", args=[conversation.id])).status_code == 404


def test_only_the_owner_can_change_sharing(client):
    conversation = ConversationFactory()
    client.force_login(UserFactory())
    response = client.post(reverse("conversations:share", args=[conversation.id]), {"public": "on"})
    assert response.status_code == 404
    assert Conversation.objects.get(id=conversation.id).visibility == "private"


def test_a_shared_reply_lists_its_sources_with_the_cited_passage_but_no_way_into_the_owners_documents(client):
    owner = UserFactory()
    chunk = ChunkFactory(
        document=DocumentFactory(owner=owner, title="Private lab notes"),
        chapter="Bread",
        section="Proofing",
        text="Proof the dough for about an hour, until doubled.",
    )
    conversation = ConversationFactory(user=owner, title="Dough", visibility=Conversation.Visibility.PUBLIC)
    question = MessageFactory(conversation=conversation, role="user", content="How long should dough proof?")
    reply = MessageFactory(
        conversation=conversation,
        role="assistant",
        author=None,
        parent=question,
        content="About an hour [1].",
        metadata={"sources": [source_of(chunk, 1)]},
    )
    conversation.active_leaf = reply
    conversation.save(update_fields=["active_leaf"])

    page = Client().get(reverse("conversations:shared", args=[conversation.id])).content.decode()

    assert '<h2 class="sources-title">Sources</h2>' in page
    assert f'href="#source-{reply.id}-1"' in page and f'id="source-{reply.id}-1"' in page, "the [1] marker links to it"
    assert "Private lab notes" in page and "Bread › Proofing" in page
    assert "Proof the dough for about an hour, until doubled." in page
    assert "/documents/" not in page
    assert str(chunk.id) not in page and str(chunk.document_id) not in page
    # The owner's own view of the same reply links the passage in the document.
    client.force_login(owner)
    own = client.get(reverse("conversations:detail", args=[conversation.id])).content.decode()
    assert reverse("documents:chunk", args=[chunk.id]) in own


@pytest.mark.parametrize("guest", [False, True], ids=["user", "guest"])
def test_a_shared_offline_reply_keeps_its_quotes_but_not_the_advice_to_its_owners_account(client, guest):
    from chatbot.llm.offline import NOTICE_START, no_model_notice

    owner = UserFactory()
    conversation = ConversationFactory(user=owner, title="Dough", visibility=Conversation.Visibility.PUBLIC)
    question = MessageFactory(conversation=conversation, role="user", content="How long should dough proof?")
    reply = no_model_notice(guest=guest) + "\n\nHere are the most relevant passages I found:\n\n> Proof it an hour."
    MessageFactory(conversation=conversation, parent=question, role="assistant", content=reply, provider="offline")

    page = Client().get(reverse("conversations:shared", args=[conversation.id])).content.decode()
    # The reader has no account: "add an API key in Settings" (or "Sign up to use your own key") was not theirs.
    assert NOTICE_START in page and "Proof it an hour." in page
    assert reverse("accounts:keys") not in page and "API key" not in page
    assert reverse("account_signup") + '"' not in page.split('class="thread"')[1]

    client.force_login(owner)
    own = client.get(reverse("conversations:detail", args=[conversation.id])).content.decode()
    assert "API key" in own, "the owner's own page still says what to do"
