"""A chat on a phone (390x844) driven from the keyboard in a real chromium: after each action the focus is where
the action left the user (the message box, the new reply's Stop, the finished reply's first action, the same version
arrow), not back at the top of the page; and a new chat's first message is no draft in the next new chat's box."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.services import SYSTEM, provider_key_save
from conversations.models import Conversation
from conversations.services import conversation_create
from tests.factories import MessageFactory, UserFactory
from tests.live import session_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
PHONE = {"width": 390, "height": 844}
LONG = [f" word{number}" for number in range(300)]  # a reply that does not end while the test looks at it


def phone_page(new_page, live_app, user):
    page = new_page()
    page.set_viewport_size(PHONE)
    page.context.add_cookies([{"name": "sessionid", "value": session_for(user), "url": live_app.url}])
    return page


def test_the_focus_stays_where_the_user_is_through_send_stop_regenerate_and_edit(new_page, live_app, fake_anthropic):
    fake_anthropic.behaviour.tokens = LONG
    fake_anthropic.behaviour.token_delay = 0.1
    user = UserFactory()
    provider_key_save(user=user, provider="anthropic", api_key="sk-ant-test-keyboard-phone-01", client=SYSTEM)
    page = phone_page(new_page, live_app, user)
    page.goto("/c/")
    page.wait_for_load_state("load")
    box = page.get_by_role("textbox", name="Your message")
    composer_stop = page.locator("[data-composer-stop]")
    reply_stop = page.locator(".message[data-streaming] [data-stop-stream]")

    # A new chat's first message opens the chat's page: the focus was at the top of it, a Tab from the skip link.
    box.focus()
    page.keyboard.type("Tell me about tomatoes")
    page.keyboard.press("Enter")
    page.wait_for_url("**/c/*-*/")
    expect(box).to_be_focused()
    expect(reply_stop).to_be_visible()

    # The composer's Stop hides with the reply it stopped: the focus fell to the page's body.
    page.keyboard.press("Tab")
    expect(composer_stop).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator(".message-cancelled")).to_have_count(1)
    expect(box).to_be_focused()

    # Regenerate redraws the thread: the focus goes to the new reply's Stop (it fell to the body).
    page.get_by_role("button", name="Regenerate").focus()
    page.keyboard.press("Enter")
    expect(reply_stop).to_be_focused()
    # That Stop goes with the streaming reply: the finished one's first action takes the focus.
    page.keyboard.press("Enter")
    expect(page.locator(".message-assistant .branch-position")).to_have_text("2/2")
    expect(page.locator(".message-assistant").get_by_role("button", name="Regenerate")).to_be_focused()

    # An edit sent redraws the thread too.
    page.locator(".edit-message > summary").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_label("Edit your message")).to_be_focused()
    page.keyboard.type(" and peppers")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Send edited")).to_be_focused()
    page.keyboard.press("Enter")
    expect(reply_stop).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator(".message-user .branch-position")).to_have_text("2/2")
    expect(page.locator(".message-assistant").get_by_role("button", name="Regenerate")).to_be_focused()

    # While a reply is written Stop stands in Send's place (Send cannot send then), and takes the focus Send had;
    # stacked under Send it made the composer 47 pixels taller for the reply's length.
    idle = page.locator("#composer").bounding_box()["height"]
    box.fill("And cucumbers?")
    page.get_by_role("button", name="Send").focus()
    page.keyboard.press("Enter")
    expect(composer_stop).to_be_focused()
    expect(page.locator("[data-send]")).to_be_hidden()
    assert page.locator("#composer").bounding_box()["height"] <= idle + 1
    page.keyboard.press("Enter")
    expect(page.locator(".message[data-streaming]")).to_have_count(0)
    expect(box).to_be_focused()
    expect(page.locator("[data-send]")).to_be_visible()

    # The chat's first message stayed the draft of every new chat in this tab.
    page.goto("/c/")
    page.wait_for_load_state("load")
    expect(box).to_have_value("")
    assert Conversation.objects.filter(user=user).count() == 1


def test_the_version_arrows_keep_the_focus_on_the_arrow_pressed(new_page, live_app):
    user = UserFactory()
    chat = conversation_create(user=user, title="Versions")
    question = MessageFactory(conversation=chat, content="Which one?")
    replies = [
        MessageFactory(conversation=chat, role="assistant", parent=question, content=f"Answer {number}.", model="x")
        for number in (1, 2, 3)
    ]
    Conversation.objects.filter(id=chat.id).update(active_leaf=replies[-1])
    page = phone_page(new_page, live_app, user)
    page.goto(f"/c/{chat.id}/")
    page.wait_for_load_state("load")
    position = page.locator(".message-assistant .branch-position")
    previous = page.get_by_role("button", name="Previous version")
    following = page.get_by_role("button", name="Next version")

    # Each arrow redraws the thread, itself included: the focus fell to the page's body.
    previous.focus()
    page.keyboard.press("Enter")
    expect(position).to_have_text("2/3")
    expect(previous).to_be_focused()
    page.keyboard.press("Enter")
    expect(position).to_have_text("1/3")
    expect(following).to_be_focused()  # the first version has no previous one: its other arrow
    page.keyboard.press("Enter")
    expect(position).to_have_text("2/3")
    expect(following).to_be_focused()


def test_tabbing_out_of_a_chats_menu_closes_it(new_page, live_app):
    user = UserFactory()
    conversation_create(user=user, title="Garden plans")
    page = new_page()
    page.context.add_cookies([{"name": "sessionid", "value": session_for(user), "url": live_app.url}])
    page.goto("/c/")
    page.wait_for_load_state("load")
    menu = page.locator("details.item-menu").first
    menu.locator("summary").focus()
    page.keyboard.press("Enter")
    expect(menu).to_have_attribute("open", "")
    for _ in range(10):  # through its items and out past the last one
        page.keyboard.press("Tab")
        if not menu.evaluate("menu => menu.contains(document.activeElement)"):
            break
    expect(menu).not_to_have_attribute("open", "")
