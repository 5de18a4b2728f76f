"""A chat started with "Compare with…" inside a project is a chat of that project, like one sent to one model:
each model is given the project's instructions, and its retrieval searches the project's documents first."""

from __future__ import annotations

import pytest

from conversations.models import Conversation, Message, Stream
from documents.retrieval import RetrievalOptions
from tests.factories import DocumentFactory, ProjectFactory, UserFactory
from tests.test_compare import comparing, replies_of


@pytest.mark.slow
def test_a_new_side_by_side_chat_in_a_project_keeps_its_instructions_and_documents(live_client, fake_openai):
    user = comparing(UserFactory(), "openai", "xai")
    project = ProjectFactory(user=user, name="Garden", instructions="Always answer in metric units.")
    notes = DocumentFactory(owner=user, title="Soil notes")
    project.documents.add(notes)
    DocumentFactory(owner=user, title="Not in the project")
    client = live_client(user)
    response = client.post(
        "/c/new/",
        {"content": "How deep for garlic?", "model": "openai:gpt-4.1", "compare_model": ["xai:grok-4"],
         "project": str(project.id)},
    )  # fmt: skip
    assert response.status_code == 204, response.text
    conversation = Conversation.objects.get(user=user)
    assert conversation.project_id == project.id
    assert RetrievalOptions.for_conversation(conversation).project_documents == (notes.id,)
    replies = replies_of(Message.objects.get(conversation=conversation, role="user"))
    assert len(replies) == 2
    for reply in replies:
        list(client.events(f"/c/streams/{Stream.objects.get(message=reply).id}/events/"))
    block = '<project_instructions project="Garden">\nAlways answer in metric units.\n</project_instructions>'
    answered = [r for r in fake_openai.requests if r["path"].endswith("/chat/completions") and r["body"].get("stream")]
    assert sorted(r["body"]["model"] for r in answered) == ["gpt-4.1", "grok-4"]
    for request in answered:
        system = next(m["content"] for m in request["body"]["messages"] if m["role"] in ("system", "developer"))
        assert block in system, f"{request['body']['model']} was not given the project's instructions"


@pytest.mark.django_db
def test_another_users_project_is_a_404_and_makes_no_chat(client, fake_openai):
    user = comparing(UserFactory(), "openai", "xai")
    theirs = ProjectFactory(user=UserFactory(), name="Theirs")
    client.force_login(user)
    response = client.post(
        "/c/new/",
        {"content": "Hi", "model": "openai:gpt-4.1", "compare_model": ["xai:grok-4"], "project": str(theirs.id)},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 404
    assert not Conversation.objects.filter(user=user).exists()
