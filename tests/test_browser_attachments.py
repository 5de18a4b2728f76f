"""Attachments in a real chromium: a screenshot pasted into the composer becomes a chip, goes with the message and
shows in the question's bubble as a thumbnail that loads; a refused file is explained; a chip is removed by
keyboard."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from conversations.models import Attachment, Message
from tests.factories import ConversationFactory, UserFactory
from tests.live import scrolls_sideways, session_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# A 2 x 2 PNG drawn by the page's own canvas, put on the clipboard event as a file (what a screenshot paste is).
PASTE = """async (name) => {
  const canvas = document.createElement("canvas");
  canvas.width = 2; canvas.height = 2;
  canvas.getContext("2d").fillRect(0, 0, 2, 2);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
  const data = new DataTransfer();
  data.items.add(new File([blob], name, { type: "image/png" }));
  const input = document.getElementById("composer-input");
  input.focus();
  input.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true }));
}"""

PASTE_TEXT_FILE = """(name) => {
  const data = new DataTransfer();
  data.items.add(new File(["MZ\\u0000\\u0001 not really a picture"], name, { type: "image/png" }));
  const input = document.getElementById("composer-input");
  input.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true }));
}"""


def open_chat(new_page, live_app, user, conversation, *, width: int = 1280):
    page = new_page()
    page.set_viewport_size({"width": width, "height": 900})
    page.context.add_cookies([{"name": "sessionid", "value": session_for(user), "url": live_app.url}])
    page.goto(f"/c/{conversation.id}/")
    return page


@pytest.mark.parametrize("width", [1280, 375])
def test_a_pasted_screenshot_is_sent_with_the_message_and_shown_in_the_thread(new_page, live_app, width):
    user = UserFactory()
    conversation = ConversationFactory(user=user, provider="offline", model="offline", title="Screenshots")
    page = open_chat(new_page, live_app, user, conversation, width=width)
    expect(page.get_by_role("button", name="Attach files")).to_be_visible()

    page.evaluate(PASTE, "screenshot.png")
    chip = page.locator("[data-attachment-chip]")
    expect(chip).to_have_count(1)
    expect(chip).to_contain_text("screenshot.png")
    expect(chip.get_by_role("button", name="Remove screenshot.png")).to_be_visible()

    page.get_by_role("textbox", name="Your message", exact=True).fill("What is in this screenshot?")
    page.get_by_role("textbox", name="Your message", exact=True).press("Enter")
    question = page.locator(".message-user").last
    expect(question).to_contain_text("What is in this screenshot?")
    image = question.get_by_role("img", name="screenshot.png (opens full size)")
    expect(image).to_be_visible()
    page.wait_for_function(
        "() => { const img = document.querySelector('.message-user .attachment-image'); "
        "return img && img.complete && img.naturalWidth === 2; }"
    )
    expect(page.locator("[data-attachment-chip]")).to_have_count(0)  # the composer is empty again
    sent = Message.objects.get(conversation=conversation, role="user")
    attachment = Attachment.objects.get(user=user)
    assert attachment.message_id == sent.id and attachment.mime_type == "image/png"
    assert not scrolls_sideways(page)


def test_a_refused_file_is_explained_and_a_chip_is_removed_by_keyboard(new_page, live_app):
    user = UserFactory()
    conversation = ConversationFactory(user=user, provider="offline", model="offline", title="Files")
    page = open_chat(new_page, live_app, user, conversation)
    page.evaluate(PASTE_TEXT_FILE, "fake.png")
    expect(page.locator("#composer-error")).to_contain_text("fake.png")
    expect(page.locator("[data-attachment-chip]")).to_have_count(0)
    assert not Attachment.objects.exists()
    # Two refused at once: each says why (only the last one did).
    page.locator("[data-attachment-input]").set_input_files(
        [
            {"name": "junk.pdf", "mimeType": "application/pdf", "buffer": b"\x00\x01 not a pdf"},
            {"name": "empty.txt", "mimeType": "text/plain", "buffer": b""},
        ]
    )
    expect(page.locator("#composer-error p")).to_have_count(2)
    expect(page.locator("#composer-error")).to_contain_text("junk.pdf")
    expect(page.locator("#composer-error")).to_contain_text("empty.txt")
    assert "fake.png" not in page.locator("#composer-error").inner_text(), "the last batch's refusal was read"

    page.evaluate(PASTE, "keep.png")
    remove = page.get_by_role("button", name="Remove keep.png")
    expect(remove).to_be_visible()
    remove.focus()
    page.keyboard.press("Enter")
    expect(page.locator("[data-attachment-chip]")).to_have_count(0)
    expect(page.get_by_role("textbox", name="Your message", exact=True)).to_be_focused()
    for _ in range(50):  # the removal's request runs in the background
        if not Attachment.objects.exists():
            break
        page.wait_for_timeout(100)
    assert not Attachment.objects.exists()
