"""A quoted passage in a real chromium: a code block in it keeps its line breaks and indentation, under the reply
(opened from its [n] marker) and on the passage's own page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from conversations.services import conversation_create
from tests.factories import ChunkFactory, DocumentFactory, MessageFactory, UserFactory
from tests.live import session_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
CODE = "```python\ndef water_needed(days):\n    if days > 3:\n        return days * 0.36\n    return 0\n```"
PASSAGE = f"Water in the morning. This works it out:\n\n{CODE}"


def test_a_code_block_in_a_quoted_passage_keeps_its_indentation(new_page, live_app):
    user = UserFactory()
    chunk = ChunkFactory(document=DocumentFactory(owner=user, title="Tomato growing guide"), text=PASSAGE)
    conversation = conversation_create(user=user, title="Watering")
    MessageFactory(conversation=conversation, content="How much water?")
    MessageFactory(
        conversation=conversation, role="assistant", content="Water in the morning [1].",
        metadata={"sources": [{"n": 1, "chunk_id": str(chunk.id), "title": "Tomato growing guide",
                               "chapter": "Watering", "section": "", "text": PASSAGE, "score": 0.7}]},
    )  # fmt: skip
    page = new_page()
    page.context.add_cookies([{"name": "sessionid", "value": session_for(user), "url": live_app.url}])
    page.goto(f"/c/{conversation.id}/")

    page.get_by_role("link", name="Source 1").click()
    quote = page.locator(".source-text")
    expect(quote).to_be_visible()
    shown = quote.inner_text()
    assert "def water_needed(days):\n    if days > 3:\n        return days * 0.36\n    return 0" in shown, shown

    page.get_by_role("link", name="Open in the document").click()
    passage = page.locator("#passage")
    expect(passage).to_be_visible()
    # The stylesheet first (a busy machine showed the new page's text before it): without it spaces collapse.
    expect(passage).to_have_css("white-space", "pre-wrap")
    assert "\n        return days * 0.36\n" in passage.inner_text()
