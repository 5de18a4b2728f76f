"""What the tenth walk saw and left, fixed and checked in a real chromium (docs/decisions.md, "The tenth walk's
leftovers")."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import expect

from tests.factories import UserFactory
from tests.live import signed_in

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_the_export_button_says_it_builds_a_new_export_once_one_is_ready(new_page, live_app):
    from django.utils import timezone

    from accounts.models import DataExport

    user = UserFactory()
    export = DataExport.objects.create(user=user, status=DataExport.Status.RUNNING, progress=40)
    page = signed_in(new_page, live_app, user)
    page.goto("/settings/data/")
    expect(page.get_by_role("progressbar")).to_be_visible()
    expect(page.get_by_role("button", name="Export all my data")).to_be_visible()

    # The worker finishes it: the polled status shows the download, and the button says what pressing it does now.
    now = timezone.now()
    DataExport.objects.filter(id=export.id).update(
        status=DataExport.Status.READY, progress=100, size=2048, finished_at=now, expires_at=now + dt.timedelta(days=1)
    )
    expect(page.get_by_role("link", name="Download the export (zip)")).to_be_visible()
    # It kept its name beside the download, though it builds another export.
    expect(page.get_by_role("button", name="Build a new export")).to_be_visible()
    expect(page.get_by_role("button", name="Export all my data")).to_have_count(0)

    page.reload()
    expect(page.get_by_role("button", name="Build a new export")).to_be_visible()
    # Expired (deleted), there is nothing to build anew beside: the first name again.
    DataExport.objects.filter(id=export.id).update(expires_at=now - dt.timedelta(minutes=1))
    page.reload()
    expect(page.get_by_role("button", name="Export all my data")).to_be_visible()


def test_an_archived_pinned_chat_offers_only_restore_and_comes_back_pinned(new_page, live_app):
    from tests.factories import ConversationFactory

    user = UserFactory()
    chat = ConversationFactory(user=user, title="Holiday plans", pinned=True)
    page = signed_in(new_page, live_app, user)
    page.goto(f"/c/{chat.id}/")
    header = page.locator(".chat-actions")
    expect(header.get_by_role("button", name="Unpin")).to_be_visible()

    header.get_by_role("button", name="Archive").click()
    expect(header.get_by_role("button", name="Restore")).to_be_focused()
    # Its header offered Unpin beside Restore, for a chat no longer in the sidebar.
    expect(header.get_by_role("button", name="Unpin")).to_have_count(0)
    expect(header.get_by_role("button", name="Pin")).to_have_count(0)
    expect(page.get_by_role("status").filter(has_text="archived")).to_contain_text("among your pinned chats")
    expect(page.get_by_role("heading", name="Pinned", exact=True)).to_have_count(0)
    page.reload()  # drawn by the page too, not only by the archive's answer
    expect(header.get_by_role("button", name="Restore")).to_be_visible()
    expect(header.get_by_role("button", name="Unpin")).to_have_count(0)

    # The pin was kept for its return: restored, it is among the pinned chats again, and the header offers Unpin.
    header.get_by_role("button", name="Restore").click()
    expect(header.get_by_role("button", name="Unpin")).to_be_visible()
    expect(page.locator("#sidebar-group-pinned-list").get_by_role("link", name="Holiday plans")).to_be_visible()


def test_a_key_whose_test_failed_says_so_in_its_status_until_it_works_again(new_page, live_app, fake_openai):
    from accounts.models import KeyAuditLog
    from accounts.services import SYSTEM, audit_log_write, provider_key_save

    user = UserFactory()
    provider_key_save(user=user, provider="openai", api_key="sk-revoked-key-9999", client=SYSTEM)
    page = signed_in(new_page, live_app, user)
    page.goto("/settings/keys/")
    row = page.locator("table tr", has_text="OpenAI")
    status = row.locator("td[data-label=Status]")
    expect(status).to_have_text("Active")
    row.get_by_role("button", name="Test").click()
    expect(row.get_by_text("rejected this key")).to_have_count(1)  # beside the buttons, said once

    # The status said "Active" beside the failure's sentence.
    expect(status.locator(".badge")).to_have_text("Last test failed")
    expect(status).to_contain_text("Just now. Replies still use this key.")
    page.reload()
    expect(status.locator(".badge")).to_have_text("Last test failed")
    expect(status).to_contain_text("rejected this key")  # why, once the test's result beside it is gone
    assert KeyAuditLog.objects.filter(user=user, action="test", success=False).count() == 1, "the trail is kept"

    # A chat that went through with it since: it works, whatever the test said.
    audit_log_write(user=user, provider="openai", action=KeyAuditLog.Action.USE, client=SYSTEM)
    page.reload()
    expect(status).to_have_text("Active")


def test_the_sidebars_preview_follows_a_finished_reply_and_an_edit(new_page, live_app, fake_anthropic):
    from accounts.services import SYSTEM, provider_key_save
    from conversations.services import conversation_create

    finished = ".message-assistant .markdown:not(.streaming-markdown)"
    user = UserFactory()
    provider_key_save(user=user, provider="anthropic", api_key="sk-ant-test-preview-0123456789", client=SYSTEM)
    chat = conversation_create(user=user, title="Teapots")
    page = signed_in(new_page, live_app, user)
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(f"/c/{chat.id}/")
    link = page.locator(f"#conversation-link-{chat.id}")
    preview = page.locator(f"#conversation-preview-{chat.id}")
    expect(preview).to_have_count(0)  # no message yet

    fake_anthropic.behaviour.tokens = [" Porcelain", " keeps", " heat."]
    box = page.get_by_role("textbox", name="Your message")
    box.fill("Which teapot keeps tea hot?")
    box.press("Enter")
    page.locator(finished, has_text="Porcelain keeps heat.").wait_for()
    # The preview was the page's, drawn before the reply: none here, until a reload.
    expect(preview).to_have_text("Porcelain keeps heat.")
    expect(link).to_have_accessible_description("Porcelain keeps heat.")

    # An edit's reply, on its new branch: the preview showed the old branch's reply until the next page.
    fake_anthropic.behaviour.tokens = [" Cast", " iron", " does."]
    question = page.locator(".message-user").first
    question.get_by_text("Edit", exact=True).click()
    question.get_by_role("textbox", name="Edit your message").fill("And which keeps it hottest?")
    question.get_by_role("button", name="Send edited").click()
    page.locator(finished, has_text="Cast iron does.").wait_for()
    expect(preview).to_have_text("Cast iron does.")
    expect(page.locator("[data-sidebar-preview]")).to_have_count(0)  # its carrier does not stay in the thread
    # The page draws the same. The fake names the chat with the words it is set to send when the title call reaches
    # it, which may be before or after the edit's tokens were set: the preview is checked, not the title.
    page.reload()
    expect(page.locator(f"#conversation-preview-{chat.id}", has_text="Porcelain")).to_have_count(0)
    assert not errors, errors
