"""What a tenth walk through the app found, each checked in a real chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.factories import ConversationFactory, MessageFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
PHONE = {"width": 375, "height": 740}


def shared_chat(*replies: tuple[str, str]):
    """A shared chat of one question per reply (content, status), each answered, on its active path."""
    from conversations.models import Conversation

    conversation = ConversationFactory(user=UserFactory(), title="Teapots")
    parent = None
    for index, (content, status) in enumerate(replies):
        question = MessageFactory(conversation=conversation, parent=parent, role="user", content=f"Question {index}")
        parent = MessageFactory(
            conversation=conversation, parent=question, role="assistant", content=content, model="x", status=status
        )
    Conversation.objects.filter(id=conversation.id).update(
        visibility=Conversation.Visibility.PUBLIC, active_leaf=parent
    )
    return conversation


def test_the_shared_page_marks_a_reply_stopped_before_its_end_as_its_owners_page_does(new_page, live_app):
    conversation = shared_chat(("Teapots are made of", "cancelled"), ("A full answer.", "complete"))
    page = new_page()
    page.goto(f"/c/shared/{conversation.id}/")

    # Its owner sees "Stopped" beside the reply; a reader of the link saw the cut-off words as the whole answer.
    stopped = page.get_by_role("article", name="Answer, stopped before the end")
    expect(stopped).to_have_count(1)
    expect(stopped.locator(".badge")).to_have_text("Stopped")
    expect(stopped).to_contain_text("Teapots are made of")
    expect(stopped.get_by_text("before the end of the answer")).to_be_visible()
    # The finished answer carries no such mark.
    finished = page.get_by_role("article", name="Answer", exact=True)
    expect(finished).to_have_count(1)
    expect(finished.locator(".badge")).to_have_count(0)
