"""Attachments in a real chromium, without text and across an edit: a pasted screenshot alone is sent (Enter, no
text), and the question's Edit form lists its file as a ticked "keep" box that the edited message carries, by
keyboard, at desktop and phone widths."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from conversations.models import Message
from tests.factories import ConversationFactory, UserFactory
from tests.live import scrolls_sideways
from tests.test_browser_attachments import PASTE, open_chat

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", [1280, 375])
def test_a_screenshot_alone_is_sent_and_an_edit_keeps_it(new_page, live_app, width):
    user = UserFactory()
    conversation = ConversationFactory(user=user, provider="offline", model="offline", title="Only a picture")
    page = open_chat(new_page, live_app, user, conversation, width=width)
    page.evaluate(PASTE, "screen.png")
    expect(page.locator("[data-attachment-chip]")).to_have_count(1)
    page.get_by_role("textbox", name="Your message", exact=True).press("Enter")  # no text: the file is the message
    question = page.locator(".message-user").last
    expect(question.get_by_role("img", name="screen.png (opens full size)")).to_be_visible()
    expect(page.locator("#composer-error")).to_have_text("")
    expect(page.locator(".message[data-streaming]")).to_have_count(0, timeout=20_000)  # the reply finished

    question.get_by_text("Edit", exact=True).click()
    keep = question.get_by_role("checkbox", name="screen.png")
    expect(keep).to_be_checked()
    expect(question.get_by_role("group", name="Files sent with the edited message")).to_be_visible()
    box = question.get_by_role("textbox", name="Edit your message")
    box.fill("Now with words")
    keep.focus()
    page.keyboard.press("Tab")  # on to the form's buttons, by keyboard
    question.get_by_role("button", name="Send edited").press("Enter")
    edited = page.locator(".message-user").filter(has_text="Now with words")
    expect(question.locator("[data-error-slot]")).to_have_text("")
    expect(edited).to_have_count(1)
    expect(edited.get_by_role("img", name="screen.png (opens full size)")).to_be_visible()
    latest = Message.objects.filter(conversation=conversation, role="user").latest("created_at")
    assert latest.content == "Now with words" and latest.attachments.get().original_name == "screen.png"
    assert not scrolls_sideways(page)
