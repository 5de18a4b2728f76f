"""Chatting in a real chromium: the reply grows as it streams, Stop, Regenerate, reload mid-reply; the composer's
refusals, the long-paste counter, markdown while streaming, Edit's Cancel."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.services import SYSTEM, provider_key_save
from conversations.models import Conversation, Message
from conversations.services import conversation_create
from tests.factories import GuestFactory, UserFactory
from tests.live import session_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
WORDS = [f" word{i}" for i in range(40)]
# The server's rendering of a finished reply (a streaming one has its own, client-side .markdown).
RENDERED = ".markdown:not(.streaming-markdown)"
FINISHED_REPLY = f".message-assistant {RENDERED}"


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

    # Type and double-click Send (an impatient finger): one chat, not two of the same question; the reply grows in
    # steps, the composer waits meanwhile.
    page.get_by_role("textbox", name="Your message").fill("Tell me a long story")
    page.get_by_role("button", name="Send").dblclick()
    page.locator(".message[data-streaming]").wait_for()
    expect(page.locator("[data-send]")).to_be_disabled()
    lengths = streaming_lengths(page, 1.2)
    assert len({n for n in lengths if n > 0}) >= 3, f"the reply should grow in several steps, saw {lengths}"

    # Stop: the partial text stays, marked stopped.
    page.get_by_role("button", name="Stop").first.click()
    stopped = page.locator(".message-cancelled")
    stopped.wait_for()
    assert "Stopped" in stopped.inner_text()
    assert Conversation.objects.filter(user=user).count() == 1
    partial = Message.objects.get(conversation__user=user, role="assistant")
    assert partial.status == "cancelled" and 0 < len(partial.content) < len("".join(WORDS))
    expect(page.locator("[data-send]")).to_be_enabled()

    # Regenerate: a second version, with ‹ 2/2 › to go back to the first.
    fake_anthropic.behaviour.token_delay = 0.0
    fake_anthropic.behaviour.tokens = [" A", " fresh", " answer."]
    page.get_by_role("button", name="Regenerate").click()
    page.locator(FINISHED_REPLY, has_text="A fresh answer.").wait_for()
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
    final = page.locator(".message-assistant").last.locator(RENDERED)
    final.wait_for(timeout=20_000)
    assert final.inner_text().strip() == "".join(WORDS).strip()
    saved = Message.objects.filter(conversation__user=user, role="assistant").latest("created_at")
    assert saved.status == "complete" and saved.content == "".join(WORDS)


def test_composer_refusals_keep_the_text_and_say_why_and_the_stop_button_hides(new_page, live_app, fake_anthropic):
    page, user = signed_in_page(new_page, live_app)
    conversation = conversation_create(user=user, title="Refusals")
    page.goto(f"/c/{conversation.id}/")
    box = page.get_by_role("textbox", name="Your message")
    error = page.locator("#composer-error")

    # Idle: the composer's Stop is neither shown nor reachable with Tab (`.button` used to beat `hidden`).
    stop = page.locator("[data-composer-stop]")
    expect(stop).to_be_hidden()
    assert stop.evaluate("el => getComputedStyle(el).display") == "none"
    page.locator("[data-send]").focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.hasAttribute('data-composer-stop')") is False

    # Empty, then only blanks: refused with a reason, the text and the focus stay in the box.
    box.focus()
    box.press("Enter")
    expect(error).to_have_text("Write a message first.")
    expect(box).to_be_focused()
    expect(box).to_have_attribute("aria-invalid", "true")
    box.fill("   \n   ")
    page.locator("[data-send]").click()
    expect(error).to_have_text("Write a message first.")
    expect(box).to_have_value("   \n   ")
    expect(box).to_be_focused()

    # A long paste: the counter shows near the limit, past it sending is refused with the reason, nothing is cut.
    counter = page.locator("#composer-input-count")
    box.fill("")
    page.keyboard.insert_text("x" * 17_000)
    expect(counter).to_be_visible()
    expect(counter).to_contain_text("17,000 / 20,000")
    expect(error).to_be_empty()
    page.keyboard.insert_text("y" * 3_500)
    expect(counter).to_contain_text("20,500 / 20,000")
    expect(page.locator("[data-send]")).to_be_disabled()
    expect(error).to_contain_text("too long")
    box.press("Enter")
    assert box.evaluate("el => el.value.length") == 20_500, "the pasted text must not be cut"
    assert box.get_attribute("maxlength") is None
    time.sleep(0.3)
    assert not Message.objects.filter(conversation=conversation).exists(), "nothing is sent past the limit"

    # Back under the limit: counter and error go, and the message is sent; the box empties only then.
    fake_anthropic.behaviour.tokens = [" Fine."]
    box.fill("A short question")
    expect(counter).to_be_hidden()
    expect(error).to_be_empty()
    expect(box).not_to_have_attribute("aria-invalid", "true")
    box.press("Enter")
    page.locator(FINISHED_REPLY, has_text="Fine.").wait_for()
    expect(box).to_have_value("")


def test_a_guest_over_the_daily_limit_reads_why_and_keeps_the_message(new_page, live_app, fake_anthropic):
    guest = GuestFactory(daily_message_count=10_000, daily_message_reset_on=timezone.now().astimezone(dt.UTC).date())
    page = new_page()
    page.context.add_cookies([{"name": "sessionid", "value": session_for(guest), "url": live_app.url}])
    page.goto("/c/")
    send(page, "My twenty-first question")
    error = page.locator("#composer-error")
    expect(error).to_contain_text("messages for today")
    expect(error).to_have_attribute("role", "alert")
    box = page.get_by_role("textbox", name="Your message")
    expect(box).to_have_value("My twenty-first question")
    expect(box).to_be_focused()
    assert not Message.objects.filter(conversation__user=guest).exists()


def test_the_reply_renders_markdown_while_streaming_quietly_for_screen_readers_and_edit_cancels(
    new_page, live_app, fake_anthropic
):
    fake_anthropic.behaviour.first_token_delay = 1.5
    fake_anthropic.behaviour.token_delay = 0.25
    fake_anthropic.behaviour.tokens = [
        "Here is ", "**bold", " text**", " and", " `code`", " <b>raw</b>", " [site](https://example.com)",
        " [bad](javascript:alert(1))", " to", " end", " with."
    ]  # fmt: skip
    page, user = signed_in_page(new_page, live_app)
    problems = []  # script errors and CSP refusals (the vendored renderers must run under script-src 'self')
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    conversation = conversation_create(user=user, title="Markdown")
    assert conversation.retrieval_enabled, "on by default"
    page.goto(f"/c/{conversation.id}/")
    send(page, "Show me some markdown")

    # Before the first token: a pending state that says what is happening (retrieval is on, but this user has no
    # documents: nothing is said to be read from them; test_chat_rag covers a user with some).
    streaming = page.locator(".message[data-streaming]")
    expect(streaming.get_by_text("Thinking…")).to_be_visible()
    # Words are not announced one by one: nothing around the growing reply is a live region.
    assert streaming.evaluate("el => el.closest('[aria-live]')") is None
    assert page.locator("#thread").get_attribute("aria-live") is None

    # The bold text is bold while the reply is still streaming, and the pending state is gone.
    streaming.locator("strong", has_text="bold text").wait_for()
    assert page.locator(".message[data-streaming]").count() == 1, "rendered before the done event"
    expect(streaming.get_by_text("Thinking…")).to_be_hidden()
    # As safe as the server's rendering: raw HTML stays text, links get rel, a javascript: link is no link.
    rendered = streaming.locator(".streaming-markdown")
    rendered.get_by_role("link", name="site").wait_for()
    assert page.locator(".message[data-streaming]").count() == 1
    assert rendered.get_by_role("link", name="site").get_attribute("rel") == "nofollow noopener noreferrer"
    assert rendered.locator("b").count() == 0 and "<b>raw</b>" in rendered.inner_text()
    assert rendered.locator("a[href^='javascript']").count() == 0

    # Done: the server's rendering replaces it, and the finished reply is announced once, politely.
    final = page.locator(FINISHED_REPLY)
    final.locator("code", has_text="code").wait_for()
    assert final.locator("strong").inner_text() == "bold text"
    announcer = page.locator("#chat-announcer")
    expect(announcer).to_have_attribute("aria-live", "polite")
    expect(announcer).to_contain_text("Here is bold text and code <b>raw</b> site")

    # Edit, change the text, Cancel: the message is shown again as it was. Escape cancels too.
    user_message = page.locator(".message-user").last
    user_message.get_by_text("Edit", exact=True).click()
    editor = user_message.get_by_role("textbox", name="Edit your message")
    expect(editor).to_be_focused()
    editor.fill("Something else")
    user_message.get_by_role("button", name="Cancel").click()
    expect(editor).to_be_hidden()
    expect(user_message.locator(".user-text")).to_have_text("Show me some markdown")
    expect(user_message.locator("summary")).to_be_focused()
    user_message.get_by_text("Edit", exact=True).click()
    expect(editor).to_have_value("Show me some markdown")
    editor.fill("Changed again")
    editor.press("Escape")
    expect(editor).to_be_hidden()
    expect(user_message.locator(".user-text")).to_be_visible()
    assert Message.objects.filter(conversation=conversation, role="user").count() == 1
    assert problems == []


def test_a_send_refused_by_a_reply_from_another_tab_shows_that_reply_and_clears_when_it_ends(
    new_page, live_app, fake_anthropic
):
    page, user = signed_in_page(new_page, live_app)
    conversation = conversation_create(user=user, title="Two tabs")
    page.goto(f"/c/{conversation.id}/")
    page.wait_for_load_state("load")
    other_tab = page.context.new_page()
    other_tab.goto(f"/c/{conversation.id}/")
    other_tab.wait_for_load_state("load")

    fake_anthropic.behaviour.token_delay = 0.08
    fake_anthropic.behaviour.tokens = WORDS[:25]
    send(page, "Asked in the first tab")
    page.locator(".message[data-streaming]").wait_for()
    send(other_tab, "Asked in the second tab, too early")

    # The second tab says why, keeps its text, and shows the reply it waits for, streaming there too.
    error = other_tab.locator("#composer-error")
    expect(error).to_contain_text("Wait for the current reply to finish")
    expect(other_tab.get_by_role("textbox", name="Your message")).to_have_value("Asked in the second tab, too early")
    expect(other_tab.locator(".message-user", has_text="Asked in the first tab")).to_be_visible()
    expect(other_tab.locator(".message[data-streaming]")).to_have_count(1)
    assert other_tab.locator("#thread").count() == 1, "the thread is replaced, not nested"

    # When that reply ends, the refusal is answered: it is no longer on screen, and Send works.
    expect(other_tab.locator(FINISHED_REPLY)).to_contain_text("word24", timeout=15_000)
    expect(error).to_be_empty()
    other_tab.get_by_role("textbox", name="Your message").press("Enter")
    expect(other_tab.locator(".message-user", has_text="Asked in the second tab, too early")).to_be_visible()
