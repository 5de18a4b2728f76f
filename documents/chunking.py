"""Split a ParsedDocument into overlapping passages for embedding and retrieval.

A chunk's offsets index into `parsed.text` (the sections joined with SECTION_SEPARATOR):
`parsed.text[c.char_start:c.char_end] == c.text`. A chunk is a verbatim slice of the text (only trimmed of
surrounding whitespace), never re-joined text, which is what keeps that equality exact and lets the UI highlight a
cited passage in the original text.

A section shorter than `min_size` (a one-line NAME, a "See also" line, a page's closing line) is not a passage
of its own: it runs on into the next section (or, at the end, is joined to the one before), as long as both are
on the same page. Such a chunk is labelled with the chapter/section/page where it starts, and its heading names
the further sections it covers. Alone these fragments were 1 in 10 chunks of a documentation corpus, each
embedded without the context that says what it is about.

Every chunk carries its heading path ("Title › Chapter › Section") in `heading`: embedded and indexed for
keywords with the text (`embedding_text`, Chunk.heading), as the passages of an option list or a numbered step
rarely repeat what they are about. docs/decisions.md ("Retrieval quality") has the measurements.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from documents.locations import passage_location
from documents.parsing import SECTION_SEPARATOR, ParsedDocument, Section
from documents.parsing.markdown import whole_blocks

__all__ = ["CHUNKER_VERSION", "ChunkDraft", "chunk_document"]

# Bumped whenever chunk_document's output for the same file changes: `manage.py reindex` re-chunks the documents
# ingested by an older version (Document.metadata["chunker"]) and skips the others, so an interrupted run resumes.
# 3: HTML menus and contents lists of plain links left out; 4: an HTML power keeps its "^"; 5: HTML links to the
# previous and next pages left out (DocBook, Texinfo, Javadoc, Doxygen, gtk-doc), menus with separators between
# their links too, a page that only redirects refused, a table row laying out a page read as blocks; 6:
# reStructuredText (.rst, and .txt files of Sphinx sources) and AsciiDoc read with their titles, not their markup;
# EPUB, OpenDocument text, PowerPoint, Excel and CSV read (refused, or CSV as plain text, before); 7: ligatures
# (U+FB00-FB06) read as their letters, a PDF's words hyphenated at a line's end whole again and its running headers
# that name their chapter left out, an OpenDocument text's Title paragraph its title (not its text); 8: the permalink
# sign ("¶") Sphinx and MkDocs put after every heading left out of HTML headings and text, and each API entry of a
# Sphinx reference page (<dt class="sig">) a section named by its full name; 9: the words of a PDF set in a
# composite font without a space glyph (XeTeX, LuaTeX) kept apart; 10: Markdown read without its front matter
# (whose title is the document's), HTML comments, link reference definitions, empty anchors and rows of badges, its
# headings named without their inline markup, and <h1>-<h6> lines read as headings; 11: a Markdown code block or
# table that fits in a chunk with its overlap never cut in two (the cut comes before it); 12: a PDF's tables of contents
# and index entries left out, its converter's file name not its title, footnote marks out of its title and headings,
# bookmarks placed at the lines that begin with them, notes in its margin apart from the lines pypdf read them into, its
# title page's byline text, small capitals, old-style figures and TeX's accents read as letters
CHUNKER_VERSION = 12


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
    heading: str = ""  # "Title › Chapter › Section" (and any further sections it runs into)

    @property
    def embedding_text(self) -> str:
        """What the embedding model reads: the heading path, then the passage."""
        return f"{self.heading}\n\n{self.text}" if self.heading else self.text


# Break candidates, best first. Each match's `end` position is where a chunk may stop; all of them require a
# non-space character just before the cut, so a chunk never ends in whitespace and trimming cannot move it back.
# Characters between two chunks that still make one text: a section's chunks overlap, and the next section's
# first chunk starts after the line break that ends the section before it (a chunk is trimmed of whitespace).
JOIN_GAP = 2


def follows(previous: tuple[int, int], following: tuple[int, int]) -> bool:
    """Whether a chunk at `following` (char_start, char_end) continues the text of one at `previous`: it starts
    within it, or just after it, and ends further on. Older rows whose offsets do not say so are never joined."""
    return previous[0] < following[0] <= previous[1] + JOIN_GAP and following[1] > previous[1]


def continuation(text: str, *, start: int, previous_end: int) -> str:
    """What a following chunk (its text starting at `start`) adds to the text ending at `previous_end`."""
    overlap = previous_end - start
    return text[overlap:] if overlap >= 0 else "\n" + text


_PARAGRAPH_BREAK = re.compile(r"(?<=\S)[^\S\n]*\n[^\S\n]*\n")
_SENTENCE_END = re.compile(r"[.!?…。！？][\"'”’)\]]*(?=\s)")
_LINE_BREAK = re.compile(r"(?<=\S)[^\S\n]*\n")
_SPACE = re.compile(r"(?<=\S)\s")
_WORD_START = re.compile(r"(?<=\s)\S")
_NON_SPACE = re.compile(r"\S")


def chunk_document(
    parsed: ParsedDocument, *, size: int = 1000, overlap: int = 100, min_size: int = 100
) -> list[ChunkDraft]:
    """Chunks of at most `size` characters, repeating up to `overlap` characters of the previous chunk.

    Within a section the cut prefers a paragraph break, then a sentence end, then a line break, then any
    whitespace; a word is cut only when it alone is longer than `size`. The repeated overlap starts at a word
    boundary (so it may be a little shorter than `overlap`, or empty after a cut through a long word). Sections
    shorter than `min_size` are joined to a neighbour on the same page, and a section's last chunk is at least
    `min_size` long when the section is (it starts further back, repeating more of the chunk before it).
    """
    if size <= 0:
        raise ValueError("size must be positive")
    if not 0 <= overlap < size:
        raise ValueError("overlap must be at least 0 and smaller than size")
    if min_size < 0:
        raise ValueError("min_size must not be negative")
    min_size = min(min_size, size)
    drafts: list[ChunkDraft] = []
    for base, sections in _blocks(parsed.sections, min_size):
        # The block's text is a slice of parsed.text: its sections with the separators between them.
        text = SECTION_SEPARATOR.join(section.text for section in sections)
        bounds = list(_section_starts(sections))
        # Only Markdown marks its code blocks and tables in the text itself (HTML's <pre> and <table> are gone).
        whole = whole_blocks(text, longest=size - overlap) if parsed.kind == "markdown" else []
        for start, end in _split(text, size, overlap, min_size, whole):
            covered = [
                section
                for offset, section in bounds
                if offset < end and offset + len(section.text) > start and section.text.strip()
            ]
            first = next(section for offset, section in reversed(bounds) if offset <= start)
            chunk = text[start:end]
            drafts.append(
                ChunkDraft(
                    ordinal=len(drafts),
                    text=chunk,
                    chapter=first.chapter,
                    section=first.section,
                    char_start=base + start,
                    char_end=base + end,
                    token_count=len(chunk.split()),
                    page=first.page,
                    heading=_heading(parsed.title, [first, *(s for s in covered if s is not first)]),
                )
            )
    return drafts


def _blocks(sections: list[Section], min_size: int) -> list[tuple[int, list[Section]]]:
    """(offset in parsed.text, sections) runs to split: a short section runs on into the next one on its page."""
    blocks: list[tuple[int, list[Section]]] = []
    base = 0
    for section in sections:
        if blocks and _open(blocks[-1][1], min_size) and blocks[-1][1][-1].page == section.page:
            blocks[-1][1].append(section)
        else:
            blocks.append((base, [section]))
        base += len(section.text) + len(SECTION_SEPARATOR)
    # A short last block (a closing line) joins the one before it on its page.
    if len(blocks) > 1 and _open(blocks[-1][1], min_size) and blocks[-2][1][-1].page == blocks[-1][1][0].page:
        blocks[-2][1].extend(blocks.pop()[1])
    return blocks


def _open(sections: list[Section], min_size: int) -> bool:
    """Whether a block is still too short to stand alone (empty sections count for nothing)."""
    return sum(len(section.text.strip()) for section in sections) < min_size


def _section_starts(sections: list[Section]):
    offset = 0
    for section in sections:
        yield offset, section
        offset += len(section.text) + len(SECTION_SEPARATOR)


def _heading(title: str, sections: list[Section]) -> str:
    """'Title › Chapter › Section' of the first section, then the names of the further ones (each named once)."""
    first, *rest = sections
    path = passage_location(title=title, chapter=first.chapter, section=first.section)
    named = {part.casefold() for part in path.split(" › ")}
    more = []
    for section in rest:
        for part in (section.chapter, section.section):
            if part and part.casefold() not in named:
                named.add(part.casefold())
                more.append(part)
    return ", ".join([path, *more]) if path else ", ".join(more)


def _split(
    text: str, size: int, overlap: int, min_size: int = 0, whole: list[tuple[int, int]] | None = None
) -> list[tuple[int, int]]:
    """(start, end) spans of one block's text; each starts and ends on non-space and is at most `size` long. A cut
    inside one of the `whole` spans (sorted, apart) is the last resort."""
    spans: list[tuple[int, int]] = []
    length = len(text)
    start = _skip_space(text, 0)
    previous_end = start  # cuts must land beyond the previous chunk, or the loop would not progress
    while start < length:
        if spans and length - start < min_size:
            # A short tail starts further back (a word start after the previous chunk's), so it has some context.
            earlier = _WORD_START.search(text, max(length - min_size, spans[-1][0] + 1), start)
            start = earlier.start() if earlier else start
        # The rest fits: take it all; otherwise cut within the window, beyond what the previous chunk covered.
        end = length if length - start <= size else _cut(text, start, start + size, max(previous_end, start), whole)
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


def _cut(text: str, start: int, limit: int, floor: int, whole: list[tuple[int, int]] | None = None) -> int:
    """Where to end a chunk beginning at `start`: a position in (floor, limit], the best kind of break there, outside
    the `whole` spans if any break is (a shorter chunk before a code block rather than half of it)."""
    starts = [block_start for block_start, _ in whole or ()]

    def outside(end: int) -> bool:
        index = bisect.bisect_left(starts, end) - 1
        return index < 0 or end >= whole[index][1]

    for allowed in (outside, None) if starts else (None,):
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
                if low < end <= limit and (allowed is None or allowed(end)):
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
