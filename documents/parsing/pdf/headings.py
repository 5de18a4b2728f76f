"""A PDF's headings: its outline (bookmarks) placed at their lines, or else the lines in larger fonts."""

from __future__ import annotations

import bisect
import math
import re
from collections import Counter

from documents.parsing.base import GENERIC_HEADING, heading_text
from documents.parsing.pdf.furniture import PDF_RUNNING_HEADER_PAGES
from documents.parsing.pdf.lines import _first_page_with_text, _PdfHeading, _PdfLine, _running_key, _without_note_marks

# A line is a heading candidate when its font is this much larger than the body text's (both conditions).
PDF_HEADING_MIN_RATIO = 1.15


PDF_HEADING_MIN_POINTS = 1.0


PDF_HEADING_MAX_CHARS = 150


# More heading lines than this share of all lines means sizes mark something else (slides, a poster).
PDF_HEADING_MAX_SHARE = 0.4


PDF_MAX_OUTLINE_ENTRIES = 5000


PDF_MAX_OUTLINE_DEPTH = 16


# A page's bookmarks times its lines, at most, for looking for bookmarks' titles at the start of lines (what is not
# found as a whole line): real pages have a few dozen bookmarks, a hostile one thousands.
PDF_OUTLINE_PREFIX_BUDGET = 200_000


# "2.1 ", "2.1. ", "IV. ", "b) ", "Chapter 3: " before a heading's words.
_NUMBERING = re.compile(
    r"^\s*(?:(?:chapter|section|part|appendix)\s+[\w.]+[.):]?\s+|\d+(?:\.\d+)*[.):]?\s+|(?:[ivxlcdm]+|[a-z])[.):]\s+)",
    re.IGNORECASE,
)


def _match_key(text: str) -> str:
    """A heading compared loosely: "2.1. Results" in the text matches a bookmark "Results"."""
    return "".join(ch for ch in _NUMBERING.sub("", text).casefold() if ch.isalnum())


class _FontHeadings:
    """Headings told by font size: short lines notably larger than the body text, ranked by size into levels."""

    def __init__(self, pages: list[tuple[int, list[_PdfLine]]]) -> None:
        self.levels: dict[float, int] = {}
        self.title = ""  # the largest heading on the first page with text
        self._threshold = math.inf  # no sizes known: no line is a heading
        self._running: set[tuple[str, float]] = set()
        characters: Counter[float] = Counter()
        for _, lines in pages:
            for line in lines:
                if line.size:
                    characters[line.size] += len(line.text.strip())
        if not characters:
            return
        body = max(characters, key=lambda size: (characters[size], -size))  # most of the text; a tie: the smaller
        self._threshold = max(body * PDF_HEADING_MIN_RATIO, body + PDF_HEADING_MIN_POINTS)
        on_pages: Counter[tuple[str, float]] = Counter()
        for _, lines in pages:
            on_pages.update({(_running_key(line.text), line.size) for line in lines if line.size >= self._threshold})
        self._running = {key for key, count in on_pages.items() if count >= PDF_RUNNING_HEADER_PAGES}

        runs: list[tuple[int, float, str]] = []  # (position of the page, size, text)
        line_count = 0
        for position, (_, lines) in enumerate(pages):
            line_count += sum(1 for line in lines if line.text.strip())
            runs += [(position, item[0], item[1]) for item in self._page_items(lines) if isinstance(item, tuple)]
        if not runs or len(runs) > max(3, PDF_HEADING_MAX_SHARE * line_count):
            return
        sizes = sorted({size for _, size, _ in runs}, reverse=True)
        largest = [run for run in runs if run[1] == sizes[0]]
        start = _first_page_with_text(pages)
        first = [run for run in runs if run[0] == start]
        if first:
            self.title = max(first, key=lambda run: run[1])[2]
        # One line in the largest font at the very start, above other headings, is the document's title: the
        # headings below it are the chapters (as under a Markdown "# Title").
        title_only = len(sizes) > 1 and len(largest) == 1 and largest[0][0] == start
        for rank, size in enumerate(sizes):
            self.levels[size] = 1 if rank == 0 or (rank == 1 and title_only) else 2

    def items(self, pages: list[tuple[int, list[_PdfLine]]]):
        """(page index, [body line or _PdfHeading...]) for each page read.

        The lines in heading sizes that follow the first one at the top of the first page, before any body text, are
        the title's byline (authors, date, version: "Frank Mittelbach March 14, 2021"), read as text, not as the
        heading of the abstract and introduction below them; a numbered or generic heading ("1 Introduction",
        "Contents") or one in a larger size than the line before it ends it (sizes go down from the title).
        """
        start = _first_page_with_text(pages)
        for position, (index, lines) in enumerate(pages):
            items: list[str | _PdfHeading] = []
            byline = position == start  # still at the top of the first page: headings seen, no body text yet
            previous = 0.0  # the size of the title or byline line before
            for item in self._page_items(lines):
                if isinstance(item, str):
                    items.append(item)
                    byline = byline and not item.strip()
                elif item[0] not in self.levels:  # a size that was not kept as a heading size after all
                    items.append(item[1])
                    byline = False
                elif (
                    byline
                    and previous
                    and item[0] <= previous
                    and not _NUMBERING.match(item[1])
                    and not (GENERIC_HEADING.match(item[1]))
                ):
                    items.append(item[1])
                    previous = item[0]
                else:  # the title, or a heading: a larger size after the byline ("Features") ends it
                    items.append(_PdfHeading(self.levels[item[0]], item[1]))
                    byline = byline and not previous
                    previous = item[0]
            yield index, items

    def _page_items(self, lines: list[_PdfLine]) -> list[str | tuple[float, str]]:
        """Body lines, and (size, text) for heading lines; a heading wrapped over lines in one size is one."""
        # A heading's lines are joined once it is read: grown a line at a time, a "heading" of thousands of lines
        # in one large font (a hostile page) was quadratic.
        items: list[str | tuple[float, list[str]]] = []
        previous_heading = False
        for line in lines:
            text = line.text.strip()
            heading = (
                line.size >= self._threshold
                and len(text) <= PDF_HEADING_MAX_CHARS
                and any(ch.isalpha() for ch in text)
                and (_running_key(text), line.size) not in self._running
            )
            if heading and previous_heading and items[-1][0] == line.size:
                items[-1][1].append(text)
            elif heading:
                items.append((line.size, [text]))
            else:
                items.append(line.text)
            previous_heading = heading
        return [item if isinstance(item, str) else (item[0], _without_note_marks(" ".join(item[1]))) for item in items]


def _pdf_outline(reader) -> list[tuple[int, int, str]]:
    """(page index, depth, title) for each bookmark, in outline order; [] when there is none or it is unusable."""
    entries: list[tuple[int, int, str]] = []
    try:
        # An explicit stack: a hostile outline can nest deeply (pypdf builds the list recursively, and a
        # RecursionError there is caught below like any broken outline).
        stack = [(iter(reader.outline), 0)]
        while stack and len(entries) < PDF_MAX_OUTLINE_ENTRIES:
            children, depth = stack[-1]
            item = next(children, None)
            if item is None:
                stack.pop()
            elif isinstance(item, list):  # the children of the previous entry
                if depth < PDF_MAX_OUTLINE_DEPTH:
                    stack.append((iter(item), depth + 1))
            else:
                page = reader.get_destination_page_number(item)
                title = heading_text(str(item.title or ""))
                if page is not None and page >= 0 and title:
                    entries.append((page, depth, title))
    except Exception:  # outlines are optional and often broken; font sizes take over
        return []
    return entries


def _pdf_outline_items(pages: list[tuple[int, list[_PdfLine]]], outline: list[tuple[int, int, str]]):
    """(page index, [body line or _PdfHeading...]) with each bookmark placed at its heading's line on its page.

    A bookmark whose title is not found as a line of its page starts at the line that begins with it ("\\patchcmd"
    at "\\patchcmd[⟨prefix⟩]{⟨command⟩}...", "Tracking" at "3.4 Tracking pdfTeX 1.40"), which stays text, else at
    the top of the page (after any bookmark found before it); a found heading line is the heading, not body text.
    """
    by_page: dict[int, list[_PdfHeading]] = {}
    for page, depth, title in outline:
        by_page.setdefault(page, []).append(_PdfHeading(1 if depth == 0 else 2, title))
    pending = sorted(by_page)  # pages with bookmarks, to apply those of unread pages before the next page read
    for index, lines in pages:
        items: list[str | _PdfHeading] = []
        while pending and pending[0] < index:  # bookmarks on a page that gave no text still set the labels
            items += by_page[pending.pop(0)]
        headings = by_page.get(index, [])
        if pending and pending[0] == index:
            pending.pop(0)
        before: dict[int, list[_PdfHeading]] = {}  # line number -> bookmarks to place before it
        found: dict[int, _PdfHeading] = {}
        position = 0
        # Each line's loose key -> its line numbers, in order: a scan of the page's lines for every bookmark was
        # quadratic (thousands of bookmarks on a page of many lines).
        numbers: dict[str, list[int]] = {}
        for number, line in enumerate(lines):
            numbers.setdefault(_match_key(line.text), []).append(number)
        for heading in headings:
            key = _match_key(heading.text)
            candidates = numbers.get(key, []) if key else []
            first = bisect.bisect_left(candidates, position)
            match = candidates[first] if first < len(candidates) else None
            if match is None and len(headings) * len(lines) <= PDF_OUTLINE_PREFIX_BUDGET:
                after = range(position, len(lines))
                start = next((n for n in after if _starts_with(lines[n].text, heading.text)), None)
                if start is not None:  # a command's signature line, a heading with more after it: kept as text
                    before.setdefault(start, []).append(heading)
                    position = start + 1
                    continue
            if match is None:
                before.setdefault(position, []).append(heading)
            else:
                found[match] = heading
                position = match + 1
        for number, line in enumerate(lines):
            items += before.get(number, [])
            if number in found:
                items.append(found[number])
            else:
                items.append(line.text)
        items += before.get(len(lines), [])
        yield index, items


def _starts_with(line: str, title: str) -> bool:
    """Whether the line begins with the title's words (numbering, case and spacing aside), then ends or goes on with
    something other than a letter or digit."""
    text = " ".join(_NUMBERING.sub("", line).casefold().split())
    words = " ".join(_NUMBERING.sub("", title).casefold().split())
    return bool(words) and text.startswith(words) and (len(text) == len(words) or not text[len(words)].isalnum())


def _pdf_outline_title(outline: list[tuple[int, int, str]], pages: list[tuple[int, list[_PdfLine]]]) -> str:
    """The first bookmark as a title, when it is on the first page with text and not a numbered or generic chapter."""
    start = _first_page_with_text(pages)
    if not outline or start is None:
        return ""
    page, depth, title = outline[0]
    if page != pages[start][0] or depth != 0 or _NUMBERING.match(title) or GENERIC_HEADING.match(title):
        return ""
    return title
