"""A PDF page's lines: each with its font size, margin notes apart, characters repaired (small capitals, accents)."""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True)
class _PdfLine:
    text: str
    size: float  # the rendered font size of most of its characters, in points (to 0.5); 0 when unknown


@dataclass(frozen=True)
class _PdfHeading:
    level: int
    text: str


# The marks of a footnote after a word of a title or heading (LaTeX's \thanks: "The parskip package∗", "The
# footnote∗ package"): the asterisk operator and daggers a typesetter sets, not a typed "*" ("itemize*" is a name).
_NOTE_MARKS = re.compile(r"(?<=[^\W_]|[)\]\u2019'\"])[\u2217\u2020\u2021]+(?=\s|$)")


def _without_note_marks(text: str) -> str:
    return _NOTE_MARKS.sub("", text)


# A piece of a line that starts this far (in points) left of where its line started is in the left margin.
PDF_MARGIN_GAP = 6.0


@dataclass(frozen=True)
class _Part:
    """A piece of one line as pypdf drew it: its text, size and where it starts across the page (None when pypdf did
    not say: the rest of a piece after a line break)."""

    text: str
    size: float
    x: float | None


def _pdf_page_lines(page) -> list[_PdfLine]:
    """The page's text lines (pypdf's reading order), each with its font size when pypdf reported it, and the notes
    pypdf read into the lines beside them on lines of their own (see _margin_notes_apart)."""
    fragments: list[tuple[str, float, float | None]] = []

    def visit(text, cm, tm, font, font_size) -> None:
        fragments.append((text, _rendered_size(cm, tm, font_size), _rendered_x(cm, tm)))

    text = page.extract_text(visitor_text=visit) or ""
    if "".join(fragment[0] for fragment in fragments) != text:
        # The pieces do not add up to the text (a pypdf corner case): keep the text, without sizes.
        return [_PdfLine(_repaired(line), 0.0) for line in text.split("\n")]
    rows: list[list[_Part]] = [[]]
    for fragment, size, x in fragments:
        for number, part in enumerate(fragment.split("\n")):
            if number:
                rows.append([])
            rows[-1].append(_Part(part, size, None if number else x))
    return [
        _PdfLine(_repaired("".join(part.text for part in row)), _row_size(row)) for row in _margin_notes_apart(rows)
    ]


# Adobe's private-use code points for a font's variant glyphs (its glyph list: "Asmall" U+F761, "zerooldstyle"
# U+F730), which a PDF set in small capitals or old-style figures maps its text to: "table" came out as five
# private characters that no search matches.
_ADOBE_VARIANTS = str.maketrans(
    {**{0xF761 + i: chr(ord("a") + i) for i in range(26)}, **{0xF730 + i: chr(ord("0") + i) for i in range(10)}}
)


# An accent TeX sets as a glyph of its own before the letter (OT1-encoded fonts: "Schr¨oder"), between two letters.
_SPACING_ACCENT = re.compile(r"(?<=[^\W\d_])([\u00a8\u00b4\u02c6\u02dc\u00b8\u02c7\u02da])([^\W\d_])")


_COMBINING = {"\u00a8": "\u0308", "\u00b4": "\u0301", "\u02c6": "\u0302", "\u02dc": "\u0303", "\u00b8": "\u0327"}
_COMBINING |= {"\u02c7": "\u030c", "\u02da": "\u030a"}


def _repaired(text: str) -> str:
    """Small capitals and old-style figures as their letters and digits, TeX's separate accents on their letters."""
    text = text.translate(_ADOBE_VARIANTS)
    if not _SPACING_ACCENT.search(text):
        return text
    return unicodedata.normalize(
        "NFC", _SPACING_ACCENT.sub(lambda match: match.group(2) + _COMBINING[match.group(1)], text)
    )


def _row_size(row: list[_Part]) -> float:
    sizes: Counter[float] = Counter()
    for part in row:
        if part.size and part.text.strip():
            sizes[part.size] += len(part.text.strip())
    return _dominant(sizes)


_DIGITS = re.compile(r"^\s*\d{1,5}\s*$")


def _margin_notes_apart(rows: list[list[_Part]]) -> list[list[_Part]]:
    """The rows with the notes in the left margin that were drawn after their line's text taken out of that line.

    LaTeX's documentation classes put the name of each command described in the margin ("\\suspend" beside its
    paragraph), drawn after the line beside it: pypdf reads it into that line ("...environments.basedescript",
    "...the package creates com-itemize*" / "pacted"), a word and a name run together, a hyphenated word cut apart.
    A piece that starts left of where its line started, after the line's text (the pen went back into the margin),
    becomes a line of its own after its line, or after the next one when its line ends in a hyphen, so that the
    word is made whole again. A number there is a line number (lineno's), left out. Only what was drawn after the
    line's text: a note, a hanging number or a centred title that starts a line is read where it is.
    """
    out: list[list[_Part]] = []
    waiting: list[list[_Part]] = []  # notes to place after the next line that does not end in a hyphen
    for row in rows:
        first = next((part for part in row if part.text.strip()), None)
        body, notes = row, []
        if first is not None and first.x is not None:
            start = first.x - PDF_MARGIN_GAP
            back = {
                index
                for index, part in enumerate(row)
                if part.x is not None and part.x < start and part.text.strip() and part is not first
            }
            if back:
                body = [part for index, part in enumerate(row) if index not in back]
                notes = [[row[index]] for index in sorted(back) if not _DIGITS.match(row[index].text)]
        out.append(body)
        waiting += notes
        if waiting and not "".join(part.text for part in body).rstrip().endswith("-"):
            out += waiting
            waiting = []
    return out + waiting


def _rendered_x(cm, tm) -> float | None:
    """Where a piece of text starts across the page: the text matrix's origin through the graphics matrix."""
    try:
        x = float(tm[4]) * float(cm[0]) + float(tm[5]) * float(cm[2]) + float(cm[4])
    except Exception:  # a broken matrix: position unknown
        return None
    return x if math.isfinite(x) else None


def _rendered_size(cm, tm, font_size) -> float:
    """The font size as drawn: the Tf size scaled by the text and graphics matrices (LaTeX uses 1 Tf and scales)."""
    try:
        # The vertical scale of Tm x CTM (PDF matrices are [a b c d e f], row vectors).
        c = tm[2] * cm[0] + tm[3] * cm[2]
        d = tm[2] * cm[1] + tm[3] * cm[3]
        size = abs(float(font_size)) * math.hypot(c, d)
    except Exception:  # a broken font dictionary or matrix: size unknown
        return 0.0
    return round(size * 2) / 2 if math.isfinite(size) and size < 1000 else 0.0


def _dominant(sizes: Counter[float]) -> float:
    return sizes.most_common(1)[0][0] if sizes else 0.0


def _first_page_with_text(pages: list[tuple[int, list[_PdfLine]]]) -> int | None:
    """Its position in `pages`: a cover that is only an image does not count."""
    with_text = (position for position, (_, lines) in enumerate(pages) if any(line.text.strip() for line in lines))
    return next(with_text, None)


def _running_key(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalpha())  # page numbers in running headers differ
