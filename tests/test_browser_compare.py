"""Side-by-side answers in chromium (issue 14): with the preference on, "Compare with…" adds a second model by
keyboard; one question gets a reply from each, both growing at the same time in their columns (stacked on a phone);
Continue with the second one puts its branch on screen (the first behind the arrows) and the conversation goes on
from it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.models import Preferences
from accounts.services import SYSTEM, provider_key_save
from conversations.models import Conversation, Message
from tests.factories import UserFactory
from tests.live import scrolls_sideways, session_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

QUESTION = "Tell me slowly about the tides"
ANSWER = " ".join(f"word{number}" for number in range(100)) + " THE END"

BOTH_GROWING = """([before0, before1]) => {
  const columns = document.querySelectorAll('.compare-column');
  if (columns.length !== 2) return null;
  const lengths = Array.from(columns, (column) => {
    const bubble = column.querySelector('.message[data-streaming] .streaming-text');
    return bubble ? bubble.textContent.length : -1;
  });
  return lengths[0] > before0 && lengths[1] > before1 ? lengths : null;
}"""


@pytest.mark.parametrize("width", [1280, 375])
def test_two_models_answer_side_by_side_and_the_user_continues_with_the_second(new_page, live_app, fake_openai, width):
    user = UserFactory()
    for provider in ("openai", "xai"):
        provider_key_save(user=user, provider=provider, api_key=f"key-{provider}-0123456789-abcd", client=SYSTEM)
    Preferences.objects.create(user=user, multi_model_enabled=True)
    fake_openai.behaviour.reply = ANSWER
    fake_openai.behaviour.token_delay = 0.08  # about eight seconds of streaming each
    page = new_page()
    page.set_viewport_size({"width": width, "height": 900})
    page.context.add_cookies([{"name": "sessionid", "value": session_for(user), "url": live_app.url}])
    page.goto("/c/")

    page.get_by_role("combobox", name="Model", exact=True).select_option("openai:gpt-4.1")
    compare_with = page.get_by_text("Compare with…")
    compare_with.focus()
    page.keyboard.press("Enter")  # a disclosure: opened by keyboard
    second = page.get_by_role("combobox", name="Second model")
    expect(second).to_be_visible()
    expect(page.get_by_role("combobox", name="Third model")).to_have_value("")
    second.focus()
    second.select_option("xai:grok-4")
    box = page.get_by_role("textbox", name="Your message")
    box.fill(QUESTION)
    box.press("Enter")
    page.wait_for_url("**/c/*-*/")

    columns = page.locator(".compare-column")
    expect(columns).to_have_count(2)
    expect(page.get_by_role("group", name="Answer from gpt-4.1 (OpenAI)")).to_be_visible()
    expect(page.get_by_role("group", name="Answer from grok-4 (xAI)")).to_be_visible()
    # Both grow at once: both still streaming, each longer than it was a moment ago, twice over.
    lengths = page.wait_for_function(BOTH_GROWING, arg=[0, 0]).json_value()
    lengths = page.wait_for_function(BOTH_GROWING, arg=lengths).json_value()
    page.wait_for_function(BOTH_GROWING, arg=lengths)
    expect(page.locator("[data-send]")).to_be_disabled()  # the composer waits for both

    expect(page.locator(".message[data-streaming]")).to_have_count(0, timeout=20_000)
    expect(page.locator("#chat-announcer")).to_contain_text("Answer from")  # each says whose it is
    first_box, second_box = columns.nth(0).bounding_box(), columns.nth(1).bounding_box()
    if width < 700:
        assert second_box["y"] >= first_box["y"] + first_box["height"], "stacked on a phone"
    else:
        assert second_box["x"] >= first_box["x"] + first_box["width"], "side by side on a wide screen"
        assert abs(second_box["y"] - first_box["y"]) < 2
    assert not scrolls_sideways(page)
    for column, model in ((columns.nth(0), "gpt-4.1"), (columns.nth(1), "grok-4")):
        expect(column.locator(".badge")).to_have_text(model)
        expect(column).to_contain_text("THE END")

    chosen = page.get_by_role("group", name="Answer from grok-4 (xAI)").get_by_role(
        "button", name="Continue with this answer"
    )
    chosen.focus()
    page.keyboard.press("Enter")
    expect(page.locator(".compare")).to_have_count(0)
    reply = page.locator(".message-assistant")
    expect(reply).to_have_count(1)
    expect(reply.locator(".badge")).to_have_text("grok-4")
    expect(reply.locator(".branch-position")).to_have_text("2/2")
    expect(reply).to_be_focused()  # the keyboard goes on from the answer chosen, not from the top of the page
    expect(page.locator("[data-send]")).to_be_enabled()

    conversation = Conversation.objects.get(user=user)
    grok = Message.objects.get(conversation=conversation, role="assistant", model="grok-4")
    box = page.get_by_role("textbox", name="Your message")
    fake_openai.behaviour.reply, fake_openai.behaviour.token_delay = "The follow-up answer.", 0
    box.fill("And then?")
    box.press("Enter")
    expect(page.locator(".message-assistant")).to_have_count(2)
    expect(page.locator(".message-assistant").last).to_contain_text("The follow-up answer.", timeout=20_000)
    follow_up = Message.objects.get(conversation=conversation, content="And then?")
    assert follow_up.parent_id == grok.id, "the conversation goes on from the answer chosen"

    # The first answer is still there, one arrow away.
    page.locator(".message-assistant").first.get_by_role("button", name="Previous version").click()
    expect(page.locator(".message-assistant").first.locator(".badge")).to_have_text("gpt-4.1")
    expect(page.locator(".message-assistant").first.locator(".branch-position")).to_have_text("1/2")


def test_the_composers_stop_stops_every_answer_streaming(new_page, live_app, fake_openai):
    """It stopped only the first streaming reply on the page: beside it, the other answers went on."""
    user = UserFactory()
    for provider in ("openai", "xai"):
        provider_key_save(user=user, provider=provider, api_key=f"key-{provider}-0123456789-abcd", client=SYSTEM)
    Preferences.objects.create(user=user, multi_model_enabled=True)
    fake_openai.behaviour.reply = ANSWER
    fake_openai.behaviour.token_delay = 0.1
    page = new_page()
    page.context.add_cookies([{"name": "sessionid", "value": session_for(user), "url": live_app.url}])
    page.goto("/c/")
    page.get_by_role("combobox", name="Model", exact=True).select_option("openai:gpt-4.1")
    page.get_by_text("Compare with…").click()
    page.get_by_role("combobox", name="Second model").select_option("xai:grok-4")
    box = page.get_by_role("textbox", name="Your message")
    box.fill(QUESTION)
    box.press("Enter")
    page.wait_for_url("**/c/*-*/")
    page.wait_for_function(BOTH_GROWING, arg=[0, 0])

    page.locator("[data-composer-stop]").click()
    expect(page.locator(".message[data-streaming]")).to_have_count(0)
    columns = page.locator(".compare-column")
    for number in range(2):
        expect(columns.nth(number).locator(".badge", has_text="Stopped")).to_be_visible()
    conversation = Conversation.objects.get(user=user)
    statuses = Message.objects.filter(conversation=conversation, role="assistant").values_list("status", flat=True)
    assert sorted(statuses) == ["cancelled", "cancelled"]
