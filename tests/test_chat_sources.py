"""The Sources under a reply: the ones it cites (numbered as its [n] markers), none for a stopped or failed reply
that cites none, and each place named once ("Guide › Pests", not "Guide › Guide › Pests"), here, on the shared
page, in the offline assistant's quotes, in the prompt and on the passage's page."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.test import Client
from django.urls import reverse

from chatbot.llm.offline import offline_reply
from conversations.models import Conversation
from conversations.prompting import system_with_sources
from documents.locations import passage_location, passage_place
from tests.factories import ChunkFactory, ConversationFactory, DocumentFactory, MessageFactory

pytestmark = pytest.mark.django_db
GUIDE = "Tomato growing guide"


def source(n: int, *, title: str = GUIDE, chapter: str = GUIDE, section: str = "", text: str = "") -> dict:
    return {"n": n, "title": title, "chapter": chapter, "section": section, "text": text or f"Passage {n}.",
            "score": 0.5}  # fmt: skip


def reply_page(client, user, *, content: str, sources: list[dict], status: str = "complete") -> tuple[str, object]:
    conversation = ConversationFactory(user=user)
    question = MessageFactory(conversation=conversation, content="How do I grow tomatoes?")
    reply = MessageFactory(
        conversation=conversation, role="assistant", author=None, parent=question, content=content, status=status,
        metadata={"sources": sources},
    )  # fmt: skip
    conversation.active_leaf = reply
    conversation.save(update_fields=["active_leaf"])
    client.force_login(user)
    return client.get(reverse("conversations:detail", args=[conversation.id])).content.decode(), reply


def listed(page: str, reply) -> list[int]:
    return [n for n in range(1, 10) if f'id="source-{reply.id}-{n}"' in page]


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ((GUIDE, GUIDE, "Pests"), f"{GUIDE} › Pests"),
        ((GUIDE, "  tomato  growing GUIDE ", ""), GUIDE),  # the same words, spaced or cased otherwise
        (("Manual", "Brakes", "Brakes"), "Manual › Brakes"),  # a section repeating its chapter
        (("Manual", "", "Brakes"), "Manual › Brakes"),
        (("Manual", "Brakes", "Pads"), "Manual › Brakes › Pads"),
        (("", "Brakes", "Pads"), "Brakes › Pads"),
    ],
)
def test_a_place_names_each_part_once(parts, expected):
    title, chapter, section = parts
    assert passage_location(title=title, chapter=chapter, section=section) == expected
    assert passage_place(chapter=GUIDE, section="Pests", under=GUIDE) == ["Pests"]


def test_a_source_whose_chapter_is_its_title_names_it_once(client, user):
    page, _ = reply_page(client, user, content="Water daily [1][2].", sources=[source(1), source(2, section="Pests")])
    assert f"{GUIDE} › {GUIDE}" not in page and f"{GUIDE}</span> › {GUIDE}" not in page
    assert f'<span class="source-title">{GUIDE}</span> › Pests' in page
    assert f'<span class="source-title">{GUIDE}</span></summary>' in page
    # The similarity is shown with the open passage, not in the list, whose order it did not follow.
    assert "Similarity to the question: " in page and "relevance" not in page


def test_a_reply_lists_only_the_sources_it_cites_keeping_their_numbers(client, user):
    sources = [source(1, section="Soil"), source(2, section="Watering"), source(3, section="Pests")]
    page, reply = reply_page(client, user, content="Water at the base [2]. `[3]` in code is no citation.",
                             sources=sources)  # fmt: skip
    assert listed(page, reply) == [2]
    assert f'<li id="source-{reply.id}-2" value="2">' in page
    assert f'href="#source-{reply.id}-2"' in page
    assert "Soil" not in page and "Pests" not in page


def test_a_finished_reply_citing_nothing_lists_what_it_was_given(client, user):
    page, reply = reply_page(client, user, content="Tomatoes like sun.", sources=[source(1), source(2)])
    assert listed(page, reply) == [1, 2]


@pytest.mark.parametrize("status", ["cancelled", "failed"])
def test_a_stopped_or_failed_reply_citing_nothing_lists_no_sources(client, user, status):
    page, reply = reply_page(client, user, content="Tomatoes like", sources=[source(1), source(2)], status=status)
    assert listed(page, reply) == []
    assert '<h2 class="sources-title">Sources</h2>' not in page


def test_a_stopped_reply_lists_what_it_cited_before_it_stopped(client, user):
    page, reply = reply_page(client, user, content="Water at the base [2]. Then", sources=[source(1), source(2)],
                             status="cancelled")  # fmt: skip
    assert listed(page, reply) == [2]


def test_sources_saved_before_they_were_numbered_keep_their_place(client, user):
    old = [{"text": "First passage."}, {"text": "Second passage."}]
    page, reply = reply_page(client, user, content="As said [2].", sources=old)
    assert listed(page, reply) == [2] and "Second passage." in page and "First passage." not in page


def test_the_shared_page_lists_the_cited_sources_named_once(user):
    conversation = ConversationFactory(user=user, visibility=Conversation.Visibility.PUBLIC)
    question = MessageFactory(conversation=conversation, content="How?")
    reply = MessageFactory(
        conversation=conversation, role="assistant", author=None, parent=question, content="Like this [2].",
        metadata={"sources": [source(1, section="Soil"), source(2, section="Watering")]},
    )  # fmt: skip
    conversation.active_leaf = reply
    conversation.save(update_fields=["active_leaf"])
    page = Client().get(reverse("conversations:shared", args=[conversation.id])).content.decode()
    assert listed(page, reply) == [2]
    assert f'<span class="source-title">{GUIDE}</span> › Watering' in page and "Soil" not in page


def test_the_offline_quotes_and_the_prompt_name_each_place_once():
    found = SimpleNamespace(number=1, title=GUIDE, chapter=GUIDE, section="Pests", text="Aphids.", page=None)
    assert f"*{GUIDE} › Pests*" in offline_reply(SimpleNamespace(sources=[found]))
    assert f'from="{GUIDE} > Pests"' in system_with_sources("", [found])


def test_the_offline_assistant_gives_its_advice_once_a_conversation():
    from chatbot.llm.base import PromptMessage
    from chatbot.llm.offline import NOTICE_START

    found = SimpleNamespace(number=1, title=GUIDE, chapter="", section="Pests", text="Aphids.", page=None)
    first = offline_reply(SimpleNamespace(sources=[found], messages=[PromptMessage("user", "Pests?")]))
    history = [PromptMessage("user", "Pests?"), PromptMessage("assistant", first), PromptMessage("user", "More?")]
    later = offline_reply(SimpleNamespace(sources=[found], messages=history))
    assert "API key" in first and "API key" not in later
    assert later.startswith(NOTICE_START + "\n\nHere are the most relevant passages I found:")
    assert "> Aphids. [1]" in later


def test_the_passage_page_does_not_repeat_its_documents_title(client, user):
    chunk = ChunkFactory(document=DocumentFactory(owner=user, title=GUIDE), chapter=GUIDE, section="Pests")
    client.force_login(user)
    page = client.get(reverse("documents:chunk", args=[chunk.id])).content.decode()
    assert '<p class="muted">Pests</p>' in page


def test_the_offline_quotes_keep_a_passages_line_breaks():
    """A table or a list in a passage still reads as one in the offline assistant's quote (it was one long line)."""
    from chatbot.llm.offline import quote_lines

    table = "| part | where |\n|---|---|\n| grommet   | festival |\n\n\n\nAfter   the table."
    assert quote_lines(table, limit=400, suffix=" [1]") == [
        "> | part | where |", "> |---|---|", "> | grommet | festival |", ">", "> After the table. [1]",
    ]  # fmt: skip
    # A line break inside a paragraph is a hard one (a trailing backslash): Markdown would join the lines.
    assert quote_lines("one two three\nfour five six", limit=20) == ["> one two three\\", "> four …"]
    assert quote_lines("one two three\nfour five six", limit=16) == ["> one two three\\", "> …"]


def test_the_offline_quotes_show_code_as_written():
    """SQLite's backup example quoted as "int backupDb( sqlite3 pDb, / Database to back up */": Markdown joined
    its lines and made emphasis of its asterisks. Inline code and fenced code are left to Markdown."""
    from chatbot.llm.offline import quote_lines
    from chatbot.markdown import render_markdown

    code = "**\n** Back up pDb.\n*/\nint backupDb(\n  sqlite3 *pDb, /* Database to back up */\n\nSee `a*b` and x_y_z."
    quoted = "\n".join(quote_lines(code, limit=400, suffix=" [1]"))
    assert render_markdown(quoted) == (
        "<blockquote>\n<p>**<br>\n** Back up pDb.<br>\n*/<br>\nint backupDb(<br>\n"
        "sqlite3 *pDb, /* Database to back up */</p>\n"
        "<p>See <code>a*b</code> and x_y_z. [1]</p>\n</blockquote>\n"
    )
    fenced = "```c\nint *p = 0;\n```"
    assert quote_lines(fenced, limit=400) == ["> ```c", "> int *p = 0;", "> ```"]


def test_a_source_over_several_chunks_opens_with_all_of_them_marked(client, user):
    """A passage joined from consecutive chunks links to its first with their count; older sources say nothing."""
    chunk = ChunkFactory(document=DocumentFactory(owner=user, title=GUIDE), section="Pests")
    joined = {**source(1, text="Aphids first. Then ladybirds."), "chunk_id": str(chunk.id), "chunks": 2}
    alone = {**source(2), "chunk_id": str(chunk.id)}
    page, _ = reply_page(client, user, content="See [1] and [2].", sources=[joined, alone])
    link = reverse("documents:chunk", args=[chunk.id])
    assert f'href="{link}?chunks=2"' in page
    assert f'href="{link}"' in page


def test_the_offline_quote_is_the_part_of_a_long_passage_about_the_question():
    """A passage longer than the quote (retrieval joins neighbouring chunks) is quoted where the question's words
    are, from a sentence's start: its start alone cut the answer off."""
    from chatbot.llm.base import ChatRequest, PromptMessage
    from chatbot.llm.offline import QUOTE_LIMIT, focus

    filler = " ".join(f"Section {n}: revenue grew in month {n}, driven by the new product line." for n in range(12))
    passage = filler + " The board approved a dividend of 3.14 euros per share, payable on 12 June. Thanks all."
    assert len(passage) > 2 * QUOTE_LIMIT
    question = "What dividend did the board approve, and when is it payable?"
    assert (
        focus(passage, question)
        == "… The board approved a dividend of 3.14 euros per share, payable on 12 June. Thanks all."
    )
    found = SimpleNamespace(number=1, title=GUIDE, chapter="", section="Results", text=passage, page=None)
    reply = offline_reply(ChatRequest(model="offline", messages=[PromptMessage("user", question)], sources=(found,)))
    assert "> … The board approved a dividend of 3.14 euros per share, payable on 12 June. Thanks all. [1]" in reply
    # A short passage, or a question with nothing to look for, is quoted from its start.
    assert focus("Short text.", question) == "Short text."
    assert focus(passage, "what is it?") == passage
