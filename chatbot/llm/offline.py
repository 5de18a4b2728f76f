"""The built-in assistant used when no language model is configured.

It says so honestly, explains how to add a key (or, to a guest, that signing up lets them), and quotes the
passages retrieval found with their citations. It streams word by word like a model, so the whole reply path is
exercised.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

from django.urls import reverse

from chatbot.llm.base import ChatRequest, Event, Finished, TextDelta
from documents.locations import passage_location

NOTICE_START = "This conversation has no language model, so I cannot write an answer myself."


def no_model_notice(*, guest: bool = False) -> str:
    """Why there is no real answer, and what this reader can do about it: a guest cannot add a key, so is asked to
    sign up. Links are Markdown, which the reply's renderer turns into links (resolved here, not at import)."""
    notice = NOTICE_START + " "
    if guest:
        return notice + f"[Sign up]({reverse('account_signup')}) to chat with a model using your own API key."
    return notice + (
        "To chat with a model (Claude, GPT, Gemini, Mistral, a local Ollama and others), add an API key in "
        f"[Settings → API keys]({reverse('accounts:keys')}) and pick the model in the composer, or ask the "
        "operator to set one for everyone (such as `ANTHROPIC_API_KEY` or `OPENAI_API_KEY`)."
    )


def without_advice(text: str) -> str:
    """An offline reply for a reader who is not its owner (a shared page): the notice's first sentence, without
    the advice after it (add a key, sign up), which speaks to the owner's account; the quotes are kept."""
    if not text.startswith(NOTICE_START):
        return text
    _, gap, rest = text.partition("\n\n")
    return NOTICE_START + (gap + rest if gap else "")


def quote_lines(text: str, *, limit: int, suffix: str = "") -> list[str]:
    """`text` as Markdown quote lines, its own line breaks kept (a table or a list still reads as one), blank runs
    and spaces within a line squeezed, cut at a word after about `limit` characters; `suffix` ends the last line."""
    lines: list[str] = []
    used = 0
    for raw in text.strip().splitlines():
        line = " ".join(raw.split())
        if not line and (not lines or not lines[-1]):
            continue
        if used + len(line) > limit:
            room = max(limit - used, 0)
            cut = line[:room] if line[room : room + 1] == " " else line[:room].rpartition(" ")[0]  # at a word
            lines.append(f"{cut.rstrip()} …" if cut.strip() else "…")
            break
        lines.append(line)
        used += len(line)
    while lines and not lines[-1]:
        lines.pop()
    lines = _as_written(lines)
    if suffix and lines:
        lines[-1] += suffix
    return [f"> {line}" if line else ">" for line in lines]


_FENCE = re.compile(r"^ {0,3}(?:`{3,}|~{3,})")


def _as_written(lines: list[str]) -> list[str]:
    """Quote lines that Markdown shows as the passage has them. A line break inside a paragraph is a hard break
    (a trailing backslash): Markdown joins lines, so code from an HTML <pre>, a list or an address read as one run;
    and * and _ are escaped outside code, where they made emphasis of C code ("sqlite3 *pDb, /* Database */" lost
    its asterisks and turned italic). Fenced code and table rows (a Markdown document's) are left to Markdown.
    """
    shown: list[str] = []
    fenced = False
    for index, line in enumerate(lines):
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced and line:
            spans = line.split("`")  # odd pieces are inline code, shown as written already
            line = "`".join(
                piece if place % 2 else piece.replace("*", "\\*").replace("_", "\\_")
                for place, piece in enumerate(spans)
            )
            following = lines[index + 1] if index + 1 < len(lines) else ""
            if following and not line.startswith("|") and not following.startswith("|") and not _FENCE.match(following):
                line += "\\"
        shown.append(line)
    return shown


QUOTE_LIMIT = 400  # characters of each passage quoted
# Words too common in questions to say what a passage is about.
_QUESTION_WORDS = frozenset(
    re.findall(
        r"\S+",
        "the and are was were for with from that this which what when where who whom whose why how does did can "
        "could would should will shall has have had not but any all its it's into about there their they them then "
        "than you your yours our ours mine his her hers also just some more most such only own same very",
    )
)
_SENTENCE_START = re.compile(r"(?<=[.!?:;])\s+|\n+")


def _stems(text: str) -> set[str]:
    """Words of three letters or more, cut to five (a crude stem: "approved" and "approve" meet)."""
    return {word[:5] for word in re.findall(r"\w{3,}", text.casefold()) if word not in _QUESTION_WORDS}


def focus(text: str, question: str, *, limit: int = QUOTE_LIMIT) -> str:
    """The part of a passage most about the question: of the `limit` characters from each sentence's (or line's)
    start, those holding most of the question's words, then those whose first sentence holds most of them (the
    answer's own sentence, not the text leading up to it), the earliest of equals. A passage longer than the quote
    (retrieval joins neighbouring chunks) often has its answer past its first `limit` characters, which a quote
    from its start cut off. Text left out before the part is marked with an ellipsis."""
    text = text.strip()
    wanted = _stems(question)
    if len(text) <= limit or not wanted:
        return text
    starts = [0, *(match.end() for match in _SENTENCE_START.finditer(text) if match.end() < len(text))]
    ends = [*starts[1:], len(text)]

    def rank(place: int) -> tuple[int, int, int]:
        start = starts[place]
        window = len(wanted & _stems(text[start : start + limit]))
        return window, len(wanted & _stems(text[start : ends[place]])), -start

    best = starts[max(range(len(starts)), key=rank)]
    return text if best == 0 else "… " + text[best:]


def attachment_quotes(request: ChatRequest) -> str:
    """The start of each file attached to the question, quoted, so the reader sees what the model would read."""
    lines = []
    for name, text in getattr(request, "attachment_texts", ()) or ():
        label = " ".join(name.replace("*", "").replace("`", "").split())
        lines += [*quote_lines(text, limit=600), f"> — *{label}*", ""]
    if not lines:
        return ""
    return "\n".join(["From your attached files:", "", *lines]).rstrip()


def offline_reply(request: ChatRequest, *, guest: bool = False) -> str:
    sources = getattr(request, "sources", None) or []
    # The advice (add a key, sign up) is given once a conversation: repeated above every quote, it was three lines
    # of the same words before each answer.
    answered = any(message.role == "assistant" for message in getattr(request, "messages", ()))
    notice = NOTICE_START if answered else no_model_notice(guest=guest)
    if quoted := attachment_quotes(request):
        notice += "\n\n" + quoted
    if not sources:
        # Only a search that ran can have found nothing; a guest has no documents of their own to search.
        if guest or not getattr(request, "documents_searched", False):
            return notice
        return notice + "\n\nI also found nothing in your documents that matches your question."
    lines = [notice, "", "Here are the most relevant passages I found:", ""]
    question = next((m.content for m in reversed(getattr(request, "messages", ())) if m.role == "user"), "")
    for source in sources:
        where = passage_location(title=source.title, chapter=source.chapter, section=source.section)
        if getattr(source, "page", None):
            where += f", page {int(source.page)}"
        lines += quote_lines(focus(source.text, question), limit=QUOTE_LIMIT, suffix=f" [{source.number}]")
        lines.append(f"> — *{where}*")
        lines.append("")
    return "\n".join(lines).rstrip()


def _words(text: str) -> list[str]:
    pieces, current = [], ""
    for char in text:
        current += char
        if char in " \n":
            pieces.append(current)
            current = ""
    if current:
        pieces.append(current)
    return pieces


class OfflineProvider:
    name = "offline"
    label = "Offline (no language model)"

    def __init__(self, *, delay: float = 0.012, guest: bool = False) -> None:
        self.delay = delay
        self.guest = guest

    async def stream(self, request: ChatRequest) -> AsyncIterator[Event]:
        text = offline_reply(request, guest=self.guest)
        pieces = _words(text)
        for piece in pieces:
            await asyncio.sleep(self.delay)
            yield TextDelta(piece)
        yield Finished(input_tokens=0, output_tokens=len(pieces), stop_reason="end_turn")
