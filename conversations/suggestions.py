"""Starter prompts for an empty chat (Preferences.prompt_suggestions): drawn from the user's own ready documents
(their titles and section headings) when they have some, generic ones otherwise or to make up the number."""

from __future__ import annotations

from accounts.models import User
from documents.models import Chunk, Document

COUNT = 4
GENERIC = [
    "Explain a difficult idea to me in simple words",
    "Help me write a short, polite email",
    "Give me a plan to learn something new in a month",
    "Summarise the pros and cons of a decision I am weighing",
]
_MAX_NAME = 60


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_NAME else text[: _MAX_NAME - 1].rsplit(" ", 1)[0] + "…"


def prompt_suggestions(*, user: User, count: int = COUNT) -> list[str]:
    """`count` prompts, the user's documents first (the newest ready ones: one summary, then questions on their
    sections), generic ones after; two queries at most, none for a guest (whose documents are the shared ones)."""
    prompts: list[str] = []
    if not user.is_guest:
        documents = list(
            Document.objects.filter(owner=user, status=Document.Status.READY)
            .order_by("-updated_at", "-id")
            .values_list("id", "title")[:count]
        )
        if documents:
            titles = dict(documents)
            prompts.append(f"Summarise “{_short(documents[0][1])}”")
            headings = (
                Chunk.objects.filter(document_id__in=titles)
                .exclude(section="", chapter="")
                .order_by("document_id", "ordinal")
                .values_list("document_id", "chapter", "section")[:200]
            )
            seen: set[str] = set()
            for document_id, chapter, section in headings:
                heading = _short(section or chapter)
                if heading.lower() in seen or heading == _short(titles[document_id]):
                    continue
                seen.add(heading.lower())
                prompts.append(f"What does “{_short(titles[document_id])}” say about {heading}?")
                if len(prompts) >= count - 1:
                    break
            for _, title in documents[1:]:
                if len(prompts) >= count - 1:
                    break
                prompts.append(f"What are the key points of “{_short(title)}”?")
    for prompt in GENERIC:
        if len(prompts) >= count:
            break
        prompts.append(prompt)
    return prompts[:count]
