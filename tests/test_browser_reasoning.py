"""Reasoning effort in chromium (issue 14): the Thinking menu beside the model menu follows the chosen model (shown
only for one that reasons), works by keyboard and on a phone; the reply's Thinking section grows while it streams,
stays collapsed, apart from the answer, and opens by keyboard."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.services import SYSTEM, provider_key_save
from tests.factories import UserFactory
from tests.live import scrolls_sideways, session_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

THINKING = [f" step {number}." for number in range(1, 13)]


def test_the_thinking_section_grows_while_streaming_and_stays_collapsed(new_page, live_app, fake_openai):
    user = UserFactory()
    provider_key_save(user=user, provider="openai", api_key="key-openai-0123456789-abcd", client=SYSTEM)
    fake_openai.behaviour.thinking = THINKING
    fake_openai.behaviour.reply = "The answer is **42**."
    fake_openai.behaviour.token_delay = 0.2
    page = new_page()
    page.set_viewport_size({"width": 375, "height": 800})
    page.context.add_cookies([{"name": "sessionid", "value": session_for(user), "url": live_app.url}])
    page.goto("/c/")

    model = page.get_by_role("combobox", name="Model")
    effort = page.get_by_role("combobox", name="Thinking")
    expect(model).to_have_value("openai:gpt-5.5")  # reasons: the menu is offered
    expect(effort).to_be_visible()
    expect(effort).to_have_value("")
    assert not scrolls_sideways(page)
    model.select_option("openai:gpt-4.1")  # does not reason: no menu, nothing sent
    hidden = page.locator("#composer-effort")  # out of the accessibility tree now: found by id
    expect(hidden).to_be_hidden()
    expect(hidden).to_be_disabled()
    model.select_option("openai:gpt-5.5")
    expect(effort).to_be_visible()
    page.set_viewport_size({"width": 1280, "height": 900})
    effort.focus()
    effort.select_option("high")  # as a keyboard's arrow keys would
    expect(effort).to_be_focused()

    box = page.get_by_role("textbox", name="Your message")
    box.fill("What is six times seven?")
    box.press("Enter")
    page.wait_for_url("**/c/*-*/")
    streaming = page.locator(".message-assistant[data-streaming]")
    details = streaming.locator("details.thinking")
    expect(details).to_be_visible()
    text = details.locator(".thinking-text")
    first = len(text.text_content())
    # It grows while the reply streams, and nobody opened it: it stays collapsed.
    grown = "n => (document.querySelector('[data-streaming] .thinking-text') || {textContent: ''}).textContent.length>n"
    page.wait_for_function(grown, arg=first)
    assert details.evaluate("d => d.open") is False
    assert fake_openai.requests[-1]["body"]["reasoning_effort"] == "high"

    reply = page.locator(".message-assistant").last
    expect(reply.locator(".markdown")).to_have_text("The answer is 42.")
    expect(reply).not_to_have_attribute("data-streaming", "")
    finished = reply.locator("details.thinking")
    assert finished.evaluate("d => d.open") is False
    summary = finished.locator("summary")
    summary.focus()
    expect(summary).to_be_focused()
    page.keyboard.press("Enter")
    assert finished.evaluate("d => d.open") is True
    expect(finished.locator(".thinking-text")).to_have_text("".join(THINKING))
    assert "step" not in reply.locator(".markdown").text_content()  # the answer stands apart
    # A reload shows it the same way, and the menu keeps the effort the conversation last asked for.
    page.reload()
    expect(page.locator(".message-assistant details.thinking .thinking-text")).to_have_text("".join(THINKING))
    assert page.locator(".message-assistant details.thinking").evaluate("d => d.open") is False
    expect(page.get_by_role("combobox", name="Thinking")).to_have_value("high")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_thinking_section_reads_in_both_themes(new_page, live_app, scheme):
    from conversations.models import Conversation, Message

    user = UserFactory()
    conversation = Conversation.objects.create(user=user, provider="offline", model="offline", title="Theme")
    question = Message.objects.create(conversation=conversation, role="user", content="Why?")
    answer = Message.objects.create(
        conversation=conversation, parent=question, role="assistant", content="Because.",
        parts=[{"type": "thinking", "text": "Considering it."}, {"type": "text", "text": "Because."}],
    )  # fmt: skip
    conversation.active_leaf = answer
    conversation.save()
    page = new_page()
    page.emulate_media(color_scheme=scheme)
    page.context.add_cookies([{"name": "sessionid", "value": session_for(user), "url": live_app.url}])
    page.goto(f"/c/{conversation.id}/")
    summary = page.locator("details.thinking summary")
    summary.focus()
    colours = summary.evaluate(
        """s => {
            const parse = c => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
            const luminance = ([r, g, b]) => {
                const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
                return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
            };
            let node = s, background = 'rgba(0, 0, 0, 0)';
            while (node && /rgba\\(0, 0, 0, 0\\)|transparent/.test(background)) {
                background = getComputedStyle(node).backgroundColor;
                node = node.parentElement;
            }
            const [a, b] = [luminance(parse(getComputedStyle(s).color)), luminance(parse(background))];
            const contrast = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
            return {contrast: contrast, outline: getComputedStyle(s).outlineStyle};
        }"""
    )
    assert colours["contrast"] >= 4.5, colours
    assert colours["outline"] != "none", "a visible focus ring"
