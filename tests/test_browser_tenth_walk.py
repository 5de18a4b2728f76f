"""What a tenth walk through the app found, each checked in a real chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.factories import ConversationFactory, MessageFactory, UserFactory
from tests.live import signed_in

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
    conversation = shared_chat(("Teapots are made of", "cancelled"), ("", "failed"), ("A full answer.", "complete"))
    page = new_page()
    page.goto(f"/c/shared/{conversation.id}/")

    # Its owner sees "Stopped" beside the reply; a reader of the link saw the cut-off words as the whole answer.
    stopped = page.get_by_role("article", name="Answer, stopped before the end")
    expect(stopped).to_have_count(1)
    expect(stopped.locator(".badge")).to_have_text("Stopped")
    expect(stopped).to_contain_text("Teapots are made of")
    expect(stopped.get_by_text("before the end of the answer")).to_be_visible()
    # A failed one showed an empty bubble, without a word.
    expect(page.get_by_role("article", name="Answer, not completed").locator(".badge")).to_have_text("Not completed")
    # The finished answer carries no such mark.
    finished = page.get_by_role("article", name="Answer", exact=True)
    expect(finished).to_have_count(1)
    expect(finished.locator(".badge")).to_have_count(0)


@pytest.mark.parametrize("width", [375, 390])
def test_the_usage_charts_on_a_phone_show_their_whole_period_scale_and_latest_day_without_scrolling(
    new_page, live_app, width
):
    import datetime as dt

    from django.utils import timezone

    from tests.factories import UsageLogFactory

    user = UserFactory()
    conversation = ConversationFactory(user=user)
    UsageLogFactory(conversation=conversation, cost="0.01")  # today
    UsageLogFactory(conversation=conversation, cost="0.02", created_at=timezone.now() - dt.timedelta(days=29))
    page = signed_in(new_page, live_app, user)
    page.set_viewport_size({"width": width, "height": 740})
    page.goto("/settings/usage/")

    # Drawn 640 units wide, the chart was 34rem on a phone and scrolled sideways: it opened on its newest days, the
    # scale and the period's start out of view (before that, on its oldest, today's bar out of view).
    for chart in page.locator(".bar-chart").all():
        expect(chart.get_by_role("img")).to_have_count(1)  # one drawing shows, and a screen reader meets one
        drawing = chart.get_by_role("img")
        assert chart.evaluate("el => el.scrollWidth <= el.clientWidth"), "the chart does not scroll"
        seen = chart.bounding_box()
        inside = [drawing.locator(".bar-chart-bar").first, drawing.locator(".bar-chart-bar").last]
        inside += drawing.locator("text").all()  # the scale, the first, middle and last days
        for item in inside:
            box = item.bounding_box()
            assert box["x"] >= seen["x"] - 0.5 and box["x"] + box["width"] <= seen["x"] + seen["width"] + 0.5
        assert [float(bar.get_attribute("height")) > 0 for bar in inside[:2]] == [True, True], "both days drawn"
        # Labels near their 12 pixels (the wide drawing shrunk to a phone's width drew them at 6).
        assert drawing.locator("text").first.evaluate("el => el.getBoundingClientRect().height") >= 10
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_a_long_url_pasted_into_the_composer_wraps_inside_it_on_a_phone(new_page, live_app):
    user = UserFactory()
    page = signed_in(new_page, live_app, user)
    page.set_viewport_size(PHONE)
    page.goto("/c/")
    box = page.locator("#composer-input")
    box.fill("Why does https://example.com/" + "AVeryLongPathWithNoBreaks" * 12 + " fail?")

    # Controls kept whole words (overflow-wrap: normal), the text box too: the URL ran on in one line, the box
    # scrolled sideways to its end and its start was out of view.
    assert box.evaluate("el => el.scrollWidth <= el.clientWidth"), "the box does not scroll sideways"
    assert box.evaluate("el => el.scrollLeft") == 0


def test_a_keys_hint_stays_on_one_line_beside_a_failed_key_test(new_page, live_app, fake_openai):
    from accounts.services import SYSTEM, provider_key_save

    user = UserFactory()
    provider_key_save(user=user, provider="openai", api_key="sk-revoked-key-9999", client=SYSTEM)
    page = signed_in(new_page, live_app, user)
    page.goto("/settings/keys/")
    row = page.locator("table tr", has_text="OpenAI")
    row.get_by_role("button", name="Test").click()
    expect(row.get_by_text("rejected this key")).to_be_visible()

    # The result's sentence widened the last column, and the key's "…9999" broke after its ellipsis.
    hint = row.locator(".key-hint")
    expect(hint).to_have_text("…9999")
    assert hint.evaluate("el => el.getClientRects().length") == 1, "one line"
