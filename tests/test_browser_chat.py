"""Chatting in a real chromium: the reply grows as it streams, Stop, Regenerate, reload mid-reply."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from accounts.services import SYSTEM, provider_key_save
from conversations.models import Message
from tests.factories import UserFactory
from tests.live import session_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
WORDS = [f" word{i}" for i in range(40)]


def signed_in_page(new_page, live_app):
    user = UserFactory()
    provider_key_save(user=user, provider="anthropic", api_key="sk-ant-test-browser-chat-01", client=SYSTEM)
    page = new_page()
    page.context.add_cookies([{"name": "sessionid", "value": session_for(user), "url": live_app.url}])
    page.goto("/c/")
    return page, user


def send(page, text: str) -> None:
    box = page.get_by_role("textbox", name="Your message")
    box.fill(text)
    box.press("Enter")


def streaming_lengths(page, duration: float) -> list[int]:
    lengths, deadline = [], time.monotonic() + duration
    while time.monotonic() < deadline:
        text = page.locator(".message[data-streaming] .streaming-text").all_inner_texts()
        if text:
            lengths.append(len(text[-1]))
        time.sleep(0.05)
    return lengths


def test_type_watch_it_stream_stop_regenerate_and_reload_mid_reply(new_page, live_app, fake_anthropic):
    fake_anthropic.behaviour.tokens = WORDS
    fake_anthropic.behaviour.token_delay = 0.08
    page, user = signed_in_page(new_page, live_app)

    # Type and press Enter: the reply grows in steps; the composer waits meanwhile.
    send(page, "Tell me a long story")
    page.locator(".message[data-streaming]").wait_for()
    expect(page.locator("[data-send]")).to_be_disabled()
    lengths = streaming_lengths(page, 1.2)
    assert len({n for n in lengths if n > 0}) >= 3, f"the reply should grow in several steps, saw {lengths}"

    # Stop: the partial text stays, marked stopped.
    page.get_by_role("button", name="Stop").first.click()
    stopped = page.locator(".message-cancelled")
    stopped.wait_for()
    assert "Stopped" in stopped.inner_text()
    partial = Message.objects.get(conversation__user=user, role="assistant")
    assert partial.status == "cancelled" and 0 < len(partial.content) < len("".join(WORDS))
    expect(page.locator("[data-send]")).to_be_enabled()

    # Regenerate: a second version, with ‹ 2/2 › to go back to the first.
    fake_anthropic.behaviour.token_delay = 0.0
    fake_anthropic.behaviour.tokens = [" A", " fresh", " answer."]
    page.get_by_role("button", name="Regenerate").click()
    page.locator(".message-assistant .markdown", has_text="A fresh answer.").wait_for()
    assert page.locator(".branch-position").inner_text() == "2/2"
    page.get_by_role("button", name="Previous version").click()
    page.locator(".branch-position", has_text="1/2").wait_for()
    assert "Stopped" in page.locator(".message-assistant").inner_text()

    # Reload in the middle of a reply: the page reopens the stream and it finishes with no duplicated text.
    page.get_by_role("button", name="Next version").click()
    page.locator(".branch-position", has_text="2/2").wait_for()
    fake_anthropic.behaviour.tokens = WORDS
    fake_anthropic.behaviour.token_delay = 0.05
    send(page, "Another long one")
    page.wait_for_function(
        "() => (document.querySelector('.message[data-streaming] .streaming-text')?.innerText.length || 0) > 20"
    )
    page.reload()
    final = page.locator(".message-assistant").last.locator(".markdown")
    final.wait_for(timeout=20_000)
    assert final.inner_text().strip() == "".join(WORDS).strip()
    saved = Message.objects.filter(conversation__user=user, role="assistant").latest("created_at")
    assert saved.status == "complete" and saved.content == "".join(WORDS)
