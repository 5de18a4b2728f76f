"""The composer's draft is kept in the tab until it is sent: a session ended in another tab sends the page to sign
in and back, and the text being sent came back with it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.models import Session
from conversations.services import conversation_create
from tests.factories import ConversationFactory, UserFactory
from tests.live import session_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def open_chat(page, live_app, user, conversation):
    page.context.add_cookies([{"name": "sessionid", "value": session_for(user), "url": live_app.url}])
    page.goto(f"/c/{conversation.id}/")
    page.wait_for_load_state("load")  # app.js binds its handlers


def test_a_draft_survives_a_sign_in_forced_by_a_session_ended_elsewhere(new_page, live_app):
    user = UserFactory()
    conversation = ConversationFactory(user=user, title="Drafts")
    page = new_page()
    open_chat(page, live_app, user, conversation)
    page.locator("#composer-input").fill("A long question I took care to write.")
    Session.objects.filter(user=user).delete()  # "Sign out other sessions", from another device

    page.locator("#composer-input").press("Enter")
    page.wait_for_url("**/accounts/login/**")
    assert f"next=/c/{conversation.id}/" in page.url

    open_chat(page, live_app, user, conversation)  # signed in again, back in the chat
    expect(page.locator("#composer-input")).to_have_value("A long question I took care to write.")


def test_a_sent_draft_is_gone_and_another_accounts_tab_never_sees_one(new_page, live_app, fake_anthropic):
    user = UserFactory()
    conversation = conversation_create(user=user)  # on a model the user can use (the fake's)
    page = new_page()
    open_chat(page, live_app, user, conversation)
    page.locator("#composer-input").fill("Kept over a reload")
    page.reload()
    page.wait_for_load_state("load")
    expect(page.locator("#composer-input")).to_have_value("Kept over a reload")

    page.locator("#composer-input").press("Enter")
    expect(page.locator("#composer-input")).to_have_value("")  # sent: the composer is reset
    page.reload()
    page.wait_for_load_state("load")
    expect(page.locator("#composer-input")).to_have_value("")

    page.goto("/c/")  # a new chat's draft, then another account signs in in the same tab
    page.wait_for_load_state("load")
    page.locator("#composer-input").fill("Mine only")
    other = UserFactory()
    page.context.clear_cookies()
    page.context.add_cookies([{"name": "sessionid", "value": session_for(other), "url": live_app.url}])
    page.goto("/c/")
    page.wait_for_load_state("load")
    expect(page.locator("#composer-input")).to_have_value("")
