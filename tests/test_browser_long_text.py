"""Long unbroken text (a file name without spaces, a pasted hash, a 300-character title) in a real chromium at
375 px: it breaks inside its box on every page instead of widening the page, and the row's buttons stay on screen."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from playwright.sync_api import expect

from accounts.services import SYSTEM, provider_key_save
from conversations.models import Conversation
from conversations.services import conversation_create
from tests.factories import ChunkFactory, DocumentFactory, DocumentVersionFactory, MessageFactory, UserFactory
from tests.live import session_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
PHONE = {"width": 375, "height": 740}
TITLE = "Unbroken" + "x" * 292  # 300 characters, the longest title a document may have, without a space
WORD = "y" * 180  # a long word inside text: a hash, a URL, a line of a minified file
FILE_NAME = "Quarterly_report_2024.txt"  # 25 characters, no space: the walk's file name


def overflowing(page) -> list[str]:
    """What reaches past the right edge of the screen (empty when the page does not scroll sideways)."""
    return page.evaluate(
        """() => {
          const width = document.documentElement.clientWidth;
          if (document.documentElement.scrollWidth <= width) return [];
          return Array.from(document.querySelectorAll('body *'))
            .filter(el => el.getBoundingClientRect().right > width + 1 && el.getClientRects().length)
            .slice(0, 8)
            .map(el => `${el.tagName.toLowerCase()}.${el.className} ${Math.round(el.getBoundingClientRect().right)}`);
        }"""
    )


def on_screen(page, locator) -> None:
    box = locator.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box


def test_long_unbroken_text_never_widens_a_page_on_a_phone(new_page, live_app):
    user = UserFactory()
    provider_key_save(user=user, provider="anthropic", api_key="sk-ant-test-long-text-0123456789", client=SYSTEM)
    provider_key_save(
        user=user, provider="ollama", api_key="", client=SYSTEM, config={"base_url": f"https://{WORD}.example/v1"}
    )
    document = DocumentFactory(
        owner=user, title=TITLE, original_name=FILE_NAME, size=12, chunk_count=1,
        file=ContentFile(b"some notes\n", name=FILE_NAME), metadata={},
    )  # fmt: skip
    DocumentVersionFactory(document=document, number=1, content=f"First line\n{WORD}\nLast line")
    version = DocumentVersionFactory(document=document, number=2, content=f"First line\n{WORD}z\nLast line changed")
    chunk = ChunkFactory(document=document, text=f"A passage with {WORD} in it.", chapter=TITLE, section=WORD)
    written = DocumentFactory(owner=user, title=TITLE[::-1], original_name="")  # no file: "written here"
    shared = DocumentFactory(owner=None, title=TITLE, original_name="")  # read-only: its text in a <pre>
    DocumentVersionFactory(document=shared, number=1, content=f"Shared text\n{WORD}", author=None)
    conversation = conversation_create(user=user, title=TITLE)
    Conversation.objects.filter(id=conversation.id).update(visibility="public")
    MessageFactory(conversation=conversation, content=f"Find {WORD} please")
    MessageFactory(
        conversation=conversation, role="assistant", content=f"Here it is: {WORD} [1]\n\n`{WORD}`",
        metadata={"sources": [{"n": 1, "chunk_id": str(chunk.id), "title": TITLE, "chapter": TITLE,
                               "section": WORD, "text": chunk.text, "score": 0.5}]},
    )  # fmt: skip
    page = new_page()
    page.set_viewport_size(PHONE)
    page.context.add_cookies([{"name": "sessionid", "value": session_for(user), "url": live_app.url}])

    pages = [
        "/documents/", f"/documents/{document.id}/", f"/documents/{written.id}/", f"/documents/{shared.id}/",
        f"/documents/passages/{chunk.id}/", f"/documents/versions/{version.id}/", f"/c/{conversation.id}/",
        f"/c/search/?q={WORD}", "/c/search/?q=Unbroken", f"/c/shared/{conversation.id}/", "/settings/keys/",
        "/settings/keys/audit/", "/settings/sessions/",
    ]  # fmt: skip
    wide = {}
    for path in pages:
        assert page.goto(path).ok, path
        wide[path] = overflowing(page)
    wide = {path: found for path, found in wide.items() if found}
    assert not wide, f"these pages scroll sideways at 375 px: {wide}"

    # The list's row keeps its buttons on screen beside (or under) the long name.
    page.goto("/documents/")
    row = page.locator(f"#document-{document.id}")
    on_screen(page, row.get_by_role("link", name=f"Download the original of {TITLE}"))
    on_screen(page, row.get_by_role("button", name="Delete"))

    # The conversations drawer holds the long title too.
    page.goto(f"/c/{conversation.id}/")
    page.get_by_role("button", name="Conversations", exact=True).click()
    sidebar = page.locator("#chat-sidebar")
    expect(sidebar).to_be_visible()
    assert sidebar.evaluate("el => el.scrollWidth <= el.clientWidth"), "the drawer scrolls sideways"
    assert overflowing(page) == []

    # The source under the reply, opened: its long label and passage wrap.
    page.keyboard.press("Escape")
    page.locator(".sources summary").click()
    expect(page.locator(".source-text")).to_be_visible()
    assert overflowing(page) == []
