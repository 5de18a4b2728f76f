"""Votes and export in a real chromium: a thumbs down with a rating and a comment (by keyboard), changed to a
thumbs up and taken back, and a chat downloaded as Markdown and JSON from its menu."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import expect

from conversations.models import Vote
from tests.factories import ConversationFactory, MessageFactory, UserFactory
from tests.live import scrolls_sideways, session_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def chat_with_a_reply():
    user = UserFactory()
    conversation = ConversationFactory(user=user, title="Indexes")
    question = MessageFactory(conversation=conversation, role="user", content="What is HNSW?")
    reply = MessageFactory(
        conversation=conversation, parent=question, role="assistant", content="A graph index.", model="claude-x"
    )
    return user, conversation, reply


def open_chat(new_page, live_app, user, conversation, *, width: int = 1280):
    page = new_page()
    page.set_viewport_size({"width": width, "height": 900})
    page.context.add_cookies([{"name": "sessionid", "value": session_for(user), "url": live_app.url}])
    page.goto(f"/c/{conversation.id}/")
    return page


@pytest.mark.parametrize("width", [1280, 375])
def test_vote_down_with_a_rating_and_a_comment_then_change_and_take_it_back(new_page, live_app, width):
    user, conversation, reply = chat_with_a_reply()
    page = open_chat(new_page, live_app, user, conversation, width=width)
    bubble = page.locator(f"#message-{reply.id}")
    down = bubble.get_by_role("button", name="Bad reply")
    expect(down).to_have_attribute("aria-pressed", "false")

    down.click()
    expect(bubble.get_by_role("button", name="Bad reply")).to_have_attribute("aria-pressed", "true")
    # "What went wrong" opens at once: a labelled radio group and a comment, all by keyboard.
    expect(bubble.get_by_role("group", name="How good was this reply?")).to_be_visible()
    expect(page.locator(f"#vote-down-{reply.id}")).to_be_focused()  # the focus stayed on the pressed thumb
    bubble.get_by_role("radio", name="2").check()
    expect(bubble.get_by_role("radio", name="2")).to_be_checked()
    comment = bubble.get_by_role("textbox", name="What went wrong?")
    comment.fill("It named the wrong index type.")
    comment.press("Tab")
    page.keyboard.press("Enter")  # Send feedback
    expect(bubble.get_by_text("Your feedback: 2/5")).to_be_visible()
    vote = Vote.objects.get(message=reply, user=user)
    assert (vote.is_upvoted, vote.rating, vote.comment) == (False, 2, "It named the wrong index type.")
    # Nothing overflows sideways on a phone.
    assert not scrolls_sideways(page)

    # A reload shows it; a thumbs up replaces it (and its comment); the same thumb again takes it back.
    page.reload()
    expect(bubble.get_by_role("button", name="Bad reply")).to_have_attribute("aria-pressed", "true")
    bubble.get_by_role("button", name="Good reply").click()
    expect(bubble.get_by_role("button", name="Good reply")).to_have_attribute("aria-pressed", "true")
    expect(bubble.get_by_text("Your feedback")).to_have_count(0)
    bubble.get_by_role("button", name="Good reply").click()
    expect(bubble.get_by_role("button", name="Good reply")).to_have_attribute("aria-pressed", "false")
    assert not Vote.objects.filter(message=reply).exists()


def test_export_a_chat_as_markdown_and_json_from_its_menu(new_page, live_app):
    user, conversation, _reply = chat_with_a_reply()
    page = open_chat(new_page, live_app, user, conversation)
    page.get_by_text("Conversation settings").click()
    with page.expect_download() as markdown:
        page.get_by_role("link", name="Markdown").click()
    assert markdown.value.suggested_filename.endswith("-indexes.md")
    text = Path(markdown.value.path()).read_text(encoding="utf-8")
    assert text.startswith("# Indexes") and "A graph index." in text and "### Assistant (claude-x)" in text
    with page.expect_download() as exported:
        page.get_by_role("link", name="JSON (every branch)").click()
    document = json.loads(Path(exported.value.path()).read_text(encoding="utf-8"))
    assert [m["content"] for m in document["conversations"][0]["messages"]] == ["What is HNSW?", "A graph index."]
