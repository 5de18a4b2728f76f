"""The chat page's layout in a real chromium: a notice banner keeps the grid whole; on a phone the conversations
are a drawer, the composer stays on screen and no page scrolls sideways."""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from playwright.sync_api import expect

from accounts.services import SYSTEM, provider_key_save
from conversations.services import conversation_create
from tests.factories import MessageFactory, UserFactory
from tests.live import scrolls_sideways, session_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct horse battery staple"  # UserFactory's
PHONE = {"width": 375, "height": 740}


def box(page, selector: str) -> dict:
    return page.locator(selector).bounding_box()


def test_the_sign_in_notice_leaves_the_sidebar_and_the_chat_in_their_columns(new_page, live_app, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]  # the live app's
    user = UserFactory()
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    page = new_page()
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(re.compile(r"/c/$"))

    notice = page.locator(".flash")
    expect(notice).to_be_visible()
    sidebar, chat, composer = box(page, ".chat-sidebar"), box(page, ".chat-main"), box(page, "#composer")
    banner = notice.bounding_box()
    assert banner["y"] + banner["height"] <= sidebar["y"] + 1, "the notice is above the columns, not in one"
    assert sidebar["x"] + sidebar["width"] <= chat["x"], "the conversations stay left of the chat"
    assert abs(sidebar["y"] - chat["y"]) < 2, "side by side, not stacked"
    assert sidebar["width"] < 400 < chat["width"]
    assert composer["x"] >= chat["x"] and composer["width"] > 400, "the composer spans the chat column"
    viewport = page.viewport_size
    assert composer["y"] + composer["height"] <= viewport["height"], "the composer is on screen"
    assert not scrolls_sideways(page)


def test_on_a_phone_the_conversations_are_a_drawer_and_nothing_scrolls_sideways(new_page, live_app):
    user = UserFactory()
    provider_key_save(user=user, provider="anthropic", api_key="sk-ant-test-phone-layout-0123456789", client=SYSTEM)
    conversation = conversation_create(user=user, title="A conversation with a rather long title to wrap " * 3)
    MessageFactory(conversation=conversation, content="A long word: " + "x" * 120)
    MessageFactory(conversation=conversation, content="Some text\n\n" * 40)
    page = new_page()
    page.set_viewport_size(PHONE)
    page.context.add_cookies([{"name": "sessionid", "value": session_for(user), "url": live_app.url}])

    for path in ["/c/", "/documents/", "/settings/keys/", "/settings/", "/c/search/?q=text", f"/c/{conversation.id}/"]:
        page.goto(path)
        assert not scrolls_sideways(page), f"{path} scrolls sideways at 375 px"

    # The composer is pinned to the bottom of the screen, under a long thread.
    composer = box(page, "#composer")
    assert composer["y"] >= 0 and composer["y"] + composer["height"] <= PHONE["height"]
    assert composer["x"] >= 0 and composer["x"] + composer["width"] <= PHONE["width"]

    # The conversations are a drawer: closed, then opened by the menu button, closed with Escape.
    sidebar = page.locator("#chat-sidebar")
    toggle = page.get_by_role("button", name="Conversations", exact=True)
    expect(sidebar).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.focus()
    page.keyboard.press("Enter")
    expect(sidebar).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    assert page.evaluate("document.getElementById('chat-sidebar').contains(document.activeElement)")
    expect(sidebar.get_by_role("link", name=re.compile("A conversation with"))).to_be_in_viewport()
    page.keyboard.press("Escape")
    expect(sidebar).to_be_hidden()
    expect(toggle).to_be_focused()
    assert not scrolls_sideways(page)

    # Behind the open drawer nothing takes the focus, the skip link included; a chat menu left open in it is
    # closed with it.
    toggle.click()
    assert page.evaluate("document.querySelector('.skip-link').inert") is True
    sidebar.locator("details.item-menu summary").first.click()
    expect(sidebar.locator("details.item-menu[open]")).to_have_count(1)
    page.locator(".drawer-backdrop").click(position={"x": 360, "y": 700})
    expect(sidebar).to_be_hidden()
    expect(sidebar.locator("details.item-menu[open]")).to_have_count(0)
    assert page.evaluate("document.querySelector('.skip-link').inert") is False

    # Open again and close with its own button; on a wide screen there is no menu button, the list is just there.
    toggle.click()
    sidebar.get_by_role("button", name="Close conversations").click()
    expect(sidebar).to_be_hidden()
    page.set_viewport_size({"width": 1280, "height": 900})
    expect(sidebar).to_be_visible()
    expect(toggle).to_be_hidden()
