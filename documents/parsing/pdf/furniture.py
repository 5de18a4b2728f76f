"""What a PDF repeats on every page (running headers, page numbers) or lists (contents, index), left out; hyphenated
words rejoined."""

from __future__ import annotations

import re
from collections import Counter

from documents.parsing.pdf.lines import _PdfLine, _running_key

# Text in the same large font on this many pages is a running header, not a heading.
PDF_RUNNING_HEADER_PAGES = 3


_PAGE_NUMBER = re.compile(r"^(?:page\s+)?(?:\d{1,4}|[ivxlc]{1,6})(?:\s*(?:/|of)\s*\d{1,4})?$", re.IGNORECASE)


# A number at the start or the end of a line: a running header's page number ("Chapter 4: Arrays 19", "8 3. TITLE").
_EDGE_NUMBERS = re.compile(r"^\W*(\d{1,4})\b|\b(\d{1,4})\W*$")


def _without_page_furniture(pages: list[tuple[int, list[_PdfLine]]]) -> list[tuple[int, list[_PdfLine]]]:
    """The pages without their page numbers and running headers/footers (first or last line, the same words on
    many pages, or on many pages a number that follows the page's): once headings split a page, they would
    otherwise be passages of their own."""
    # Keyed by size too: the title on the first page is often the running header of the others, in a small font.
    edges: Counter[tuple[str, float]] = Counter()
    numbered: Counter[tuple[int, float, int]] = Counter()
    for index, lines in pages:
        edges.update({(_running_key(line.text), line.size) for line in _edge_lines(lines) if _running_key(line.text)})
        numbered.update(
            key for edge, line in enumerate(_edge_lines(lines)) for key in _numbered_keys(index, edge, line)
        )
    many = max(PDF_RUNNING_HEADER_PAGES, len(pages) * 0.3)
    running = {key for key, count in edges.items() if count >= many}
    # A header that names the chapter or section it is in ("Chapter 4: Arrays 19") changes its words, not its
    # place, its size, nor how its number follows the page's.
    running_numbered = {key for key, count in numbered.items() if count >= many}
    kept = []
    for index, lines in pages:
        furniture = {
            id(line)
            for edge, line in enumerate(_edge_lines(lines))
            if _PAGE_NUMBER.match(line.text.strip())
            or (_running_key(line.text), line.size) in running
            or not running_numbered.isdisjoint(_numbered_keys(index, edge, line))
        }
        kept.append((index, [line for line in lines if id(line) not in furniture]))
    return kept


def _numbered_keys(index: int, edge: int, line: _PdfLine) -> set[tuple[int, float, int]]:
    """(first or last line, size, the page's index less the number) for a number at the line's start or end."""
    numbers = [number for match in _EDGE_NUMBERS.finditer(line.text.strip()) for number in match.groups() if number]
    return {(edge, line.size, index - int(number)) for number in numbers}


# An entry of a table of contents, a list of figures or a back-of-book index: dot leaders, then a page number (or
# several: "12, 45-47"). A line that ends in a page number without leaders is one too, inside a run of such entries
# (a LaTeX contents list sets its chapters' entries without leaders).
_PAGE_REFERENCES = r"(?:\d{1,4}|[ivxlcdm]{1,7})(?:\s*[,\u2013-]\s*\d{1,4})*"


_LEADER_ENTRY = re.compile(rf"(?:\s?\.){{4,}}\s*{_PAGE_REFERENCES}$", re.IGNORECASE)


_NUMBERED_ENTRY = re.compile(rf"(?=.*[^\W\d_])\S.*\s{_PAGE_REFERENCES}$", re.IGNORECASE)


# Entries with leaders in a run before it is taken for a list (one leader line may be a form's blanks).
PDF_CONTENTS_MIN_LEADERS = 2


def _without_contents_lists(pages: list[tuple[int, list[_PdfLine]]]) -> list[tuple[int, list[_PdfLine]]]:
    """The pages without their tables of contents, lists of figures and index entries: lines of dot leaders and a
    page number, and runs of lines that each end in a page number with at least two such lines. Navigation, not
    text: a question's words matched a list of the document's headings ("2.1 Options . . . . 5") before the
    passage under the heading."""
    kept = []
    for index, lines in pages:
        drop: set[int] = set()
        run: list[int] = []
        leaders = 0
        for number, line in enumerate([*lines, None]):  # None ends the last run
            text = line.text.strip() if line else ""
            if text and (_LEADER_ENTRY.search(text) or _NUMBERED_ENTRY.match(text)):
                run.append(number)
                leaders += bool(_LEADER_ENTRY.search(text))
                continue
            if line and not text and run:
                continue  # a blank line inside a list
            if leaders >= PDF_CONTENTS_MIN_LEADERS:
                drop.update(run)
            else:  # a lone entry with leaders (an index's, between its letters' headings) is one all the same
                drop.update(n for n in run if _LEADER_ENTRY.search(lines[n].text.strip()))
            run, leaders = [], 0
        kept.append((index, [line for number, line in enumerate(lines) if number not in drop]))
    return kept


# A word hyphenated at a line's end: letters (at least two, from the start of a word, a quote or a TeX command's
# backslash) before the hyphen, the rest of it at the start of the next line, then whatever follows it on that line.
_LINE_END_HYPHEN = re.compile(
    r"(?<![^\s(\[{\"'\u201c\u2018\u2019\\])([^\W\d_]{2,})-\n[^\S\n]*([^\W\d_]+)(\S*)[^\S\n]*(\n?)"
)


_WORDS = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")


def _whole_words(pages: list[tuple[int, list[_PdfLine]]]) -> Counter[str]:
    """How often each word is written whole within a line (a hyphenated compound as one word), folded."""
    words: Counter[str] = Counter()
    for _, lines in pages:
        for line in lines:
            words.update(word.casefold() for word in _WORDS.findall(line.text))
    return words


def _dehyphenate(text: str, words: Counter[str]) -> str:
    """Words that typesetting broke over two lines ("infor-" / "mation") made whole again, on the first line.

    Only a lower-case break between letters: "IEEE-" / "Conf" or "--no-" / "gui" stay. The hyphen stays when the
    document writes the word with it more often than without ("three-column"), as it does a compound.
    """

    def join(match: re.Match) -> str:
        left, right, rest, newline = match.groups()
        if not (left[-1].islower() and right[0].islower()):
            return match.group(0)
        compound = f"{left}-{right}"
        word = compound if words[compound.casefold()] > words[(left + right).casefold()] else left + right
        return word + rest + ("\n" if newline or match.end() < len(text) else "")

    return _LINE_END_HYPHEN.sub(join, text)


def _edge_lines(lines: list[_PdfLine]) -> list[_PdfLine]:
    text = [line for line in lines if line.text.strip()]
    return text[:1] + text[-1:] if len(text) > 1 else []
