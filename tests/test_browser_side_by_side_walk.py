"""What a user who tried Open WebUI beside this app missed in the everyday chat, fixed and checked in a real
chromium (docs/decisions.md, "Side by side with Open WebUI, a user's view")."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.services import SYSTEM, provider_key_save
from tests.factories import UserFactory
from tests.live import signed_in

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
# A long reply: a paragraph a token, each a few lines high.
PARAGRAPHS = [f"Paragraph {i}: " + " ".join(f"word{j}" for j in range(40)) + "\n\n" for i in range(120)]


def chat_page(new_page, live_app, *, phone: bool = False, **options):
    user = UserFactory()
    provider_key_save(user=user, provider="anthropic", api_key="sk-ant-test-side-by-side-01", client=SYSTEM)
    page = signed_in(lambda: new_page(**options), live_app, user)
    if phone:
        page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/c/")
    return page


def send(page, text: str) -> None:
    first = page.url.endswith("/c/")
    box = page.get_by_role("textbox", name="Your message")
    box.fill(text)
    box.press("Enter")
    if first:  # a new chat's first message opens the chat's own page
        page.wait_for_url("**/c/*-*/")


def gap_below(page) -> float:
    return page.locator("#thread").evaluate("t => t.scrollHeight - t.scrollTop - t.clientHeight")


def test_a_streaming_reply_can_be_scrolled_up_in_small_steps_and_latest_brings_the_end_back(
    new_page, live_app, fake_anthropic
):
    fake_anthropic.behaviour.tokens = PARAGRAPHS
    fake_anthropic.behaviour.token_delay = 0.05
    page = chat_page(new_page, live_app)
    send(page, "Tell me a long story")
    latest = page.get_by_role("button", name="Scroll to the latest message")
    # The reply has filled the thread and is followed: no "Latest" while the reader is at its end.
    page.wait_for_function(
        "() => { const t = document.getElementById('thread'); return t && t.scrollHeight > t.clientHeight + 300; }"
    )
    expect(latest).to_be_hidden()
    assert gap_below(page) < 48

    # A trackpad's (or a finger's) scroll: small steps, each within a line of the end. The reply's next frame put the
    # thread back at its end after each one, so it could not be scrolled up at all while it streamed.
    box = page.locator("#thread").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(10):
        page.mouse.wheel(0, -20)
        page.wait_for_timeout(40)
    page.wait_for_timeout(600)  # several more paragraphs arrive meanwhile
    assert page.locator(".message[data-streaming]").count() == 1
    assert gap_below(page) > 150, "the reader's scroll up was undone by the streaming reply"
    expect(latest).to_be_visible()
    top = page.locator("#thread").evaluate("t => t.scrollTop")
    page.wait_for_timeout(400)
    assert page.locator("#thread").evaluate("t => t.scrollTop") == top  # left where the reader is

    # "Latest" brings the end back and follows the reply again; the keyboard goes on from the message box.
    latest.click()
    expect(latest).to_be_hidden()
    expect(page.get_by_role("textbox", name="Your message")).to_be_focused()
    page.wait_for_timeout(500)
    assert gap_below(page) < 48
    page.get_by_role("button", name="Stop").first.click()
    page.locator(".message-cancelled").wait_for()
    assert gap_below(page) < 48
    expect(latest).to_be_hidden()

    # Scrolled up in a finished chat, too (the keyboard: the thread is a focusable region).
    page.locator("#thread").focus()
    page.keyboard.press("Home")
    expect(latest).to_be_visible()
    page.wait_for_function("() => document.getElementById('thread').scrollTop === 0")  # the key's smooth scroll
    latest.focus()
    page.keyboard.press("Enter")
    expect(latest).to_be_hidden()
    assert gap_below(page) < 48
