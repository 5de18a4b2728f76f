"""What a user who tried Open WebUI beside this app missed in the everyday chat, fixed and checked in a real
chromium (docs/decisions.md, "Side by side with Open WebUI, a user's view")."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.services import SYSTEM, provider_key_save
from tests.factories import UserFactory
from tests.live import signed_in

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
# A long reply: a paragraph a token, each a few lines high.
PARAGRAPHS = [f"Paragraph {i}: " + " ".join(f"word{j}" for j in range(40)) + "\n\n" for i in range(120)]


def chat_page(new_page, live_app, *, phone: bool = False, **options):
    user = UserFactory()
    provider_key_save(user=user, provider="anthropic", api_key="sk-ant-test-side-by-side-01", client=SYSTEM)
    page = signed_in(lambda: new_page(**options), live_app, user)
    if phone:
        page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/c/")
    return page


def send(page, text: str) -> None:
    first = page.url.endswith("/c/")
    box = page.get_by_role("textbox", name="Your message")
    box.fill(text)
    box.press("Enter")
    if first:  # a new chat's first message opens the chat's own page
        page.wait_for_url("**/c/*-*/")


def gap_below(page) -> float:
    return page.locator("#thread").evaluate("t => t.scrollHeight - t.scrollTop - t.clientHeight")


def test_a_streaming_reply_can_be_scrolled_up_in_small_steps_and_latest_brings_the_end_back(
    new_page, live_app, fake_anthropic
):
    fake_anthropic.behaviour.tokens = PARAGRAPHS
    fake_anthropic.behaviour.token_delay = 0.05
    page = chat_page(new_page, live_app)
    send(page, "Tell me a long story")
    latest = page.get_by_role("button", name="Scroll to the latest message")
    # The reply has filled the thread and is followed: no "Latest" while the reader is at its end.
    page.wait_for_function(
        "() => { const t = document.getElementById('thread'); return t && t.scrollHeight > t.clientHeight + 300; }"
    )
    expect(latest).to_be_hidden()
    assert gap_below(page) < 48

    # A trackpad's (or a finger's) scroll: small steps, each within a line of the end. The reply's next frame put the
    # thread back at its end after each one, so it could not be scrolled up at all while it streamed.
    box = page.locator("#thread").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(10):
        page.mouse.wheel(0, -20)
        page.wait_for_timeout(40)
    page.wait_for_timeout(600)  # several more paragraphs arrive meanwhile
    assert page.locator(".message[data-streaming]").count() == 1
    assert gap_below(page) > 150, "the reader's scroll up was undone by the streaming reply"
    expect(latest).to_be_visible()
    top = page.locator("#thread").evaluate("t => t.scrollTop")
    page.wait_for_timeout(400)
    assert page.locator("#thread").evaluate("t => t.scrollTop") == top  # left where the reader is

    # "Latest" brings the end back and follows the reply again; the keyboard goes on from the message box.
    latest.click()
    expect(latest).to_be_hidden()
    expect(page.get_by_role("textbox", name="Your message")).to_be_focused()
    page.wait_for_timeout(500)
    assert gap_below(page) < 48
    page.get_by_role("button", name="Stop").first.click()
    page.locator(".message-cancelled").wait_for()
    assert gap_below(page) < 48
    expect(latest).to_be_hidden()

    # Scrolled up in a finished chat, too (the keyboard: the thread is a focusable region).
    page.locator("#thread").focus()
    page.keyboard.press("Home")
    expect(latest).to_be_visible()
    page.wait_for_function("() => document.getElementById('thread').scrollTop === 0")  # the key's smooth scroll
    latest.focus()
    page.keyboard.press("Enter")
    expect(latest).to_be_hidden()
    assert gap_below(page) < 48


MARKDOWN = """Here is a small example.

```python
def read_lines(path: str) -> list[str]:
    return [line.rstrip("\\n") for line in open(path, encoding="utf-8")]
```

And the same in the shell:

```bash
while IFS= read -r line; do echo "$line"; done < notes.txt
```
"""


def test_a_code_block_has_a_bar_with_its_language_and_copy_above_the_code(new_page, live_app, fake_anthropic):
    fake_anthropic.behaviour.reply = MARKDOWN
    fake_anthropic.behaviour.token_delay = 0.0
    page = chat_page(new_page, live_app, phone=True, permissions=["clipboard-read", "clipboard-write"])
    send(page, "Show me some code")
    reply = page.locator(".message-assistant .markdown:not(.streaming-markdown)")
    reply.wait_for()
    blocks = reply.locator(".code-block")
    expect(blocks).to_have_count(2)
    expect(blocks.nth(0).locator(".code-language")).to_have_text("python")
    expect(blocks.nth(1).locator(".code-language")).to_have_text("bash")
    copy = blocks.nth(0).get_by_role("button", name="Copy python code")
    expect(copy).to_be_visible()

    # Copy is above the code, not over its first line (on a phone it hid the line's end), and stays in view when
    # the wide block is scrolled sideways.
    code = blocks.nth(0).locator("pre")
    assert copy.bounding_box()["y"] + copy.bounding_box()["height"] <= code.bounding_box()["y"] + 1
    assert code.evaluate("pre => pre.scrollWidth > pre.clientWidth"), "the block should be wider than a phone"
    before = copy.bounding_box()["x"]
    code.evaluate("pre => { pre.scrollLeft = pre.scrollWidth; }")
    assert copy.bounding_box()["x"] == before

    copy.click()
    expect(copy).to_have_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("def read_lines(path: str)") and "Copy" not in copied

    # The reply's Copy: its words and code, not the bars' "python" and "Copy" (nor "Copy" after every block).
    page.locator(".message-assistant").get_by_role("button", name="Copy", exact=True).click()
    text = page.evaluate("navigator.clipboard.readText()")
    assert "Here is a small example." in text and "done < notes.txt" in text
    assert "Copy" not in text and "python" not in text and "bash" not in text


def test_the_streaming_rendering_has_the_same_bar_so_the_block_does_not_jump(new_page, live_app, fake_anthropic):
    fake_anthropic.behaviour.tokens = ["Here:\n\n", "```python\n", "x = 1\n", "y = 2\n", "```\n\n", "more"] + [
        " words"
    ] * 60
    fake_anthropic.behaviour.token_delay = 0.05
    page = chat_page(new_page, live_app)
    send(page, "Code, slowly")
    streaming = page.locator(".message[data-streaming] .streaming-markdown .code-block")
    streaming.wait_for()
    expect(streaming.locator(".code-language")).to_have_text("python")
    expect(streaming.get_by_role("button")).to_have_count(0)  # no Copy of a block still being written
    # Measured in one go: the streaming rendering is redrawn at every frame.
    height = page.evaluate(
        "() => document.querySelector('.message[data-streaming] .streaming-markdown .code-header')"
        ".getBoundingClientRect().height"
    )
    finished = page.locator(".message-assistant .markdown:not(.streaming-markdown) .code-block")
    finished.wait_for(timeout=20_000)
    assert abs(finished.locator(".code-header").bounding_box()["height"] - height) < 1


def test_escape_in_the_message_box_stops_the_reply(new_page, live_app, fake_anthropic):
    fake_anthropic.behaviour.tokens = PARAGRAPHS
    fake_anthropic.behaviour.token_delay = 0.05
    page = chat_page(new_page, live_app)
    expect(page.locator("#composer-hint")).to_contain_text("Escape stops a reply")
    send(page, "Tell me a long story")
    page.locator(".message[data-streaming] .streaming-markdown p").first.wait_for()
    box = page.get_by_role("textbox", name="Your message")
    box.focus()
    page.keyboard.press("Escape")
    expect(page.locator(".message-cancelled")).to_be_visible()
    expect(box).to_be_focused()
    expect(page.locator("[data-send]")).to_be_enabled()

    # Regenerate puts the focus on the new reply's own Stop (the eleventh walk: Escape did nothing there).
    page.get_by_role("button", name="Regenerate").click()
    stop = page.locator(".message[data-streaming] [data-stop-stream]")
    expect(stop).to_be_focused()
    page.locator(".message[data-streaming] .streaming-markdown p").first.wait_for()
    page.keyboard.press("Escape")
    expect(page.locator(".message[data-streaming]")).to_have_count(0)
    expect(page.locator(".message-cancelled")).to_be_visible()


def test_the_message_box_grows_with_its_lines_up_to_a_limit(new_page, live_app, fake_anthropic):
    page = chat_page(new_page, live_app)
    box = page.get_by_role("textbox", name="Your message")
    empty = box.bounding_box()["height"]
    box.focus()
    for number in range(6):
        page.keyboard.type(f"Line {number} of a question written over several lines")
        page.keyboard.press("Shift+Enter")
    grown = box.evaluate("t => [t.clientHeight, t.scrollHeight]")
    assert grown[0] > empty * 2 and grown[1] <= grown[0] + 1, f"every line in view: {grown}, empty {empty}"
    for number in range(60):
        page.keyboard.press("Shift+Enter")
    assert box.bounding_box()["height"] <= 900 * 0.4 + 1  # then it scrolls, the thread keeps its room
    # Sent, it is back to two lines.
    page.keyboard.type("The end")
    page.keyboard.press("Enter")
    page.locator(".message-assistant .markdown:not(.streaming-markdown)").first.wait_for()
    page.wait_for_function(
        f"() => document.getElementById('composer-input').getBoundingClientRect().height <= {empty + 1}"
    )

    # In a chat read to its end, the growing box takes its room from the thread: the reply's last lines stay in view.
    fake_anthropic.behaviour.tokens = PARAGRAPHS[:20]
    send(page, "A long reply")
    page.locator(".message-assistant .markdown:not(.streaming-markdown)").nth(1).wait_for()
    assert gap_below(page) < 48
    box.focus()
    for number in range(8):
        page.keyboard.type(f"Line {number}")
        page.keyboard.press("Shift+Enter")
    assert box.bounding_box()["height"] > empty * 2
    assert gap_below(page) < 48


def test_shortcuts_new_chat_search_and_back_to_the_message_box(new_page, live_app, fake_anthropic):
    page = chat_page(new_page, live_app)
    send(page, "Hello there")
    page.locator(".message-assistant .markdown:not(.streaming-markdown)").wait_for()
    chat_url = page.url

    page.keyboard.press("Control+k")
    expect(page.get_by_role("searchbox", name="Search your chats")).to_be_focused()
    page.keyboard.press("Shift+Escape")
    expect(page.get_by_role("textbox", name="Your message")).to_be_focused()
    # From a question's editor too: it stays open with its text (it was cancelled, the focus left on its Edit).
    page.keyboard.press("ArrowUp")
    editor = page.get_by_role("textbox", name="Edit your message")
    expect(editor).to_be_focused()
    page.keyboard.type(" again")
    page.keyboard.press("Shift+Escape")
    expect(page.get_by_role("textbox", name="Your message", exact=True)).to_be_focused()
    expect(editor).to_have_value("Hello there again")
    expect(page.get_by_role("link", name="+ New chat")).to_have_attribute(
        "aria-keyshortcuts", "Control+Shift+O Meta+Shift+O"
    )
    page.keyboard.press("Control+Shift+O")
    page.wait_for_url("**/c/")
    assert page.url != chat_url

    # On a phone the list is a drawer: Ctrl+K opens it at the search box.
    phone = chat_page(new_page, live_app, phone=True)
    phone.keyboard.press("Control+k")
    expect(phone.get_by_role("searchbox", name="Search your chats")).to_be_focused()
    expect(phone.locator("#chat-sidebar")).to_have_attribute("data-open", "")
    # Shift+Escape from there closes it, at the message box (it left the focus on the drawer's button).
    phone.keyboard.press("Shift+Escape")
    expect(phone.get_by_role("textbox", name="Your message")).to_be_focused()
    expect(phone.locator("#chat-sidebar")).not_to_have_attribute("data-open", "")


def test_a_question_can_be_copied_as_written(new_page, live_app, fake_anthropic):
    page = chat_page(new_page, live_app, permissions=["clipboard-read", "clipboard-write"])
    box = page.get_by_role("textbox", name="Your message")
    box.fill("First line of the question\nand its second line")
    box.press("Enter")
    page.wait_for_url("**/c/*-*/")
    page.locator(".message-assistant .markdown:not(.streaming-markdown)").wait_for()
    question = page.locator(".message-user")
    question.get_by_role("button", name="Copy", exact=True).click()
    expect(question.get_by_role("button", name="Copied", exact=True)).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == "First line of the question\nand its second line"
    # Editing it, the editor takes the row: no Copy beside it.
    question.get_by_text("Edit", exact=True).click()
    editor = question.get_by_role("textbox", name="Edit your message")
    expect(editor).to_be_focused()
    expect(question.get_by_role("button", name="Copy", exact=True)).to_be_hidden()
    # The editor grows with its lines, as the message box does: three rows showed a longer question in part.
    rows = editor.bounding_box()["height"]
    for number in range(4):
        page.keyboard.press("Enter")
        page.keyboard.type(f"and line {number + 3}")
    size = editor.evaluate("t => [t.clientHeight, t.scrollHeight]")
    assert size[1] <= size[0] + 1 and editor.bounding_box()["height"] > rows * 1.5, f"every line in view: {size}"


def test_arrow_up_in_an_empty_message_box_edits_the_last_question(new_page, live_app, fake_anthropic):
    page = chat_page(new_page, live_app)
    send(page, "The first question")
    page.locator(".message-assistant .markdown:not(.streaming-markdown)").wait_for()
    send(page, "The second question")
    page.locator(".message-assistant .markdown:not(.streaming-markdown)").nth(1).wait_for()
    box = page.get_by_role("textbox", name="Your message")

    # With text in the box, Arrow Up is the caret's.
    box.fill("A draft")
    box.press("ArrowUp")
    expect(box).to_be_focused()
    expect(page.locator("details.edit-message[open]")).to_have_count(0)

    box.fill("")
    box.press("ArrowUp")
    editor = page.locator(".message-user").last.get_by_role("textbox", name="Edit your message")
    expect(editor).to_be_focused()
    expect(editor).to_have_value("The second question")
    assert editor.evaluate("t => t.selectionStart") == len("The second question")
    page.keyboard.press("Escape")  # as Cancel: the question as it was
    expect(page.locator("details.edit-message[open]")).to_have_count(0)
