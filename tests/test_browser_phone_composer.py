"""A phone's composer in two rows, and each message's time, in a real chromium (docs/decisions.md, "A phone's
composer, and message times"): side by side with Open WebUI, the composer took 224 of a 390x844 screen's pixels
(the model menu, Thinking, the box and Send, Attach: five rows), and no message said when it was written."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from accounts.services import SYSTEM, provider_key_save
from conversations.models import Message
from tests.factories import ConversationFactory, MessageFactory, UserFactory
from tests.live import scrolls_sideways, signed_in

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
PHONE = {"width": 390, "height": 844}
LANDSCAPE = {"width": 844, "height": 390}


def chat_of(user, *, when: dt.datetime, **options):
    """A chat on a model that reasons (the Thinking menu shows), of two questions and their answers, a minute apart
    from `when`."""
    provider_key_save(user=user, provider="anthropic", api_key="sk-ant-test-phone-composer-01", client=SYSTEM)
    conversation = ConversationFactory(user=user, provider="anthropic", model="claude-sonnet-5-5", **options)
    parent = None
    for number in range(2):
        asked = when + dt.timedelta(minutes=2 * number)
        question = MessageFactory(conversation=conversation, parent=parent, role="user", created_at=asked,
                                  content=f"Question {number}: where should I walk today?")  # fmt: skip
        parent = MessageFactory(conversation=conversation, parent=question, role="assistant", model="claude-x",
                                created_at=asked + dt.timedelta(minutes=1), content="A short answer. " * 9)  # fmt: skip
    conversation.active_leaf = parent  # what is sent next follows on
    conversation.save(update_fields=["active_leaf"])
    return conversation


def box(locator) -> dict:
    return locator.bounding_box()


def test_a_phones_composer_is_two_rows_of_touch_targets_reached_by_keyboard_in_both_themes(new_page, live_app):
    user = UserFactory()
    conversation = chat_of(user, when=dt.datetime.now(dt.UTC))
    for scheme in ("light", "dark"):
        page = signed_in(lambda: new_page(color_scheme=scheme), live_app, user)
        page.set_viewport_size(PHONE)
        page.goto(f"/c/{conversation.id}/")
        attach = page.get_by_role("button", name="Attach files")
        attach.wait_for()  # attachments.js has shown it

        # Two rows: the model menu, its star, Thinking and Attach; then the box and Send. Before: 208 pixels of
        # composer (five rows), 493 of thread; now about 105 and 609.
        composer = box(page.locator("#composer"))
        assert composer["x"] == 12, "the chat column's padding on a phone (its rule lost to the wide screen's 16)"
        thread = page.locator("#thread").evaluate("t => t.clientHeight")
        assert composer["height"] <= 120, f"{scheme}: the composer is {composer['height']} pixels high"
        assert thread >= 580, f"{scheme}: the thread shows {thread} pixels"
        controls = [
            page.get_by_role("combobox", name="Model"), page.get_by_role("button", name="Favourite model"),
            page.get_by_role("combobox", name="Thinking"), attach,
        ]  # fmt: skip
        message, send = page.get_by_role("textbox", name="Your message"), page.get_by_role("button", name="Send")
        row, under = [box(control) for control in controls], [box(message), box(send)]
        for place in row + under:  # WCAG 2.2's 24 pixels at least (2.5.8); 44 high, as a finger wants
            assert place["width"] >= 40 and place["height"] >= 44, place
        assert max(p["y"] for p in row) - min(p["y"] for p in row) < 2, "the secondary controls share one row"
        assert all(p["x"] + p["width"] <= q["x"] + 1 for p, q in itertools.pairwise(row)), (
            "in their order, side by side"
        )
        assert under[0]["y"] >= max(p["y"] + p["height"] for p in row), "the box is under them"
        assert under[1]["x"] >= under[0]["x"] + under[0]["width"] and abs(under[1]["y"] - under[0]["y"]) < 2
        # The words are the controls' names, not on screen: the menus show their choice, the rest an icon drawn
        # in the text's colour (seen in the dark theme too).
        for word in ("[for=composer-model]", "[for=composer-effort] .composer-label", "[data-attachment-button] span"):
            assert page.locator(word).last.evaluate("e => e.getBoundingClientRect().width <= 1"), word
        icon = attach.locator(".composer-icon")
        assert icon.evaluate("i => getComputedStyle(i).backgroundColor") == attach.evaluate(
            "b => getComputedStyle(b).color"
        )
        assert not scrolls_sideways(page)

        # By keyboard, in the order they are read, each with its ring; Attach opens the file picker.
        controls[0].focus()
        for control in (*controls[:3], message, send, attach):
            expect(control).to_be_focused()
            outline = control.evaluate(
                "e => [getComputedStyle(e).outlineStyle, parseFloat(getComputedStyle(e).outlineWidth)]"
            )
            assert outline[0] != "none" and outline[1] >= 2, f"no visible focus: {outline}"
            page.keyboard.press("Tab")
        # (The picker itself is kept shut: headless chromium's file chooser event came only now and then.)
        page.locator("[data-attachment-input]").evaluate(
            "input => input.addEventListener('click', e => { e.preventDefault(); input.dataset.asked = 'yes'; })"
        )
        attach.focus()
        page.keyboard.press("Enter")
        expect(page.locator("[data-attachment-input]")).to_have_attribute("data-asked", "yes")

    # A phone held sideways (844x390: wider than 768) gets the two rows too: its composer took 168 of the 390
    # pixels (Attach files cut off at the bottom) and the thread 128. A long title keeps two lines there (beside
    # the header's buttons it took five, 130 pixels).
    page.set_viewport_size(LANDSCAPE)
    long = chat_of(user, when=dt.datetime.now(dt.UTC), title="Where should I walk today, " * 6)
    page.goto(f"/c/{long.id}/")
    attach.wait_for()
    composer = box(page.locator("#composer"))
    assert composer["height"] <= 120 and composer["y"] + composer["height"] <= LANDSCAPE["height"], composer
    row = [box(control) for control in controls]
    assert max(p["y"] for p in row) - min(p["y"] for p in row) < 2, "the secondary controls share one row"
    assert box(message)["y"] >= max(p["y"] + p["height"] for p in row), "the box is under them"
    assert page.locator("[data-attachment-button] span").last.evaluate("e => e.getBoundingClientRect().width <= 1")
    title = page.locator(".chat-title").evaluate(
        "t => t.getBoundingClientRect().height / parseFloat(getComputedStyle(t).lineHeight)"
    )
    assert title <= 2.1, f"the title takes {title} lines"
    thread = page.locator("#thread").evaluate("t => t.clientHeight")
    assert thread >= 140, f"the thread shows {thread} pixels"

    # A wide screen keeps its rows and its words: Model, Thinking, the box beside Send, Attach files under it.
    page.set_viewport_size({"width": 1280, "height": 900})
    expect(page.locator("label[for=composer-model]")).to_have_text("Model")
    assert box(page.locator("label[for=composer-model]"))["width"] > 20
    expect(attach).to_have_text("Attach files")
    assert box(attach)["y"] >= box(message)["y"] + box(message)["height"], "Attach files is under the box"
    expect(attach.locator(".composer-icon")).to_be_hidden()


def test_each_message_shows_when_it_was_written_in_the_readers_time_zone(new_page, live_app, fake_anthropic):
    """The server's zone is UTC, the reader's Tokyo (UTC+9): the times are Tokyo's, written by the browser from
    each <time>'s instant, for the chat's older messages, a question just sent, its reply once streamed to its end,
    and on the chat's shared page."""
    fake_anthropic.behaviour.reply = "The park, then the river."
    fake_anthropic.behaviour.token_delay = 0.02
    user = UserFactory()
    long_ago = dt.datetime(2025, 3, 4, 0, 5, 30, tzinfo=dt.UTC)  # 9:05 on the 4th in Tokyo, 00:05 in UTC
    conversation = chat_of(user, when=long_ago, visibility="public")
    page = signed_in(lambda: new_page(locale="en-GB", timezone_id="Asia/Tokyo"), live_app, user)
    page.goto(f"/c/{conversation.id}/")
    page.wait_for_load_state("load")

    first = page.locator(".message-user").first.locator("time")
    expect(first).to_have_attribute("datetime", "2025-03-04T00:05:30Z")
    expect(first).to_have_text("4 Mar 2025, 9:05")  # another year: the day and the year before the time
    expect(first).to_have_attribute("title", "Tuesday, 4 March 2025 at 09:05 GMT+9")
    assert first.evaluate("t => t.closest('.message-meta') !== null"), "beside the message's author"

    message = page.get_by_role("textbox", name="Your message")
    message.fill("And tomorrow?")
    message.press("Enter")  # the question comes in by htmx, the reply by its stream's events
    reply = page.locator(".message-assistant").last
    expect(reply.locator(".markdown")).to_have_text("The park, then the river.")
    expect(reply).not_to_have_attribute("data-streaming", "")
    tokyo = ZoneInfo("Asia/Tokyo")
    for role, shown in (("user", page.locator(".message-user").last), ("assistant", reply)):
        written = Message.objects.filter(conversation=conversation, role=role).latest("created_at").created_at
        time = shown.locator("time")
        expect(time).to_have_attribute("datetime", written.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        local = written.astimezone(tokyo)
        expect(time).to_have_text(f"{local.hour}:{local:%M}")  # today: the time alone, Tokyo's
        title = time.get_attribute("title")
        assert f"{local:%A}" in title and f"{local:%Y} at {local:%H:%M} GMT+9" in title, title

    # The shared page, read by someone signed out, in their own zone.
    reader = new_page(locale="en-GB", timezone_id="Asia/Tokyo")
    reader.goto(reverse("conversations:shared", args=[conversation.id]))
    times = reader.locator(".shared-conversation time")
    expect(times).to_have_count(6)
    expect(times.first).to_have_text("4 Mar 2025, 9:05")
    expect(times.first).to_have_attribute("title", "Tuesday, 4 March 2025 at 09:05 GMT+9")
