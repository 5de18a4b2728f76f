"""Defects a new user's walk through the app found, each checked in a real chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.factories import UserFactory
from tests.live import answer_dialog, session_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
PHONE = {"width": 375, "height": 740}


def signed_in_page(new_page, live_app, user=None):
    user = user or UserFactory()
    page = new_page()
    page.context.add_cookies([{"name": "sessionid", "value": session_for(user), "url": live_app.url}])
    return page, user


def box(page, selector: str) -> dict:
    return page.locator(selector).bounding_box()


def open_chat_with_one_reply(new_page, live_app, viewport: dict, *, title: str):
    """A new user's chat of one question and its answer, open at this size, app.js bound."""
    from tests.factories import ConversationFactory, MessageFactory

    user = UserFactory()
    conversation = ConversationFactory(user=user, title=title)
    question = MessageFactory(conversation=conversation, role="user", content="A question")
    MessageFactory(conversation=conversation, parent=question, role="assistant", content="An answer.", model="x")
    page, _ = signed_in_page(new_page, live_app, user)
    page.set_viewport_size(viewport)
    page.goto(f"/c/{conversation.id}/")
    page.wait_for_load_state("load")  # app.js binds its handlers
    return page


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900}, PHONE], ids=["desktop", "phone"])
def test_the_message_box_keeps_the_composers_width_beside_send_with_attach_files_under_it(new_page, live_app, viewport):
    page, _ = signed_in_page(new_page, live_app)
    page.set_viewport_size(viewport)
    page.goto("/c/")
    page.get_by_role("button", name="Attach files").wait_for()  # attachments.js has shown it

    composer, textarea = box(page, "#composer"), box(page, "#composer-input")
    send, attach = box(page, "[data-send]"), box(page, "[data-attachment-button]")
    # The attachment row took the grid's narrow column beside the box, which shrank to a few letters' width.
    assert textarea["width"] > composer["width"] - send["width"] - 40, "the box fills the row beside Send"
    assert send["x"] > textarea["x"] + textarea["width"] - 1, "Send stands beside the box"
    if viewport == PHONE:  # a phone's composer is two rows: Attach ends the model menu's, over Send
        assert attach["y"] + attach["height"] <= textarea["y"], "Attach files is above the box"
        assert attach["x"] + attach["width"] == pytest.approx(send["x"] + send["width"], abs=1)
        return
    assert attach["y"] >= textarea["y"] + textarea["height"], "Attach files is under the box"
    assert attach["x"] == pytest.approx(textarea["x"], abs=1)


def test_a_new_chat_on_a_phone_keeps_send_on_screen_under_the_starter_prompts(new_page, live_app):
    page, _ = signed_in_page(new_page, live_app)
    page.set_viewport_size(PHONE)
    page.goto("/c/")
    page.locator(".prompt-suggestion").first.wait_for()

    # The welcome and its four starter prompts outgrew the screen: the chat column scrolled as a whole, the
    # Conversations button went off the top and Send off the bottom.
    send, toggle = box(page, "[data-send]"), box(page, ".drawer-toggle")
    assert send["y"] + send["height"] <= PHONE["height"], "Send is on screen"
    assert toggle["y"] >= 0, "the Conversations button is on screen"
    assert page.evaluate("document.documentElement.scrollHeight") <= PHONE["height"], "the page does not scroll"
    # The prompts are still all reachable, by scrolling the welcome.
    last = page.locator(".prompt-suggestion").last
    last.scroll_into_view_if_needed()
    assert last.is_visible() and box(page, "[data-send]") == send


def test_the_vote_thumbs_are_drawn_without_an_emoji_font_and_take_the_pressed_colour(new_page, live_app):
    from tests.factories import ConversationFactory, MessageFactory

    user = UserFactory()
    conversation = ConversationFactory(user=user, title="Thumbs")
    question = MessageFactory(conversation=conversation, role="user", content="Hi")
    reply = MessageFactory(conversation=conversation, parent=question, role="assistant", content="Hello.", model="x")
    page, _ = signed_in_page(new_page, live_app, user)
    page.goto(f"/c/{conversation.id}/")
    bubble = page.locator(f"#message-{reply.id}")

    # 👍/👎 were emoji: empty boxes on a machine without a colour-emoji font (this chromium's, many desktops').
    for name in ("Good reply", "Bad reply"):
        button = bubble.get_by_role("button", name=name)
        icon = button.locator(".vote-icon")
        assert icon.count() == 1 and icon.bounding_box()["width"] >= 14
        assert "thumbs-" in icon.evaluate("i => getComputedStyle(i).maskImage || getComputedStyle(i).webkitMaskImage")
        assert page.request.get(f"{live_app.url}/static/img/thumbs-up.svg").ok
    down = bubble.get_by_role("button", name="Bad reply")
    down.click()
    bubble.locator('[aria-pressed="true"]').wait_for()
    colours = bubble.get_by_role("button", name="Bad reply").evaluate(
        "b => [getComputedStyle(b).color, getComputedStyle(b.querySelector('.vote-icon')).backgroundColor]"
    )
    assert colours[0] == colours[1], "the thumb is drawn in the pressed button's colour"


def test_a_checkboxs_help_text_sits_under_it_not_squeezed_beside_its_label(new_page, live_app):
    page, _ = signed_in_page(new_page, live_app)
    page.goto("/settings/")
    label = page.get_by_text("Side-by-side answers", exact=True)
    help_text = page.locator("#id_multi_model_enabled_helptext")
    label_box, help_box = label.bounding_box(), help_text.bounding_box()
    assert help_box["y"] >= label_box["y"] + label_box["height"] - 1, "the help is under the label"
    assert help_box["width"] > 600, "the help takes the form's width"


CONTRAST = """el => {
  const rgb = c => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const channel = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const lum = c => { const [r, g, b] = rgb(c).map(channel); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  let back = el, bg;
  while (back && (bg = getComputedStyle(back).backgroundColor) === 'rgba(0, 0, 0, 0)') back = back.parentElement;
  const [a, b] = [lum(getComputedStyle(el).color), lum(bg)];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_a_sent_files_name_and_a_danger_button_are_readable_in_both_themes(new_page, live_app, scheme):
    from tests.factories import AttachmentFactory, ConversationFactory, MessageFactory

    user = UserFactory()
    conversation = ConversationFactory(user=user, title="Files")
    question = MessageFactory(conversation=conversation, role="user", content="Read this")
    MessageFactory(conversation=conversation, parent=question, role="assistant", content="Read.", model="x")
    AttachmentFactory(conversation=conversation, message=question)
    page, _ = signed_in_page(new_page, live_app, user)
    page.emulate_media(color_scheme=scheme)
    page.goto(f"/c/{conversation.id}/")

    # The chip inherited the user's bubble's text colour: white on light grey, near-black on dark grey.
    name = page.locator(".message-user .bubble .attachment-file .attachment-name")
    assert name.inner_text() == "notes.txt"
    assert name.evaluate(CONTRAST) >= 4.5
    # White on the dark theme's light red was 2:1.
    page.get_by_text("Conversation settings").click()
    assert page.get_by_role("button", name="Delete conversation").evaluate(CONTRAST) >= 4.5


def test_the_theme_saved_in_settings_wins_over_the_one_this_browser_last_toggled(new_page, live_app):
    """The header toggle keeps a choice in the browser too (for visitors); a signed-in user's saved preference wins:
    picking "Follow the system" in Settings after toggling to dark follows the system."""
    from accounts.models import Preferences

    page, user = signed_in_page(new_page, live_app)
    page.goto("/settings/")
    toggle = page.locator("[data-theme-toggle]")
    expect(toggle).to_have_attribute("aria-label", "Colour theme: system, change it")
    with page.expect_response(lambda r: r.url.endswith("/theme/") and r.request.method == "POST"):
        toggle.click()  # system -> light
    with page.expect_response(lambda r: r.url.endswith("/theme/") and r.request.method == "POST"):
        toggle.click()  # light -> dark
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    expect(toggle.locator("[data-theme-icon]")).to_have_text("☾")  # each state its own icon, not only its label
    assert Preferences.objects.get(user=user).theme == "dark"
    # The page's own Theme field follows the toggle: it said "Follow the system", and a Save of any other setting
    # then put that back.
    expect(page.get_by_label("Theme", exact=True)).to_have_value("dark")

    page.get_by_label("Theme", exact=True).select_option("system")
    page.get_by_role("button", name="Save").first.click()
    expect(page.get_by_text("Preferences saved.")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("data-theme", "system")
    expect(toggle.locator("[data-theme-icon]")).to_have_text("◐")
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", "system")

    # A visitor's toggle is kept by the browser alone.
    visitor = new_page()
    visitor.goto("/accounts/login/")
    visitor.locator("[data-theme-toggle]").click()
    visitor.reload()
    expect(visitor.locator("html")).to_have_attribute("data-theme", "light")


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 800}, PHONE], ids=["desktop", "phone"])
def test_conversation_settings_open_as_a_sheet_over_the_chat_and_close_with_escape_or_a_click_outside(
    new_page, live_app, viewport
):
    page = open_chat_with_one_reply(new_page, live_app, viewport, title="Sheet")
    thread_before = box(page, ".thread")

    # The panel (a system prompt, sharing, the title, tools, project, export, delete) pushed the chat off screen.
    summary = page.locator(".chat-settings > summary")  # "Settings" on a phone, its accessible name in full
    expect(summary).to_have_accessible_name("Conversation settings")
    summary.click()
    sheet = page.locator(".chat-settings-panel")
    expect(sheet).to_be_visible()
    assert box(page, ".thread") == thread_before, "the chat stays where it was under the sheet"
    panel = sheet.bounding_box()
    assert panel["x"] >= 0 and panel["x"] + panel["width"] <= viewport["width"], "the sheet fits the screen"
    assert panel["y"] + panel["height"] <= viewport["height"], "the sheet scrolls on its own"
    page.get_by_role("button", name="Delete conversation").scroll_into_view_if_needed()
    expect(page.get_by_role("button", name="Delete conversation")).to_be_visible()

    page.locator("#chat-system-prompt").focus()
    page.keyboard.press("Escape")
    expect(sheet).to_be_hidden()
    expect(summary).to_be_focused()

    summary.click()
    expect(sheet).to_be_visible()
    page.mouse.click(5, 5)  # outside it (on a phone, its backdrop)
    expect(sheet).to_be_hidden()

    # Tab past its last control went on to the links it covers: leaving it by keyboard closes it.
    summary.click()
    page.get_by_role("button", name="Delete conversation").focus()
    page.keyboard.press("Tab")
    expect(sheet).to_be_hidden()
    summary.click()
    page.get_by_role("button", name="Close").click()
    expect(sheet).to_be_hidden()
    expect(summary).to_be_focused()


def test_the_settings_sections_on_a_phone_are_one_row_with_the_open_one_in_view(new_page, live_app):
    page, _ = signed_in_page(new_page, live_app)
    page.set_viewport_size(PHONE)
    page.goto("/settings/usage/")
    page.wait_for_load_state("load")

    # Sixteen sections wrapped onto five rows: the page's own heading started a third of the way down the screen.
    links = page.locator(".settings-nav a")
    tops = {round(links.nth(i).bounding_box()["y"]) for i in range(links.count())}
    assert len(tops) == 1, "the sections are one row"
    nav = box(page, ".settings-nav")
    assert nav["height"] < 70
    current = page.locator(".settings-nav [aria-current='page']")
    assert current.inner_text() == "Usage"
    shown = current.bounding_box()
    assert shown["x"] >= 0 and shown["x"] + shown["width"] <= PHONE["width"], "the open section is in view"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "only the row scrolls"
    # Every section is still reachable by scrolling the row.
    links.last.scroll_into_view_if_needed()
    expect(links.last).to_be_in_viewport()


def test_without_javascript_the_version_arrows_and_regenerate_still_work(new_page, live_app):
    from conversations.models import Message
    from tests.factories import ConversationFactory, MessageFactory

    user = UserFactory()
    conversation = ConversationFactory(user=user, title="No script", provider="offline", model="offline")
    question = MessageFactory(conversation=conversation, role="user", content="Which version?")
    MessageFactory(conversation=conversation, parent=question, role="assistant", content="The first answer.")
    second = MessageFactory(conversation=conversation, parent=question, role="assistant", content="The second one.")
    conversation.active_leaf = second
    conversation.save(update_fields=["active_leaf"])
    page = new_page(java_script_enabled=False)
    page.context.add_cookies([{"name": "sessionid", "value": session_for(user), "url": live_app.url}])
    page.goto(f"/c/{conversation.id}/")

    # The arrows and Regenerate were buttons only htmx could send: without it they did nothing.
    expect(page.locator(".branch-position")).to_have_text("2/2")
    page.get_by_role("button", name="Previous version").click()
    expect(page.locator(".branch-position")).to_have_text("1/2")
    expect(page.locator(".message-assistant .bubble")).to_contain_text("The first answer.")

    page.get_by_role("button", name="Regenerate").click()
    expect(page.locator(".branch-position")).to_have_text("3/3")
    assert Message.objects.filter(conversation=conversation, role="assistant").count() == 3

    while Message.objects.filter(conversation=conversation, status="streaming").exists():  # the offline reply
        page.wait_for_timeout(100)
    page.reload()
    page.locator(".edit-message > summary").click()  # a details element: it opens without script
    page.get_by_label("Edit your message").fill("Which version, again?")
    page.get_by_role("button", name="Send edited").click()
    expect(page.locator(".message-user .user-text")).to_have_text("Which version, again?")
    expect(page.locator(".message-user .branch-position")).to_have_text("2/2")


def test_a_phones_chat_header_is_one_row_over_the_title_and_the_thread_gets_most_of_the_screen(new_page, live_app):
    title = "When was the Zorblax project founded and who founded it?"
    page = open_chat_with_one_reply(new_page, live_app, PHONE, title=title)

    toggle = page.get_by_role("button", name="Conversations", exact=True)
    settings = page.locator(".chat-settings > summary")
    expect(settings).to_have_accessible_name("Conversation settings")
    tops = {round(box(page, selector)["y"]) for selector in (".drawer-toggle", ".chat-actions", ".chat-settings")}
    assert max(tops) - min(tops) < 20, "the header's buttons share one row"
    assert toggle.bounding_box()["width"] < 60, "the drawer button shows its icon"
    expect(settings.locator(".narrow-only")).to_have_text("Settings")
    assert settings.locator(".narrow-hidden").bounding_box()["width"] <= 1, "the long label is for screen readers"
    # The thread had 337 of 740 pixels under two rows of buttons and a three-line title.
    assert box(page, ".thread")["height"] > 0.5 * PHONE["height"] - 40


def test_a_documents_own_page_deletes_it_after_asking(new_page, live_app):
    from documents.models import Document
    from tests.factories import DocumentFactory

    user = UserFactory()
    document = DocumentFactory(owner=user, title="Old notes", chunk_count=3)
    page, _ = signed_in_page(new_page, live_app, user)
    page.goto(f"/documents/{document.id}/")
    page.wait_for_load_state("load")  # app.js asks before a data-confirm button submits

    asked: list[str] = []
    page.once("dialog", answer_dialog(asked, accept=False))
    page.get_by_role("button", name="Delete document").click()
    assert asked == ["Delete “Old notes”?"] and Document.objects.filter(id=document.id).exists()
    page.once("dialog", answer_dialog(asked, accept=True))
    page.get_by_role("button", name="Delete document").click()
    expect(page.get_by_text("“Old notes” deleted.")).to_be_visible()
    assert page.url.endswith("/documents/") and not Document.objects.filter(id=document.id).exists()


def test_moving_the_open_chat_from_the_sidebar_updates_its_headers_project_line(new_page, live_app):
    from tests.factories import ConversationFactory, ProjectFactory

    user = UserFactory()
    project = ProjectFactory(user=user, name="Garden")
    chat = ConversationFactory(user=user, title="Roses")
    ConversationFactory(user=user, title="Tulips")
    page, _ = signed_in_page(new_page, live_app, user)
    page.goto(f"/c/{chat.id}/")
    page.wait_for_load_state("load")
    line = page.locator(f"#chat-project-{chat.id}")
    expect(line).to_be_hidden()

    # It stayed as it was (nothing, then "In the project Garden") until a reload.
    page.get_by_label("Options for Roses").click()
    page.locator(f"#sidebar-project-{chat.id}").select_option(label="Garden")
    page.locator(f"#conversation-groups form[action='/c/{chat.id}/project/'] button").click()
    expect(line).to_have_text("In the project Garden")
    expect(line.get_by_role("link", name="Garden")).to_have_attribute("href", f"/c/projects/{project.id}/")
    expect(page.locator(f"#header-project-{chat.id}")).to_have_value(str(project.id))

    page.locator(f"#conversation-link-{chat.id}").drag_to(page.get_by_role("link", name="Tulips"))  # out of it
    expect(line).to_be_hidden()
    expect(page.locator(f"#header-project-{chat.id}")).to_have_value("")


AT_END = "t => t.scrollHeight - t.scrollTop - t.clientHeight"


def long_chat(new_page, live_app):
    """A new user's chat (no model: the offline assistant answers) longer than the screen, open at its end."""
    from tests.factories import ConversationFactory, MessageFactory

    user = UserFactory()
    conversation = ConversationFactory(user=user, title="Long", provider="offline", model="offline")
    parent = None
    for number in range(6):
        parent = MessageFactory(conversation=conversation, parent=parent, role="user", content=f"Question {number}")
        parent = MessageFactory(conversation=conversation, parent=parent, role="assistant", model="offline",
                                provider="offline", content="\n\n".join(["A paragraph of an answer."] * 6))  # fmt: skip
    conversation.active_leaf = parent
    conversation.save(update_fields=["active_leaf"])
    page, _ = signed_in_page(new_page, live_app, user)
    page.set_viewport_size({"width": 1280, "height": 700})
    page.goto(f"/c/{conversation.id}/")
    page.wait_for_load_state("load")
    thread = page.locator("#thread")
    assert thread.evaluate(AT_END) < 2, "the chat opens at its end"
    return page, thread, parent


def test_the_thread_stays_at_its_end_when_a_reply_finishes(new_page, live_app):
    page, thread, _ = long_chat(new_page, live_app)
    box = page.get_by_role("textbox", name="Your message")
    box.fill("One more question")
    box.press("Enter")
    page.locator(".message[data-streaming]").wait_for()
    expect(page.locator(".message[data-streaming]")).to_have_count(0, timeout=20_000)
    # The finished reply (its actions, its thumbs) is taller than the streaming one: the thread stopped short.
    page.wait_for_timeout(300)
    assert thread.evaluate(AT_END) < 2


def test_a_thumbs_downs_follow_up_opens_in_view(new_page, live_app):
    page, thread, last = long_chat(new_page, live_app)
    page.locator(f"#message-{last.id}").get_by_role("button", name="Bad reply").click()
    feedback = page.locator(f"#vote-feedback-{last.id}")
    expect(feedback).to_have_attribute("open", "")
    page.wait_for_timeout(300)
    # "What went wrong?" opened under the last reply, below the end of what the thread showed.
    expect(page.locator(f"#vote-comment-{last.id}")).to_be_in_viewport()
    assert thread.evaluate(AT_END) < 2


@pytest.mark.parametrize("path", ["new", "chat"])
def test_tab_reaches_the_skip_link_first_and_typing_at_once_still_writes_the_message(new_page, live_app, path):
    if path == "chat":
        page = open_chat_with_one_reply(new_page, live_app, {"width": 1280, "height": 900}, title="Keys")
    else:
        page, _ = signed_in_page(new_page, live_app)
        page.goto("/c/")
        page.wait_for_load_state("load")
    # The composer had the focus on load: the skip link came only after a Tab through the whole page.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()

    page.reload()
    page.wait_for_load_state("load")
    page.keyboard.type("Hello")
    box = page.get_by_role("textbox", name="Your message")
    expect(box).to_be_focused()
    expect(box).to_have_value("Hello")


def test_the_sheets_project_picker_lines_up_with_its_other_fields_and_a_refused_title_says_why(new_page, live_app):
    from conversations.models import Conversation
    from tests.factories import ProjectFactory

    page = open_chat_with_one_reply(new_page, live_app, {"width": 1280, "height": 900}, title="Sheet")
    conversation_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    conversation = Conversation.objects.get(id=conversation_id)
    ProjectFactory(user=conversation.user, name="Garden")
    page.reload()
    page.wait_for_load_state("load")
    page.locator(".chat-settings > summary").click()

    # The Project label, select and Move were centred in the sheet; its other fields are left-aligned, full width.
    title, picker = box(page, "#chat-title"), box(page, f"#header-project-{conversation_id}")
    assert picker["x"] == title["x"] and picker["width"] == title["width"]
    assert box(page, f"label[for=header-project-{conversation_id}]")["x"] == box(page, "label[for=chat-title]")["x"]

    # A title of spaces was taken, the page reloaded, and the reason shown only atop it: now beside the button.
    page.locator("#chat-title").fill("   ")
    page.get_by_role("button", name="Rename").click()
    expect(page.locator("#rename-status")).to_contain_text("A title cannot be empty")
    expect(page.locator(".chat-settings-panel")).to_be_visible()
    page.locator("#chat-title").fill("Garden plans")
    page.get_by_role("button", name="Rename").click()
    expect(page.locator("#rename-status")).to_have_text("Renamed.")
    expect(page.locator(".chat-title")).to_have_text("Garden plans")
    expect(page).to_have_title("Garden plans · Chatbot")


def test_the_settings_sheet_says_when_it_closes_on_edits_not_saved(new_page, live_app):
    page = open_chat_with_one_reply(new_page, live_app, {"width": 1280, "height": 800}, title="Unsaved")
    summary = page.locator(".chat-settings > summary")
    summary.click()
    prompt = page.locator("#chat-system-prompt")
    prompt.fill("Answer in French.")
    page.keyboard.press("Escape")
    expect(summary).to_contain_text("not saved")  # the typed text is kept, and said to be unsaved
    expect(summary).to_have_accessible_name("Conversation settings • not saved")

    summary.click()
    expect(prompt).to_have_value("Answer in French.")
    expect(summary).not_to_contain_text("not saved")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#settings-status")).to_contain_text("Saved")
    page.get_by_role("button", name="Close").click()
    expect(summary).not_to_contain_text("not saved")  # saved: nothing to say


def test_the_full_screen_layout_gives_a_long_title_its_own_row(new_page, live_app):
    """The drawer's button joined the header's row and squeezed the title into four short lines between buttons."""
    from accounts.models import Preferences
    from tests.factories import ConversationFactory

    user = UserFactory()
    Preferences.objects.update_or_create(user=user, defaults={"layout": "fullscreen"})
    title = "How do I configure the backup schedule for the staging cluster and its replicas"
    conversation = ConversationFactory(user=user, title=title)
    page, _ = signed_in_page(new_page, live_app, user)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"/c/{conversation.id}/")
    header, heading = box(page, ".chat-header"), box(page, ".chat-title")
    assert heading["width"] > 0.9 * header["width"], "the title spans the header"
    assert heading["y"] > box(page, ".chat-header .drawer-toggle")["y"], "under the buttons' row"
    assert heading["height"] < 80, "two lines at most"


@pytest.mark.parametrize("width", [375, 390])
def test_a_signed_in_users_header_is_one_row_on_a_phone(new_page, live_app, width):
    """Chats, Documents, Settings and Sign out wrapped to a second row on a phone: some 50 pixels less of the chat."""
    page, _ = signed_in_page(new_page, live_app)
    page.set_viewport_size({"width": width, "height": 740})
    page.goto("/c/")
    page.wait_for_load_state("load")
    tops = page.locator(".site-header nav > a, .site-header nav > form").evaluate_all(
        "items => items.filter(item => item.offsetParent).map(item => Math.round(item.getBoundingClientRect().top))"
    )
    assert len(tops) >= 4 and max(tops) - min(tops) < 10, tops
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    expect(page.get_by_role("link", name="Documents")).to_be_visible()  # its name, whatever its label's length
