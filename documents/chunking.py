"""Split a ParsedDocument into overlapping passages for embedding and retrieval.

Every chunk lies inside one Section, so its chapter/section labels and PDF page are exact, and its offsets index
into `parsed.text` (the sections joined with SECTION_SEPARATOR): `parsed.text[c.char_start:c.char_end] == c.text`.
A chunk is a verbatim slice of its section (only trimmed of surrounding whitespace), never re-joined text,
which is what keeps that equality exact and lets the UI highlight a cited passage in the original text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from documents.parsing import SECTION_SEPARATOR, ParsedDocument

__all__ = ["ChunkDraft", "chunk_document"]


@dataclass(frozen=True)
class ChunkDraft:
    ordinal: int
    text: str
    chapter: str
    section: str
    char_start: int
    char_end: int
    token_count: int  # an estimate (whitespace-separated words), not the embedding model's tokenizer count
    page: int | None = None  # its section's page (a PDF section never crosses a page), for citations


# Break candidates, best first. Each match's `end` position is where a chunk may stop; all of them require a
# non-space character just before the cut, so a chunk never ends in whitespace and trimming cannot move it back.
_PARAGRAPH_BREAK = re.compile(r"(?<=\S)[^\S\n]*\n[^\S\n]*\n")
_SENTENCE_END = re.compile(r"[.!?…。！？][\"'”’)\]]*(?=\s)")
_LINE_BREAK = re.compile(r"(?<=\S)[^\S\n]*\n")
_SPACE = re.compile(r"(?<=\S)\s")
_WORD_START = re.compile(r"(?<=\s)\S")
_NON_SPACE = re.compile(r"\S")


def chunk_document(parsed: ParsedDocument, *, size: int = 800, overlap: int = 100) -> list[ChunkDraft]:
    """Chunks of at most `size` characters, repeating up to `overlap` characters of the previous chunk.

    Within a section the cut prefers a paragraph break, then a sentence end, then a line break, then any
    whitespace; a word is cut only when it alone is longer than `size`. The repeated overlap starts at a word
    boundary (so it may be a little shorter than `overlap`, or empty after a cut through a long word).
    """
    if size <= 0:
        raise ValueError("size must be positive")
    if not 0 <= overlap < size:
        raise ValueError("overlap must be at least 0 and smaller than size")
    drafts: list[ChunkDraft] = []
    base = 0  # offset of the current section in parsed.text
    for section in parsed.sections:
        for start, end in _split(section.text, size, overlap):
            text = section.text[start:end]
            drafts.append(
                ChunkDraft(
                    ordinal=len(drafts),
                    text=text,
                    chapter=section.chapter,
                    section=section.section,
                    char_start=base + start,
                    char_end=base + end,
                    token_count=len(text.split()),
                    page=section.page,
                )
            )
        base += len(section.text) + len(SECTION_SEPARATOR)
    return drafts


def _split(text: str, size: int, overlap: int) -> list[tuple[int, int]]:
    """(start, end) spans of one section's text; each starts and ends on non-space and is at most `size` long."""
    spans: list[tuple[int, int]] = []
    length = len(text)
    start = _skip_space(text, 0)
    previous_end = start  # cuts must land beyond the previous chunk, or the loop would not progress
    while start < length:
        # The rest fits: take it all; otherwise cut within the window, beyond what the previous chunk covered.
        end = length if length - start <= size else _cut(text, start, start + size, max(previous_end, start))
        end = start + len(text[start:end].rstrip())
        if end <= previous_end:
            # The window held nothing new but whitespace (a huge indent run): resume after it, without overlap.
            start = _skip_space(text, previous_end)
            continue
        spans.append((start, end))
        previous_end = end
        following = _skip_space(text, end)
        if following >= length:
            break
        start = _overlap_start(text, start, end, overlap) if overlap else following
        if start is None:
            start = following
    return spans


def _cut(text: str, start: int, limit: int, floor: int) -> int:
    """Where to end a chunk beginning at `start`: a position in (floor, limit], the best kind of break there."""
    # Paragraph and sentence breaks only count when they leave a reasonably full chunk; otherwise a later
    # line break or space gives a better-sized piece.
    for pattern, minimum in (
        (_PARAGRAPH_BREAK, (limit - start) // 2),
        (_SENTENCE_END, (limit - start) // 3),
        (_LINE_BREAK, (limit - start) // 3),
        (_SPACE, 0),
    ):
        best = None
        low = max(floor, start + minimum)
        # limit + 1 lets a break that starts right after the window's last character count (lookaheads need it).
        for match in pattern.finditer(text, low, limit + 1):
            end = match.end() if pattern is _SENTENCE_END else match.start()
            if low < end <= limit:
                best = end
        if best is not None:
            return best
    return limit  # one word longer than the window: cut it


def _overlap_start(text: str, start: int, end: int, overlap: int) -> int | None:
    """The first word start in the last `overlap` characters of [start, end), after `start`; None if there is none."""
    match = _WORD_START.search(text, max(end - overlap, start + 1), end)
    return match.start() if match else None


def _skip_space(text: str, position: int) -> int:
    match = _NON_SPACE.search(text, position)
    return match.start() if match else len(text)
