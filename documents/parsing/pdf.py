"""PDF: text by pages, headings from the outline or from font sizes, running headers and page numbers left out."""

from __future__ import annotations

import bisect
import io
import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

from documents.parsing.base import GENERIC_HEADING, Builder, ParseError, heading_text, password_protected

# --- PDF ------------------------------------------------------------------------------------------------------

# A line is a heading candidate when its font is this much larger than the body text's (both conditions).
PDF_HEADING_MIN_RATIO = 1.15
PDF_HEADING_MIN_POINTS = 1.0
PDF_HEADING_MAX_CHARS = 150
# More heading lines than this share of all lines means sizes mark something else (slides, a poster).
PDF_HEADING_MAX_SHARE = 0.4
# Text in the same large font on this many pages is a running header, not a heading.
PDF_RUNNING_HEADER_PAGES = 3
PDF_MAX_OUTLINE_ENTRIES = 5000
PDF_MAX_OUTLINE_DEPTH = 16
# A page's bookmarks times its lines, at most, for looking for bookmarks' titles at the start of lines (what is not
# found as a whole line): real pages have a few dozen bookmarks, a hostile one thousands.
PDF_OUTLINE_PREFIX_BUDGET = 200_000
# What a hostile PDF may make pypdf do. One stream inflates to at most this much (pypdf's default, 75 MB, took
# 0.15 s and 200 MB a try, and a ToUnicode map of 70 MB 4 s and 1 GB); a page's drawing instructions of 20 MB are
# already far more than any page of text has.
PDF_MAX_STREAM_BYTES = 20_000_000
# The pages' drawing instructions, all pages together, each page's counted even when pages share one stream (pypdf
# reads it again for each): reading costs 0.1 s a MB of spaces to 0.5 s a MB of operators, and a stream shared by
# thousands of pages (or one that failed to inflate, tried again for each) was hours of work for a file of under a
# MB. A LaTeX manual (auto-multiple-choice's) has 22 KB a page: 2,000 such pages are 44 MB.
PDF_MAX_CONTENT_BYTES = 50_000_000
# Pages in the page tree (pypdf's default is 100,000: 10 s and 450 MB before the first page was read).
PDF_MAX_PAGES = 20_000


@dataclass(frozen=True)
class _PdfLine:
    text: str
    size: float  # the rendered font size of most of its characters, in points (to 0.5); 0 when unknown


@dataclass(frozen=True)
class _PdfHeading:
    level: int
    text: str


def parse_pdf(data: bytes, builder: Builder) -> None:
    """One Section per page and heading: headings from the outline (bookmarks) if any, else from font sizes."""
    import pypdf

    _correct_pypdf_space_widths()
    limits = {
        name: PDF_MAX_STREAM_BYTES
        for name in (
            "zlib_maximum_output_length",
            "lzw_maximum_output_length",
            "run_length_maximum_output_length",
            "brotli_maximum_output_length",
            "array_based_stream_maximum_output_length",
        )
    }
    with pypdf.apply_configuration(**limits, page_tree_maximum_entries=PDF_MAX_PAGES):
        _parse_pdf(pypdf, data, builder)


def _parse_pdf(pypdf, data: bytes, builder: Builder) -> None:
    try:
        reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            # Many PDFs are encrypted only to restrict printing/copying and open with an empty password.
            try:
                opened = reader.decrypt("") != pypdf.PasswordType.NOT_DECRYPTED
            except Exception as exc:  # an unsupported or broken encryption dictionary
                raise ParseError(
                    "This PDF is encrypted in a way that could not be opened; remove the protection and upload it "
                    "again."
                ) from exc
            if not opened:
                raise password_protected("PDF")
        pages = reader.pages
        page_count = len(pages)
    except ParseError:
        raise
    except pypdf.errors.LimitReachedError as exc:
        if "page tree" in str(exc):
            raise ParseError(
                f"This PDF has more than {PDF_MAX_PAGES:,} pages, which is too many to process; split it into "
                "smaller files."
            ) from exc
        raise ParseError("This PDF could not be read; it may be damaged.") from exc
    except Exception as exc:
        raise ParseError("This PDF could not be read; it may be damaged.") from exc

    builder.titles.append(_pdf_metadata_title(reader))

    # Font sizes only mean something relative to the body text of the whole document, so every page is read
    # before any heading is decided; the raw length is bounded here as the builder bounds the clean text.
    read: list[tuple[int, list[_PdfLine]]] = []
    failures = extracted = content = 0
    for index in range(page_count):
        try:
            page = pages[index]
            size = _pdf_content_size(page)
        except Exception:
            size = None
        content += PDF_MAX_STREAM_BYTES if size is None else size
        _check_content(content)
        if size is None:  # its contents could not be read (inflated past the limit, damaged): nor can its text
            failures += 1
            continue
        try:
            lines = _pdf_page_lines(page)
        except pypdf.errors.LimitReachedError:
            # One of pypdf's limits stopped the page (a font's ToUnicode map or widths shared by every page's font,
            # inflated or read again for each): counted as that much work, as contents that failed are.
            failures += 1
            content += PDF_MAX_STREAM_BYTES
            _check_content(content)
            continue
        except Exception:  # one broken page (bad font, bad stream) should not lose the rest of the document
            failures += 1
            continue
        extracted += sum(len(line.text) for line in lines)
        if extracted > 2 * builder.max_chars:
            raise builder.too_long()
        read.append((index, lines))

    read = _without_page_furniture(read)
    read = _without_contents_lists(read)
    words = _whole_words(read)
    fonts = _FontHeadings(read)
    outline = _pdf_outline(reader)
    builder.titles += [fonts.title, _pdf_outline_title(outline, read)]
    for index, items in _pdf_outline_items(read, outline) if outline else fonts.items(read):
        builder.page = index + 1
        body: list[str] = []
        for item in items:
            if isinstance(item, _PdfHeading):
                builder.add(_dehyphenate("\n".join(body), words))
                body.clear()
                builder.heading(item.level, item.text)
            else:
                body.append(item)
        builder.add(_dehyphenate("\n".join(body), words))
        builder.flush()  # a Section never crosses a page, so each passage knows its page
    if failures and not builder.sections:
        raise ParseError("This PDF could not be read; it may be damaged.")


def _correct_pypdf_space_widths() -> None:
    """Make pypdf see word gaps in the text of composite fonts whose Unicode map has no space (XeTeX, LuaTeX).

    pypdf puts a space where the pen moves on by more than about half a space, and takes a space's width from the
    character that maps to " " in the font's ToUnicode map, else from character code 32. An Identity-H font (XeTeX's
    and LuaTeX's, with fontspec) has no space glyph in its map, and its code 32 is some glyph: DejaVu Serif's is 838
    units wide while its word gaps are 318, so no gap was a space and a XeTeX manual came out as
    "Themaximumnumberofstudentspertest" (1,407 runs of 22 letters or more in 101 pages; 6 with this). Such a font's
    space is taken as half its average glyph width instead. pypdf 7.1.1 still does this; the patch is made once,
    and not at all on a pypdf whose internals differ (requirements.lock pins the one it was written against).
    """
    try:
        from pypdf.generic._font import Font
    except ImportError:
        return
    original = getattr(Font, "from_font_resource", None)
    if getattr(original, "__self__", None) is not Font or getattr(original, "corrects_space_width", False):
        return  # not the classmethod it was written against, or already corrected

    def from_font_resource(cls, *args, **kwargs):
        font = original.__func__(cls, *args, **kwargs)
        try:
            mapped = font.character_map
            if (
                mapped
                and isinstance(font.encoding, str)  # a composite font's code ranges, not a simple font's table
                and font.space_char == " "  # pypdf found no character mapping to a space...
                and " " in font.character_widths  # ...and took code 32's width, a glyph's
                and " " not in mapped.values()
            ):
                widths = [w for code, w in font.character_widths.items() if code != "default" and w > 0]
                if widths:
                    font.space_width = sum(widths) / len(widths) / 2
        except (AttributeError, TypeError):  # another pypdf's Font: leave it as pypdf made it
            pass
        return font

    from_font_resource.corrects_space_width = True
    Font.from_font_resource = classmethod(from_font_resource)


def _check_content(content: int) -> None:
    if content > PDF_MAX_CONTENT_BYTES:
        raise ParseError(
            "This PDF is too complex to read: its pages hold more than "
            f"{PDF_MAX_CONTENT_BYTES // 1_000_000} MB of drawing instructions. Split it into smaller files."
        )


def _pdf_content_size(page) -> int:
    """The length of the page's drawing instructions, decoded (pypdf keeps them for its text extraction)."""
    contents = page.get("/Contents")
    if contents is None:
        return 0
    contents = contents.get_object()
    streams = contents if isinstance(contents, list) else [contents]
    return sum(len(stream.get_object().get_data()) for stream in streams if hasattr(stream.get_object(), "get_data"))


# A converter's input file where the title belongs: dvips writes "float.dvi" into every PDF that Distiller or
# Ghostscript makes of it (and Word "report.docx"), which document_title would keep as "float".
_FILE_NAME_TITLE = re.compile(
    r"^[^\s/\\]+\.(?:dvi|tex|dtx|ps|eps|pdf|docx?|odt|rtf|txt|md|html?|xml|indd|qxd|pages|pptx?|xlsx?)$", re.IGNORECASE
)


def _pdf_metadata_title(reader) -> str:
    try:
        info = reader.metadata
        title = str(info.title) if info and info.title else ""
    except Exception:  # metadata is optional; a broken Info dictionary must not lose the text
        return ""
    return "" if _FILE_NAME_TITLE.match(title.strip()) else title


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


def _first_page_with_text(pages: list[tuple[int, list[_PdfLine]]]) -> int | None:
    """Its position in `pages`: a cover that is only an image does not count."""
    with_text = (position for position, (_, lines) in enumerate(pages) if any(line.text.strip() for line in lines))
    return next(with_text, None)


def _running_key(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalpha())  # page numbers in running headers differ


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
