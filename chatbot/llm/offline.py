"""The built-in assistant used when no language model is configured.

It says so honestly, explains how to add a key, and quotes the passages retrieval found in the user's
documents with their citations. It streams word by word like a model, so the whole reply path is exercised.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from chatbot.llm.base import ChatRequest, Event, Finished, TextDelta

NO_MODEL_NOTICE = (
    "No language model is configured, so I cannot write an answer myself. "
    "To chat with Claude, add an Anthropic API key in **Settings → API keys** "
    "(or ask the operator to set `ANTHROPIC_API_KEY`)."
)


def offline_reply(request: ChatRequest) -> str:
    sources = getattr(request, "sources", None) or []
    if not sources:
        return NO_MODEL_NOTICE + "\n\nI also found nothing in your documents that matches your question."
    lines = [NO_MODEL_NOTICE, "", "Here are the most relevant passages from your documents:", ""]
    for source in sources:
        where = " › ".join(part for part in (source.title, source.chapter, source.section) if part)
        if getattr(source, "page", None):
            where += f", page {int(source.page)}"
        excerpt = " ".join(source.text.split())
        if len(excerpt) > 400:
            excerpt = excerpt[:400].rsplit(" ", 1)[0] + " …"
        lines.append(f"> {excerpt} [{source.number}]")
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

    def __init__(self, *, delay: float = 0.012) -> None:
        self.delay = delay

    async def stream(self, request: ChatRequest) -> AsyncIterator[Event]:
        text = offline_reply(request)
        pieces = _words(text)
        for piece in pieces:
            await asyncio.sleep(self.delay)
            yield TextDelta(piece)
        yield Finished(input_tokens=0, output_tokens=len(pieces), stop_reason="end_turn")
