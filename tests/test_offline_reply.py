"""What the offline assistant says: true to what happened (was anything searched?) and to every provider."""

from __future__ import annotations

import pytest

from chatbot.llm.base import ChatRequest, PromptMessage
from chatbot.llm.offline import offline_reply

QUESTION = [PromptMessage(role="user", content="How do I descale the oven?")]


@pytest.mark.django_db
def test_with_retrieval_off_it_does_not_claim_to_have_searched():
    text = offline_reply(ChatRequest(model="offline", messages=QUESTION, documents_searched=False))
    assert "found nothing in your documents" not in text
    assert "This conversation has no language model" in text


@pytest.mark.django_db
def test_a_search_that_found_nothing_says_so():
    text = offline_reply(ChatRequest(model="offline", messages=QUESTION, documents_searched=True))
    assert "I also found nothing in your documents" in text


@pytest.mark.django_db
def test_it_names_every_kind_of_provider_not_only_claude():
    text = offline_reply(ChatRequest(model="offline", messages=QUESTION))
    assert "[Settings → API keys](/settings/keys/)" in text
    assert all(name in text for name in ("Claude", "GPT", "Gemini", "Ollama"))
    assert "chat with a model using your own API key" in offline_reply(
        ChatRequest(model="offline", messages=QUESTION), guest=True
    )
