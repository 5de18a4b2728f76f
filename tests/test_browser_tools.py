"""Tool approval in a real chromium: a write call waits with its card in the reply, Approve (by keyboard) runs it,
and the reply goes on streaming in the same bubble; the card survives a reload."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from accounts.services import SYSTEM, provider_key_save
from conversations.models import ToolExecution
from documents.models import Document
from tests.factories import UserFactory
from tests.fake_tools import last_tool_results
from tests.live import scrolls_sideways, session_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def in_order(reply) -> list[str]:
    """The reply's text parts and tool cards, in the order they stand in the page."""
    return reply.evaluate(
        """r => Array.from(r.querySelectorAll('.markdown:not(.streaming-markdown), .tool-card'))
                 .map(e => e.classList.contains('tool-card') ? 'card' : 'text')"""
    )


def wait_for_order(page, order: str) -> None:
    """Wait until the last reply's text parts and cards stand in this order ("text,card")."""
    page.wait_for_function(
        """order => {
            const reply = [...document.querySelectorAll('.message-assistant')].pop();
            if (!reply) return false;
            const seen = Array.from(reply.querySelectorAll('.markdown:not(.streaming-markdown), .tool-card'))
                .map(e => e.classList.contains('tool-card') ? 'card' : 'text');
            return seen.join() === order;
        }""",
        arg=order,
        timeout=10_000,
    )


def signed_in_page(new_page, live_app, *, width: int = 1280):
    user = UserFactory()
    provider_key_save(user=user, provider="anthropic", api_key="sk-ant-test-browser-tools-1", client=SYSTEM)
    page = new_page()
    page.set_viewport_size({"width": width, "height": 800})
    page.context.add_cookies([{"name": "sessionid", "value": session_for(user), "url": live_app.url}])
    page.goto("/c/")
    return page, user


@pytest.mark.parametrize("width", [1280, 375])
def test_a_write_call_approved_and_the_reply_continues_in_the_same_bubble(new_page, live_app, fake_anthropic, width):
    fake_anthropic.tool_script[:] = [
        {"text": "I will write it down.",
         "calls": [{"name": "create_document", "input": {"title": "Groceries", "content": "- eggs\n- <b>flour</b>"}}]},
        {"text": lambda body: "Saved. " + last_tool_results(body)[0]},
    ]  # fmt: skip
    page, user = signed_in_page(new_page, live_app, width=width)
    box = page.get_by_role("textbox", name="Your message")
    box.fill("Keep my grocery list")
    box.press("Enter")

    card = page.locator(".tool-card-pending")
    expect(card).to_be_visible(timeout=30_000)  # the first reply of a fresh server, on a busy machine
    expect(card.get_by_role("heading")).to_contain_text("create_document")
    expect(card.locator(".tool-args")).to_contain_text('"title": "Groceries"')
    expect(card.locator(".tool-args")).to_contain_text("<b>flour</b>")  # shown as text, never as markup
    # The reply waits for the reader, not for the model: no "Thinking…" under the card.
    expect(page.locator(".message-assistant .pending")).to_be_hidden()
    # The text written before the call stays above its card (rendered for good); what follows will stream below.
    wait_for_order(page, "text,card")
    expect(page.locator(".message-assistant .markdown:not(.streaming-markdown)")).to_have_text(
        ["I will write it down."]
    )
    bubble = page.locator(".message-assistant").last
    bubble_id = bubble.get_attribute("id")
    assert not Document.objects.filter(owner=user).exists()

    # A reload shows the card again (the state is in the database, not in the page).
    page.reload()
    card = page.locator(".tool-card-pending")
    expect(card).to_be_visible()
    wait_for_order(page, "text,card")  # drawn above the text by the page, moved below it as the text streams in
    expect(page.locator(".message-assistant .pending")).to_be_hidden()

    approve = card.get_by_role("button", name="Approve", exact=True)
    approve.focus()
    page.keyboard.press("Enter")
    reply = page.locator(f"#{bubble_id}")
    expect(reply.locator(".markdown:not(.streaming-markdown)")).to_have_text(
        ["I will write it down.", re.compile("^Saved. Created the document “Groceries”")], timeout=20_000
    )
    assert in_order(reply) == ["text", "card", "text"]
    expect(page.locator(".message-assistant")).to_have_count(1)
    expect(reply.locator(".tool-card-completed summary")).to_contain_text("create_document")
    expect(page.locator(".tool-card-pending")).to_have_count(0)
    assert Document.objects.get(owner=user).title == "Groceries"
    assert ToolExecution.objects.get(conversation__user=user).status == "completed"
    width_ok = not scrolls_sideways(page)
    assert width_ok, "no sideways scrolling"
