"""Pages on a phone (375 px) in a real chromium: a session's Sign out button keeps its words on one line, every API
key's buttons and test result are in view without scrolling sideways (and Delete asks first), the composer's
placeholder shows whole, and a guest's header is one compact row."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.models import ProviderKey
from accounts.services import SYSTEM, provider_key_save
from tests.factories import GuestFactory, KeyAuditLogFactory, SessionFactory, UserFactory
from tests.live import answer_dialog, scrolls_sideways, session_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
PHONE = {"width": 375, "height": 740}


def phone_page(new_page, live_app, user):
    page = new_page()
    page.set_viewport_size(PHONE)
    page.context.add_cookies([{"name": "sessionid", "value": session_for(user), "url": live_app.url}])
    return page


def on_one_line(locator) -> bool:
    """Whether the element is one line of text high (its box, less padding and borders, under two lines)."""
    return locator.evaluate(
        """el => {
          const style = getComputedStyle(el);
          const chrome = ['paddingTop', 'paddingBottom', 'borderTopWidth', 'borderBottomWidth']
            .reduce((sum, side) => sum + parseFloat(style[side]), 0);
          return el.getBoundingClientRect().height - chrome < 1.5 * parseFloat(style.lineHeight);
        }"""
    )


def in_view(locator) -> bool:
    box = locator.bounding_box()
    return bool(box) and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]


def test_a_sessions_sign_out_button_keeps_its_words_on_one_line(new_page, live_app):
    user = UserFactory()
    SessionFactory(user=user, user_agent="Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/127.0 Safari/537")
    page = phone_page(new_page, live_app, user)
    page.goto("/settings/sessions/")
    buttons = page.locator(".session button")
    expect(buttons).to_have_count(2)
    for index in range(2):
        button = buttons.nth(index)
        assert on_one_line(button), f"{button.inner_text()!r} wraps"
        assert in_view(button)
    assert not scrolls_sideways(page)


def test_every_keys_buttons_and_test_result_are_in_view_on_a_phone_and_delete_asks_first(
    new_page, live_app, fake_anthropic
):
    user = UserFactory()
    provider_key_save(user=user, provider="anthropic", api_key="sk-ant-test-phone-keys-0123456789", client=SYSTEM)
    provider_key_save(user=user, provider="openai", api_key="sk-test-phone-keys-openai-0123456789", client=SYSTEM)
    KeyAuditLogFactory(user=user, user_agent="Mozilla/5.0 " + "AppleWebKit/537.36 " * 4, error_message="x" * 200)
    page = phone_page(new_page, live_app, user)
    page.goto("/settings/keys/")

    row = page.locator("tr", has_text="Anthropic")
    for name in ("Test", "Deactivate", "Delete"):
        assert in_view(row.get_by_role("button", name=name, exact=True)), name
    # Each value is labelled by its column's name, as the headers (kept for screen readers) are not shown.
    expect(row.locator("td[data-label='Status']")).to_be_visible()
    assert "Status" in row.locator("td[data-label='Status']").evaluate("el => getComputedStyle(el, '::before').content")
    table = page.locator("table.table-cards")
    assert table.evaluate("el => el.scrollWidth <= el.clientWidth"), "the keys table scrolls sideways"

    row.get_by_role("button", name="Test", exact=True).click()
    result = row.locator("[id^='key-test-'] p")
    expect(result).to_be_visible()
    assert in_view(result)
    assert not scrolls_sideways(page)

    # Delete asks first: dismissed, the key stays; confirmed, it goes.
    asked: list[str] = []
    page.once("dialog", answer_dialog(asked, accept=False))
    row.get_by_role("button", name="Delete", exact=True).click()
    assert asked and asked[0].startswith("Delete your Anthropic key ending in …"), asked
    page.wait_for_timeout(300)
    assert ProviderKey.objects.filter(user=user, provider="anthropic").exists()
    page.once("dialog", answer_dialog(asked, accept=True))
    row.get_by_role("button", name="Delete", exact=True).click()
    expect(page.get_by_text("Anthropic key deleted.")).to_be_visible()
    assert not ProviderKey.objects.filter(user=user, provider="anthropic").exists()
    assert ProviderKey.objects.filter(user=user, provider="openai").exists()

    # Key activity is cards too: a long user agent or error stays in its card.
    page.goto("/settings/keys/audit/")
    assert not scrolls_sideways(page)
    audit = page.locator("table.table-cards")
    assert audit.evaluate("el => el.scrollWidth <= el.clientWidth"), "the key activity table scrolls sideways"


def test_the_composer_placeholder_shows_whole_and_a_guests_header_is_one_row(new_page, live_app):
    guest = GuestFactory()
    page = phone_page(new_page, live_app, guest)
    page.goto("/c/")

    box = page.get_by_role("textbox", name="Your message")
    fits = box.evaluate(
        """el => {
          const style = getComputedStyle(el);
          const context = document.createElement('canvas').getContext('2d');
          context.font = style.font;
          const room = el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
          return context.measureText(el.placeholder).width <= room;
        }"""
    )
    assert fits, "the placeholder is cut off"
    # The keyboard hint is still part of the box's description.
    assert "Shift+Enter" in page.locator("#composer-hint").text_content()
    assert "composer-hint" in box.get_attribute("aria-describedby")

    header = page.locator(".site-header")
    signup = header.get_by_role("link", name="Sign up to keep your chats")
    expect(signup).to_be_visible()
    assert on_one_line(signup)
    tops = {round(item.bounding_box()["y"]) for item in header.locator("nav > *:visible").all()}
    assert max(tops) - min(tops) < 8, f"the guest's header wraps: rows at {sorted(tops)}"
    assert header.bounding_box()["height"] < 64
    assert not scrolls_sideways(page)

    # Signed in, the header takes two rows at most.
    page = phone_page(new_page, live_app, UserFactory())
    page.goto("/c/")
    tops = {round(item.bounding_box()["y"]) for item in page.locator(".site-header nav > *:visible").all()}
    assert len(tops) <= 2, sorted(tops)


def test_the_usage_tables_show_every_column_on_a_phone_without_scrolling_sideways(new_page, live_app):
    """The walk's phone showed the per-model table cut after "Input tokens": Output tokens and Cost were behind a
    sideways scroll nothing hinted at (504 pixels of table in 316). Each row is a card now, each figure named."""
    from decimal import Decimal

    from tests.factories import ConversationFactory, UsageLogFactory

    user = UserFactory()
    UsageLogFactory(conversation=ConversationFactory(user=user), user=user, provider="openai", model="gpt-5.4-mini",
                    input_tokens=1_559, output_tokens=457, cost=Decimal("0.021500"))  # fmt: skip
    page = phone_page(new_page, live_app, user)
    page.goto("/settings/usage/")
    page.get_by_text("Per day as a table").click()
    for table in (page.locator("table[aria-labelledby=per-model]"), page.locator("table[aria-labelledby=per-day]")):
        assert table.evaluate("t => t.scrollWidth <= t.clientWidth"), "a column is hidden behind a sideways scroll"
    cost = page.locator("table[aria-labelledby=per-model] td", has_text="$0.0215")
    assert in_view(cost)
    assert cost.evaluate("td => getComputedStyle(td, '::before').content") == '"Cost: "'
    assert not scrolls_sideways(page)
