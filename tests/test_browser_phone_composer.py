"""A phone's composer in two rows, in a real chromium (docs/decisions.md, "A phone's composer, and message times"):
side by side with Open WebUI, the composer took 224 of a 390x844 screen's pixels (the model menu, Thinking, the box
and Send, Attach: five rows)."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from playwright.sync_api import expect

from accounts.services import SYSTEM, provider_key_save
from tests.factories import ConversationFactory, MessageFactory, UserFactory
from tests.live import scrolls_sideways, signed_in

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
PHONE = {"width": 390, "height": 844}


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

    # A wide screen keeps its rows and its words: Model, Thinking, the box beside Send, Attach files under it.
    page.set_viewport_size({"width": 1280, "height": 900})
    expect(page.locator("label[for=composer-model]")).to_have_text("Model")
    assert box(page.locator("label[for=composer-model]"))["width"] > 20
    expect(attach).to_have_text("Attach files")
    assert box(attach)["y"] >= box(message)["y"] + box(message)["height"], "Attach files is under the box"
    expect(attach.locator(".composer-icon")).to_be_hidden()
