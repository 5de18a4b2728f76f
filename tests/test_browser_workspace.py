"""The chat workspace in a real chromium (issue 16): pin, archive and restore from a chat's menu in the sidebar,
by keyboard; the full-screen layout's sidebar behind a button, and a drawer on a phone either way; a starter prompt
starting a chat; a search result opening at its message, marked."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from conversations.models import Conversation, Message
from tests.factories import ConversationFactory, DocumentFactory, MessageFactory, UserFactory
from tests.live import session_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
PHONE = {"width": 375, "height": 740}


def signed_in(new_page, live_app, user):
    page = new_page()
    page.context.add_cookies([{"name": "sessionid", "value": session_for(user), "url": live_app.url}])
    return page


def group_titles(page, heading: str) -> list[str]:
    section = page.locator("section.sidebar-group").filter(has=page.get_by_role("heading", name=heading, exact=True))
    return section.locator(".conversation-link").all_inner_texts()


def test_typing_in_the_sidebar_search_filters_the_list_and_keeps_the_focus_in_the_box(new_page, live_app):
    user = UserFactory()
    ConversationFactory(user=user, title="Tomato blight")
    ConversationFactory(user=user, title="Holiday plans")
    page = signed_in(new_page, live_app, user)
    page.goto("/c/")
    links = page.locator("#conversation-groups .conversation-link")
    expect(links).to_have_count(2)
    box = page.get_by_role("searchbox", name="Search your chats")
    box.click()
    page.keyboard.type("tomato")
    expect(page.get_by_role("heading", name="Matching “tomato”")).to_be_visible()
    expect(links).to_have_text(["Tomato blight"])
    expect(box).to_be_focused()
    page.keyboard.type("zzqx")
    expect(page.get_by_text("No chat matches.")).to_be_visible()
    box.fill("")
    expect(links).to_have_count(2)
    # Enter still opens the search page.
    box.fill("holiday")
    box.press("Enter")
    expect(page.get_by_role("heading", name="Search your chats", level=1)).to_be_visible()


def test_the_chat_headers_pin_and_the_sidebars_agree_without_a_reload(new_page, live_app):
    user = UserFactory()
    chat = ConversationFactory(user=user, title="Holiday plans")
    page = signed_in(new_page, live_app, user)
    page.goto(f"/c/{chat.id}/")
    header_pin = page.locator("#chat-pin-form button")

    # The header's Pin, by keyboard: the sidebar shows the chat pinned, the button says Unpin and keeps the focus.
    header_pin.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Pinned", exact=True)).to_be_visible()
    expect(header_pin).to_have_text("Unpin")
    expect(header_pin).to_be_focused()
    assert page.url.endswith(f"/c/{chat.id}/")

    # Unpinned from the sidebar's menu: the header says Pin again (it said Unpin until a reload).
    page.get_by_label("Options for Holiday plans").click()
    page.locator("#conversation-groups").get_by_role("button", name="Unpin", exact=True).click()
    expect(page.get_by_role("heading", name="Pinned", exact=True)).to_have_count(0)
    expect(header_pin).to_have_text("Pin")
    chat.refresh_from_db()
    assert not chat.pinned


def test_the_chat_headers_archive_works_in_place_by_keyboard_and_without_script(new_page, live_app):
    """The walk's header Archive reloaded the whole page (the focus at its top): archived through htmx, the chat
    stays on screen, leaves the sidebar, says it is archived, and its button, now Restore, keeps the focus."""
    user = UserFactory()
    ConversationFactory(user=user, title="Recipes")
    chat = ConversationFactory(user=user, title="Holiday plans")
    page = signed_in(new_page, live_app, user)
    page.goto(f"/c/{chat.id}/")
    page.evaluate("window.notReloaded = true")
    button = page.locator("#chat-archive-form button")
    notice = page.locator(f"#chat-archived-{chat.id}")
    expect(notice).to_be_hidden()

    button.focus()
    page.keyboard.press("Enter")
    expect(page.locator(f"#conversation-link-{chat.id}")).to_have_count(0)
    expect(button).to_have_text("Restore")
    expect(button).to_be_focused()
    expect(notice).to_have_text("This chat is archived: it is not listed in the sidebar. Restore it to list it again.")
    expect(page.get_by_role("button", name="Restore")).to_have_accessible_description(re.compile("is archived"))
    assert page.evaluate("window.notReloaded === true") and page.url.endswith(f"/c/{chat.id}/")
    chat.refresh_from_db()
    assert chat.archived_at is not None

    # Restore, the same way: back in the sidebar, the notice gone, the focus on Archive.
    page.keyboard.press("Enter")
    expect(page.locator(f"#conversation-link-{chat.id}")).to_have_count(1)
    expect(button).to_have_text("Archive")
    expect(button).to_be_focused()
    expect(notice).to_be_hidden()
    assert page.evaluate("window.notReloaded === true")
    chat.refresh_from_db()
    assert chat.archived_at is None

    # Without script: the form posts, and the chat's page comes back, archived.
    page = new_page(java_script_enabled=False)
    page.context.add_cookies([{"name": "sessionid", "value": session_for(user), "url": live_app.url}])
    page.goto(f"/c/{chat.id}/")
    page.locator("#chat-archive-form").get_by_role("button", name="Archive").click()
    expect(page.get_by_text("“Holiday plans” was archived")).to_be_visible()
    expect(page.locator(f"#chat-archived-{chat.id}")).to_be_visible()
    expect(page.locator("#chat-archive-form button")).to_have_text("Restore")
    assert page.url.endswith(f"/c/{chat.id}/")
    expect(page.locator(f"#conversation-link-{chat.id}")).to_have_count(0)


def test_pin_archive_and_restore_from_the_sidebar(new_page, live_app):
    user = UserFactory()
    ConversationFactory(user=user, title="Recipes")
    chat = ConversationFactory(user=user, title="Holiday plans")
    page = signed_in(new_page, live_app, user)
    page.goto("/c/")
    expect(page.get_by_role("heading", name="Today", exact=True)).to_be_visible()

    # Pin, by keyboard: the menu opens with Enter, the focus follows the chat to the Pinned group.
    menu = page.get_by_label("Options for Holiday plans")
    menu.focus()
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Pin", exact=True).focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Pinned", exact=True)).to_be_visible()
    assert group_titles(page, "Pinned") == ["Holiday plans"]
    expect(page.locator(f"#conversation-link-{chat.id}")).to_be_focused()
    chat.refresh_from_db()
    assert chat.pinned

    # Escape closes an open menu and gives the focus back to its button.
    page.get_by_label("Options for Recipes").click()
    expect(page.get_by_role("button", name="Archive").first).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_label("Options for Recipes")).to_be_focused()

    # Archive: gone from the sidebar, listed on the Archived page.
    page.get_by_label("Options for Holiday plans").click()
    page.locator(f"#conversation-groups form[action='/c/{chat.id}/archive/'] button").click()
    expect(page.locator(f"#conversation-link-{chat.id}")).to_have_count(0)
    expect(page.get_by_role("heading", name="Pinned", exact=True)).to_have_count(0)
    chat.refresh_from_db()
    assert chat.archived_at is not None

    page.get_by_role("link", name="Archived chats").click()
    expect(page.get_by_role("heading", name="Archived chats", level=1)).to_be_visible()
    page.get_by_role("button", name="Restore Holiday plans").click()
    expect(page.get_by_text("“Holiday plans” was restored to your chats.")).to_be_visible()
    expect(page.get_by_text("No archived chats.")).to_be_visible()
    page.goto("/c/")
    assert group_titles(page, "Pinned") == ["Holiday plans"], "restored, still pinned"


def test_the_full_screen_layout_hides_the_sidebar_behind_a_button(new_page, live_app):
    user = UserFactory()
    chat = ConversationFactory(user=user, title="A chat")
    MessageFactory(conversation=chat, content="Hello there")
    page = signed_in(new_page, live_app, user)
    page.goto(f"/c/{chat.id}/")
    sidebar = page.locator("#chat-sidebar")
    toggle = page.get_by_role("button", name="Conversations", exact=True)
    expect(sidebar).to_be_visible()
    expect(toggle).to_be_hidden()
    sidebar_layout_width = page.locator("#chat-main").bounding_box()["width"]

    page.get_by_role("button", name="Hide the sidebar").click()
    page.wait_for_url(re.compile(rf"/c/{chat.id}/$"))
    expect(sidebar).to_be_hidden()
    expect(toggle).to_be_visible()
    assert page.locator("#chat-main").bounding_box()["width"] >= sidebar_layout_width

    toggle.click()
    expect(sidebar).to_be_visible()
    expect(page.locator(f"#conversation-link-{chat.id}")).to_be_focused()
    page.keyboard.press("Escape")
    expect(sidebar).to_be_hidden()
    expect(toggle).to_be_focused()

    # On a phone the sidebar is a drawer either way, and the composer stays at the bottom of the screen.
    page.set_viewport_size(PHONE)
    page.reload()
    expect(sidebar).to_be_hidden()
    composer = page.locator("#composer").bounding_box()
    assert composer["y"] + composer["height"] <= PHONE["height"] and composer["y"] > PHONE["height"] / 2
    page.set_viewport_size({"width": 1280, "height": 900})

    toggle.click()
    page.get_by_role("button", name="Keep the sidebar open").click()
    page.wait_for_url(re.compile(rf"/c/{chat.id}/$"))
    expect(sidebar).to_be_visible()
    expect(toggle).to_be_hidden()


def test_a_starter_prompt_starts_the_chat(new_page, live_app):
    user = UserFactory()
    DocumentFactory(owner=user, title="Beekeeping guide")
    page = signed_in(new_page, live_app, user)
    page.goto("/c/")
    page.get_by_role("button", name="Summarise “Beekeeping guide”").click()
    page.wait_for_url(re.compile(r"/c/[0-9a-f-]{36}/$"))
    expect(page.locator(".message-user").first).to_contain_text("Summarise “Beekeeping guide”")
    conversation = Conversation.objects.get(user=user)
    assert Message.objects.filter(conversation=conversation, role="user").get().content == (
        "Summarise “Beekeeping guide”"
    )


def test_a_search_result_opens_at_its_message_marked(new_page, live_app):
    user = UserFactory()
    chat = ConversationFactory(user=user, title="Long one")
    parent = None
    for number in range(30):
        content = "The walrus hides here." if number == 3 else f"Filler message number {number}. " * 8
        parent = MessageFactory(conversation=chat, role="user" if number % 2 == 0 else "assistant", parent=parent,
                                content=content)  # fmt: skip
    target = Message.objects.get(conversation=chat, content="The walrus hides here.")
    page = signed_in(new_page, live_app, user)
    page.goto("/c/search/?q=walrus")
    expect(page.locator(".search-snippet mark")).to_have_text("walrus")
    page.locator(".search-results a[href*='#message-']").click()
    page.wait_for_url(re.compile(rf"#message-{target.id}$"))
    message = page.locator(f"#message-{target.id}")
    expect(message).to_be_in_viewport()
    expect(message).to_be_focused()
    outline = message.locator(".bubble").evaluate("element => getComputedStyle(element).outlineStyle")
    assert outline == "solid", "the message is marked"


def test_a_chats_open_menu_is_above_the_rows_below_it_and_its_items_line_up(new_page, live_app):
    """The walk's open menu had the ⋯ buttons of the chats below it painted over its right edge, and Rename… (a link,
    with the sidebar links' padding) stood out of line with Pin, Archive and Delete…"""
    user = UserFactory()
    for n in range(6):
        ConversationFactory(user=user, title=f"Chat {n}")
    page = signed_in(new_page, live_app, user)
    page.goto("/c/")
    page.locator("summary[aria-label='Options for Chat 5']").click()  # the newest: at the top, five rows under it
    panel = page.locator(".item-menu[open] .item-menu-panel")
    expect(panel).to_be_visible()
    covered = panel.evaluate(
        """panel => [...document.querySelectorAll('.item-menu:not([open]) > .item-menu-button')].filter(button => {
             const b = button.getBoundingClientRect(), x = b.left + b.width / 2, y = b.top + b.height / 2;
             const p = panel.getBoundingClientRect();
             const under = x > p.left && x < p.right && y > p.top && y < p.bottom;
             return under && !panel.contains(document.elementFromPoint(x, y));
           }).length"""
    )
    assert covered == 0, "another chat's ⋯ button shows through the open menu"
    # Where each item's words start (its box starts in line either way: the padding was inside it).
    lefts = panel.evaluate(
        """panel => Object.fromEntries([...panel.querySelectorAll('a, button')].map(item => {
             const range = document.createRange();
             range.selectNodeContents(item);
             return [item.textContent.trim(), Math.round(range.getBoundingClientRect().left)];
           }))"""
    )
    assert len(set(lefts.values())) == 1, lefts
