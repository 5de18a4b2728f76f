"""Starter prompts of an empty chat (Preferences.prompt_suggestions): from the user's own ready documents when they
have some, generic otherwise; off, none; clicking one starts the chat with it."""

from __future__ import annotations

import html
import re

import pytest
from django.urls import reverse

from accounts.models import Preferences
from conversations.models import Conversation, Message
from conversations.suggestions import GENERIC, prompt_suggestions
from tests.factories import ChunkFactory, ConversationFactory, DocumentFactory, GuestFactory

pytestmark = pytest.mark.django_db


def shown(page: str) -> list[str]:
    return [html.unescape(t) for t in re.findall(r"data-prompt-suggestion>([^<]*)</button>", page)]


def test_a_user_without_documents_gets_generic_prompts(user):
    DocumentFactory(title="Someone else's handbook")  # another user's
    DocumentFactory(owner=user, title="Still processing", status="processing")
    DocumentFactory(owner=None, title="The shared library")
    assert prompt_suggestions(user=user) == GENERIC[:4]
    assert prompt_suggestions(user=GuestFactory()) == GENERIC[:4]


def test_prompts_come_from_the_users_ready_documents_and_their_sections(user):
    handbook = DocumentFactory(owner=user, title="Employee handbook")
    ChunkFactory(document=handbook, chapter="Leave", section="Parental leave", ordinal=1)
    ChunkFactory(document=handbook, chapter="Leave", section="Parental leave", ordinal=2)  # the same heading once
    ChunkFactory(document=handbook, chapter="Expenses", section="", ordinal=3)
    ChunkFactory(document=DocumentFactory(title="Other's secret plan"), section="Secret section")
    prompts = prompt_suggestions(user=user)
    assert prompts[0] == "Summarise “Employee handbook”"
    assert prompts[1:3] == [
        "What does “Employee handbook” say about Parental leave?",
        "What does “Employee handbook” say about Expenses?",
    ]
    assert len(prompts) == 4 and prompts[3] in GENERIC
    assert not any("secret" in prompt.lower() for prompt in prompts)


def test_several_documents_without_headings_each_give_a_prompt(user):
    for title in ("Alpha notes", "Beta notes", "Gamma notes"):
        DocumentFactory(owner=user, title=title)
    prompts = prompt_suggestions(user=user)
    assert len(prompts) == 4
    assert sum("notes" in prompt for prompt in prompts) == 3


def test_a_long_title_is_shortened(user):
    DocumentFactory(owner=user, title="word " * 59)
    assert len(prompt_suggestions(user=user)[0]) < 80


def test_the_empty_chat_shows_them_and_each_starts_a_chat(user, user_client):
    DocumentFactory(owner=user, title="Garden <b>plans</b>")
    page = user_client.get(reverse("conversations:index")).content.decode()
    prompts = shown(page)
    assert prompts[0] == "Summarise “Garden <b>plans</b>”" and len(prompts) == 4
    assert "<b>plans</b>" not in page, "escaped"
    # Without script each is a form that starts the chat with its words.
    value = re.findall(r'name="content" value="([^"]*)">\s*<button[^>]*data-prompt-suggestion>', page)[0]
    response = user_client.post(reverse("conversations:new"), {"content": html.unescape(value)})
    assert response.status_code == 302
    conversation = Conversation.objects.get(user=user)
    assert Message.objects.get(conversation=conversation, role="user").content == prompts[0]


def test_no_prompts_when_the_preference_is_off_or_in_a_chat(user, user_client):
    Preferences.objects.create(user=user, prompt_suggestions=False)
    assert "data-prompt-suggestion" not in user_client.get(reverse("conversations:index")).content.decode()
    Preferences.objects.filter(user=user).update(prompt_suggestions=True)
    assert "data-prompt-suggestion" in user_client.get(reverse("conversations:index")).content.decode()
    chat = ConversationFactory(user=user)
    page = user_client.get(reverse("conversations:detail", args=[chat.id])).content.decode()
    assert "data-prompt-suggestion" not in page
