"""What the tenth walk saw and left, fixed and checked in a real chromium (docs/decisions.md, "The tenth walk's
leftovers")."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import expect

from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def signed_in(new_page, live_app, user):
    from tests.live import session_for

    page = new_page()
    page.context.add_cookies([{"name": "sessionid", "value": session_for(user), "url": live_app.url}])
    return page


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
