"""How a passage's place in its document is named: "Title › Chapter › Section", each named once.

A document whose first heading is its title (most Markdown files, many Word files) has every early passage's chapter
equal to the title, and a section may repeat its chapter: "Tomato growing guide › Tomato growing guide" says nothing
twice. Sources under a reply, the offline assistant's quotes and the passage page all name places this way.
"""

from __future__ import annotations


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def passage_place(*, chapter: str = "", section: str = "", under: str = "") -> list[str]:
    """The chapter and section naming a passage's place below `under` (its document's title, named already), each
    left out when empty or when it only repeats what comes before it."""
    parts: list[str] = []
    for part in (chapter or "", section or ""):
        part = part.strip()
        if part and not _same(part, under or "") and not any(_same(part, kept) for kept in parts):
            parts.append(part)
    return parts


def passage_location(*, title: str = "", chapter: str = "", section: str = "") -> str:
    """'Title › Chapter › Section' with nothing named twice (see passage_place)."""
    title = (title or "").strip()
    parts = ([title] if title else []) + passage_place(chapter=chapter, section=section, under=title)
    return " › ".join(parts)
