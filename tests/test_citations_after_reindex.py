"""A citation outlives its passage: re-indexing replaces a document's passages, older answers keep their links."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from tests.factories import ChunkFactory, ConversationFactory, DocumentFactory, MessageFactory, UserFactory

pytestmark = pytest.mark.django_db


def cite(user, document, chunk_id):
    conversation = ConversationFactory(user=user)
    return MessageFactory(
        conversation=conversation,
        role="assistant",
        content="The answer [1].",
        metadata={"sources": [{"n": 1, "chunk_id": str(chunk_id), "document_id": str(document.id), "title": "t"}]},
    )


def test_a_citation_whose_passage_was_replaced_opens_its_document(user_client, user):
    document = DocumentFactory(owner=user)
    gone = uuid.uuid4()  # the passage cited before a new version was indexed
    cite(user, document, gone)
    response = user_client.get(reverse("documents:chunk", args=[gone]), follow=True)
    assert response.redirect_chain == [(reverse("documents:detail", args=[document.id]), 302)]
    assert "That passage has changed since the answer cited it" in response.content.decode()


def test_a_passage_that_still_exists_opens_as_before(user_client, user):
    chunk = ChunkFactory(document=DocumentFactory(owner=user))
    assert user_client.get(reverse("documents:chunk", args=[chunk.id])).status_code == 200


def test_nothing_leaks_through_someone_elses_citation(user_client, user):
    other = UserFactory()
    private = DocumentFactory(owner=other)
    gone = uuid.uuid4()
    cite(other, private, gone)  # another user's answer
    assert user_client.get(reverse("documents:chunk", args=[gone])).status_code == 404
    cite(user, private, gone)  # even one of the user's own answers naming a document they cannot read
    assert user_client.get(reverse("documents:chunk", args=[gone])).status_code == 404
