"""The composer's model picker in chromium, by keyboard, on a desktop and a phone: choose a model, star it
(favourites come first, the focus stays on the star), start a chat on it, switch model mid-conversation; each reply
comes from the model chosen and its bubble says which one wrote it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.services import SYSTEM, provider_key_save
from conversations.models import Conversation, Message
from tests.factories import UserFactory
from tests.live import scrolls_sideways, session_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def signed_in_page(new_page, live_app, user, *, width: int):
    page = new_page()
    page.set_viewport_size({"width": width, "height": 900})
    page.context.add_cookies([{"name": "sessionid", "value": session_for(user), "url": live_app.url}])
    return page


def groups_of(page) -> list[str]:
    return page.locator("#composer-model optgroup").evaluate_all("groups => groups.map(g => g.label)")


@pytest.mark.parametrize("width", [1280, 375])
def test_pick_star_and_switch_models_by_keyboard(new_page, live_app, fake_openai, width):
    user = UserFactory()
    for provider in ("openai", "xai"):
        provider_key_save(user=user, provider=provider, api_key=f"key-{provider}-0123456789-abcd", client=SYSTEM)
    fake_openai.behaviour.reply = "Hello from the model."
    page = signed_in_page(new_page, live_app, user, width=width)
    page.goto("/c/")

    menu = page.get_by_role("combobox", name="Model")
    expect(menu).to_have_value("openai:gpt-5.5")
    assert groups_of(page) == ["OpenAI", "xAI", "Offline"]
    menu.focus()
    menu.select_option("xai:grok-4")
    page.keyboard.press("Tab")
    star = page.get_by_role("button", name="Favourite model")
    expect(star).to_be_focused()
    expect(star).to_have_attribute("aria-pressed", "false")
    page.keyboard.press("Enter")
    expect(page.locator("#composer-model optgroup").first).to_have_attribute("label", "Favourites")
    expect(star).to_have_attribute("aria-pressed", "true")
    expect(star).to_be_focused()  # redrawn, the focus kept where it was
    expect(menu).to_have_value("xai:grok-4")
    assert not scrolls_sideways(page)

    box = page.get_by_role("textbox", name="Your message")
    box.fill("Who are you?")
    box.press("Enter")
    page.wait_for_url("**/c/*-*/")
    reply = page.locator(".message-assistant").last
    expect(reply).to_contain_text("Hello from the model.")
    expect(reply.locator(".badge")).to_have_text("grok-4")
    assert fake_openai.requests[-1]["path"] == "/xai/v1/chat/completions"
    expect(page.get_by_role("combobox", name="Model")).to_have_value("xai:grok-4")

    # Mid-conversation: the menu moves the conversation at once; the next reply is written by the new model.
    page.get_by_role("combobox", name="Model").select_option("openai:gpt-4.1")
    conversation = Conversation.objects.get(user=user)
    page.wait_for_function("() => !document.querySelector('.htmx-request')")
    expect(star).to_have_attribute("aria-pressed", "false")
    box = page.get_by_role("textbox", name="Your message")
    box.fill("And now?")
    box.press("Enter")
    expect(page.locator(".message-assistant")).to_have_count(2)
    expect(page.locator(".message-assistant").last.locator(".badge")).to_have_text("gpt-4.1")
    expect(page.locator(".message-assistant").last).to_contain_text("Hello from the model.")
    assert fake_openai.requests[-1]["path"] == "/openai/v1/chat/completions"
    assert fake_openai.requests[-1]["body"]["model"] == "gpt-4.1"
    # Sending resets the form, not the model menu.
    expect(page.get_by_role("combobox", name="Model")).to_have_value("openai:gpt-4.1")
    replies = Message.objects.filter(conversation=conversation, role="assistant").order_by("created_at")
    assert [(m.provider, m.model) for m in replies] == [("xai", "grok-4"), ("openai", "gpt-4.1")]

    page.reload()
    expect(page.get_by_role("combobox", name="Model")).to_have_value("openai:gpt-4.1")
    assert not scrolls_sideways(page)


def test_on_a_phone_every_model_name_fits_the_window_whole(new_page, live_app):
    """The walk's phone (390 pixels): the chosen name was cut in the menu's box, "Offline assistant (no language
    m". Each name, the offline assistant's and a long fine-tune's id without a space, is whole inside the window,
    in the box and in the opened list, and the page does not scroll sideways."""
    user = UserFactory()
    provider_key_save(user=user, provider="openai", api_key="key-openai-0123456789-abcd", client=SYSTEM)
    fine_tune = "ft:mistral-large-2411:acme-support-bot:2026-11-30:0123456789abcdef"
    chat = Conversation.objects.create(user=user, title="Old model", provider="mistral", model=fine_tune)
    page = signed_in_page(new_page, live_app, user, width=390)
    page.set_viewport_size({"width": 390, "height": 844})

    for path, chosen in (("/c/", "Offline assistant (no language model)"), (f"/c/{chat.id}/", fine_tune)):
        page.goto(path)
        if path == "/c/":
            page.get_by_role("combobox", name="Model").select_option("offline:offline")
        menu = page.get_by_role("combobox", name="Model")
        expect(menu.locator("option:checked")).to_contain_text(chosen)
        assert not scrolls_sideways(page)
        # The box shows as many lines as the chosen name needs at its width (a native select shows one, cut).
        left, right, needed, room = menu.evaluate(
            """s => { const style = getComputedStyle(s), r = s.getBoundingClientRect();
                 const context = document.createElement("canvas").getContext("2d");
                 context.font = style.font;
                 const line = parseFloat(style.lineHeight) || parseFloat(style.fontSize) * 1.2;
                 const padding = (side) => parseFloat(style["padding" + side]);
                 const lines = Math.floor((s.clientHeight - padding("Top") - padding("Bottom")) / line);
                 const width = s.clientWidth - padding("Left") - padding("Right");
                 return [r.left, r.right, context.measureText(s.selectedOptions[0].text).width, lines * width]; }"""
        )
        assert left >= 0 and right <= 390, f"the menu's box is outside the window: {left}-{right}"
        assert needed <= room, f"the chosen name is cut in the box: {needed:.0f} pixels of text, room for {room:.0f}"

        menu.click()  # opens the list
        options = menu.locator("option").evaluate_all(
            """options => options.map(o => { const r = o.getBoundingClientRect();
                 return [o.textContent, r.width, r.left, r.right, o.scrollWidth, o.clientWidth]; })"""
        )
        for label, width, left, right, scroll_width, client_width in options:
            assert width > 0 and left >= 0 and right <= 390, f"{label!r} is not inside the window: {left}-{right}"
            assert scroll_width <= client_width, f"{label!r} is cut: {scroll_width} > {client_width}"
        assert not scrolls_sideways(page)
        page.keyboard.press("Escape")
