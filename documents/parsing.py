"""Turn an uploaded file into plain text split by headings, without trusting the file's name or its content.

Pure Python (no ORM, no network) so the Celery worker can call it on untrusted bytes: every failure, including
any unexpected exception from pypdf, python-docx or BeautifulSoup, comes out as a ParseError carrying one sentence
that can be shown to the user as-is.
"""

from __future__ import annotations

import codecs
import io
import math
import re
import unicodedata
import zipfile
from collections import Counter
from dataclasses import dataclass

from chatbot.errors import UserFacingError
from chatbot.text import clean_text

__all__ = ["ParseError", "ParsedDocument", "Section", "parse_document", "sniff_type"]

SUPPORTED_FORMATS = ".txt, .md, .pdf, .docx or .html"
UNSUPPORTED_MESSAGE = f"This file type is not supported; upload a {SUPPORTED_FORMATS} file (text files must be UTF-8)."

MIME_TYPES = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "html": "text/html",
    "markdown": "text/markdown",
    "text": "text/plain",
}

# Chunk.chapter / Chunk.section and Document.title are CharField(max_length=300).
MAX_HEADING_CHARS = 300
# A title is shown in lists and page headers: a long first heading (a whole sentence) is cut at a word.
MAX_TITLE_CHARS = 200

# Zip-bomb limits for .docx, checked on the central directory before python-docx inflates anything. zipfile stops
# reading a member at its declared size (and fails the CRC if there is more), so the declared sizes can be trusted.
ZIP_MAX_TOTAL_UNCOMPRESSED = 100 * 1024 * 1024
ZIP_MAX_RATIO = 100
ZIP_RATIO_MIN_SIZE = 1024 * 1024  # small members (styles, XML) legitimately compress very well
ZIP_MAX_MEMBERS = 5000


# Sections are joined with this into ParsedDocument.text; chunk offsets (documents.chunking) depend on it.
SECTION_SEPARATOR = "\n\n"


class ParseError(UserFacingError):
    """The file cannot be turned into text."""


@dataclass(frozen=True)
class Section:
    """A run of body text under a heading path: chapter is the level-1 heading, section the latest one below it.

    A PDF section never crosses a page break (a heading that runs over pages becomes one Section per page, with
    the same labels), so `page` (1-based, None for formats without pages) is the page of every word in it.
    """

    chapter: str
    section: str
    text: str
    page: int | None = None


@dataclass(frozen=True)
class ParsedDocument:
    kind: str  # "pdf" | "docx" | "html" | "markdown" | "text"
    mime_type: str
    title: str  # the document's own title (metadata or first heading), cleaned; "" when it has none
    sections: list[Section]

    @property
    def text(self) -> str:
        """The whole document; chunk offsets index into this string, so its shape is part of the contract."""
        return SECTION_SEPARATOR.join(section.text for section in self.sections)


# --- Sniffing -------------------------------------------------------------------------------------------------

_HTML_START = re.compile(r"<!doctype\s+html|<html[\s>]", re.IGNORECASE)
_LEADING_JUNK = re.compile(r"\s*(?:<!--.*?-->|<\?xml.*?\?>)\s*", re.DOTALL)
_HTML_STRUCTURE = re.compile(r"<(?:body|p|div|h[1-6]|table|ul|ol|article|section|br|span|a)[\s>/]", re.IGNORECASE)
_MARKDOWN_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+\S", re.MULTILINE)
_MARKDOWN_NAMES = (".md", ".markdown", ".mdown", ".mkd")
_HTML_NAMES = (".html", ".htm", ".xhtml")


def sniff_type(data: bytes, filename: str) -> tuple[str, str]:
    """(kind, mime_type) decided by the bytes; the name only breaks ties between text flavours (.md, .html)."""
    kind, _ = _sniff(data, filename)
    return kind, MIME_TYPES[kind]


def _sniff(data: bytes, filename: str) -> tuple[str, str | None]:
    """The kind and, for text kinds, the decoded text (so parse_document does not decode twice)."""
    name = filename.lower()
    # Readers accept junk before the header within the first KiB, but a text file that merely mentions "%PDF-"
    # early on must stay text: only binary (non-text) junk may precede it.
    header = data.find(b"%PDF-", 0, 1024)
    if header >= 0 and (not data[:header].strip() or not _is_plain_text(data[:header])):
        return "pdf", None
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = set(archive.namelist())
        except Exception as exc:  # BadZipFile, but a hostile central directory can raise others
            raise ParseError("This ZIP-based file is damaged and could not be opened.") from exc
        if "word/document.xml" in names:
            return "docx", None
        raise ParseError(
            f"This file type is not supported (it is a ZIP archive but not a Word .docx document); "
            f"upload a {SUPPORTED_FORMATS} file."
        )
    # Formats users commonly try whose bytes would otherwise be mistaken for (or rejected as) text.
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise ParseError("Old Word .doc (and other Office 97-2003) files are not supported; save it as .docx first.")
    if data[:5] == b"{\\rtf":
        raise ParseError("RTF files are not supported; save it as .docx or .txt first.")

    try:
        text = _decode_text(data)
    except ParseError:
        if (page := _legacy_html(data, name)) is not None:
            return "html", page
        # Neither text nor a known format, under a name that promises a binary one: say that, rather than "upload
        # a .pdf" to someone who just did. (Text under such a name is read as the text it is.)
        for extension, label in ((".pdf", "a valid PDF"), (".docx", "a valid Word .docx document")):
            if name.endswith(extension):
                raise ParseError(
                    f"This is not {label}: its content does not start like one (the file may be damaged, or another "
                    f"kind of file renamed to {extension})."
                ) from None
        raise
    # Skip any number of leading comments / XML declarations, then look at what the document opens with.
    head = text[:4096]
    while junk := _LEADING_JUNK.match(head):
        head = head[junk.end() :]
    if _HTML_START.match(head.lstrip()) or (name.endswith(_HTML_NAMES) and _HTML_STRUCTURE.search(text)):
        return "html", text
    if name.endswith(_MARKDOWN_NAMES) or _MARKDOWN_HEADING.search(text):
        return "markdown", text
    return "text", text


# The encoding a page declares in its first 1024 bytes (where browsers look): <meta charset="..."> or
# <meta http-equiv="Content-Type" content="text/html; charset=...">.
_HTML_CHARSET = re.compile(rb"<meta[^>]*?charset\s*=\s*[\"']?\s*([a-z0-9._:-]+)", re.IGNORECASE)


def _legacy_html(data: bytes, name: str) -> str | None:
    """An HTML page that is not UTF-8, decoded as a browser would: the charset it declares, else windows-1252 (the
    web's default for a page that declares none); None for anything else (text files must be UTF-8).

    Older documentation is Latin-1 (libxslt's pages in Debian's libxslt1-dev: "The XSLT C library for GNOME")
    and was refused as "not supported; text files must be UTF-8", though the browser showed it fine.
    """
    head = data[:4096].decode("latin-1")
    while junk := _LEADING_JUNK.match(head):
        head = head[junk.end() :]
    if not (_HTML_START.match(head.lstrip()) or (name.endswith(_HTML_NAMES) and _HTML_STRUCTURE.search(head))):
        return None
    declared = _HTML_CHARSET.search(data[:1024])
    encoding = "cp1252"
    if declared:
        try:
            codec = codecs.lookup(declared.group(1).decode("ascii"))
        except (LookupError, UnicodeDecodeError):
            codec = None
        # Latin-1 and ASCII labels mean windows-1252 on the web; UTF-8 (or 16) was tried, and failed.
        if codec and codec.name not in ("latin-1", "iso8859-1", "ascii", "utf-8", "utf-16"):
            encoding = codec.name
    # windows-1252 leaves five bytes unassigned (0x81, 0x8D...): replaced, not a reason to refuse the page.
    text = data.decode(encoding, errors="replace")
    sample = text[:8192]
    controls = sum(1 for ch in sample if ch not in "\t\n\r\f\v" and unicodedata.category(ch) == "Cc")
    return None if controls > len(sample) // 20 else text


def _is_plain_text(prefix: bytes) -> bool:
    try:
        text = prefix.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    return not any(ch not in "\t\n\r\f\v" and unicodedata.category(ch) == "Cc" for ch in text)


def _decode_text(data: bytes) -> str:
    # Windows "Unicode" text is UTF-16 with a BOM; it is the one non-UTF-8 encoding that is unambiguous.
    encoding = "utf-16" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:  # PNG, JPEG, Latin-1 text...
        raise ParseError(UNSUPPORTED_MESSAGE) from exc
    # Valid UTF-8 can still be binary (or UTF-32 misread as UTF-16, or UTF-16 without its BOM, half NULs): real
    # text has almost no control characters. The odd stray NUL or escape in a text file is cleaned, not refused.
    sample = text[:8192]
    controls = sum(1 for ch in sample if ch not in "\t\n\r\f\v" and unicodedata.category(ch) == "Cc")
    if controls > len(sample) // 20:
        raise ParseError(UNSUPPORTED_MESSAGE)
    return text


# --- Parsing --------------------------------------------------------------------------------------------------


MAX_TEXT_CHARACTERS = 5_000_000  # a document's text, whatever its file's size (the documents page says so)


def parse_document(data: bytes, filename: str, *, max_chars: int = MAX_TEXT_CHARACTERS) -> ParsedDocument:
    """Sniff, extract and normalise; raises ParseError (only) when the file cannot give usable text."""
    if not data:
        raise ParseError("The file is empty.")
    kind, text = _sniff(data, filename)
    # PDF lines are wrapped by layout, so indentation there is noise; elsewhere it can carry meaning (code).
    builder = _Builder(keep_indent=kind != "pdf", max_chars=max_chars)
    try:
        if kind == "pdf":
            _parse_pdf(data, builder)
        elif kind == "docx":
            _parse_docx(data, builder)
        elif kind == "html":
            _parse_html(text or "", builder)
        elif kind == "markdown":
            _parse_markdown(text or "", builder)
        else:
            builder.add(text or "")
        builder.flush()
    except ParseError:
        raise
    except Exception as exc:  # incl. RecursionError/MemoryError: hostile input must not take the worker down
        raise ParseError(f"This {_KIND_LABELS[kind]} could not be read; it may be damaged.") from exc
    if not builder.sections:
        if kind == "pdf":
            raise ParseError("No text could be extracted from this PDF (a scanned PDF needs OCR first).")
        raise ParseError("No text could be extracted from this file; it contains no readable text.")
    # A PDF's first level-1 heading can be any chapter ("1 Introduction"); its parser ranks its own candidates.
    candidates = builder.titles if kind == "pdf" else [*builder.titles, builder.first_h1]
    if kind == "html":
        # An older page may have neither a <title> nor an <h1>, its headline an <h2> (SQLite's press release): its
        # first heading beats the file name ("pressrelease 20071212"). A Markdown file's first "##" is more often
        # a part of it ("Installation") than its name, so only HTML.
        candidates.append(builder.first_heading)
    title = next(filter(None, map(document_title, candidates)), "")
    return ParsedDocument(kind=kind, mime_type=MIME_TYPES[kind], title=title, sections=builder.sections)


_KIND_LABELS = {
    "pdf": "PDF",
    "docx": "Word document",
    "html": "HTML page",
    "markdown": "Markdown file",
    "text": "text file",
}


class _Builder:
    """Collects body blocks under the current heading path and turns them into normalised, non-empty Sections."""

    def __init__(self, *, keep_indent: bool, max_chars: int) -> None:
        self.keep_indent = keep_indent
        self.max_chars = max_chars
        self.sections: list[Section] = []
        # Title candidates, best first (<title>, docx Title, PDF Info...); the first meaningful one wins, else
        # first_h1 (except for PDFs).
        self.titles: list[str] = []
        self.first_h1 = ""
        self.first_heading = ""  # of any level: an HTML page's title when it has no <title> nor <h1>
        self.chapter = ""
        self.section = ""
        self.page: int | None = None  # the PDF page being read
        self._blocks: list[str] = []
        self._length = 0

    def heading(self, level: int, text: str) -> None:
        self.flush()
        text = _heading_text(text)
        self.first_heading = self.first_heading or text
        if level <= 1:
            self.first_h1 = self.first_h1 or text
            self.chapter, self.section = text, ""
        else:
            self.section = text

    def too_long(self) -> ParseError:
        return ParseError(
            f"This document has more than {self.max_chars:,} characters of text, which is too much to process; "
            "split it into smaller files."
        )

    def add(self, block: str) -> None:
        self._blocks.append(block)

    def flush(self) -> None:
        if not self._blocks:
            return
        text = normalise_text("\n\n".join(self._blocks), keep_indent=self.keep_indent)
        self._blocks = []
        if not text:
            return
        # Counted as parsed.text will be, separators included; checked as we go so a huge PDF stops early.
        self._length += len(text) + (len(SECTION_SEPARATOR) if self.sections else 0)
        if self._length > self.max_chars:
            raise self.too_long()
        self.sections.append(Section(chapter=self.chapter, section=self.section, text=text, page=self.page))


_LINE_BREAKS = re.compile(r"\r\n?|[\x0b\x0c\x85\u2028\u2029]")
# What clean_text (NUL, C0 controls, lone surrogates: what PostgreSQL or the page cannot take) leaves but is still
# noise in extracted text: C1 controls, soft hyphens, zero-width spaces and stray BOMs.
_JUNK_CHARS = re.compile("[\x7f-\x9f\u00ad\u200b\ufeff]")


def _clean(text: str) -> str:
    """Every extracted string passes here: page breaks become line breaks, then nothing unsafe or invisible stays."""
    return _JUNK_CHARS.sub("", clean_text(_LINE_BREAKS.sub("\n", text)))


_SPACE_RUNS = re.compile(r"[^\S\n]+")
_BLANK_RUNS = re.compile(r"\n{3,}")


def normalise_text(text: str, *, keep_indent: bool = False) -> str:
    """Unify line breaks, drop control characters, collapse space runs and keep at most one blank line.

    Lines end without trailing spaces and the result has no leading/trailing blank lines; with keep_indent the
    leading indentation of each line survives (tabs as four spaces) so code blocks stay readable.
    """
    text = _clean(text)
    lines = []
    for line in text.split("\n"):
        body = line.lstrip()
        indent = ""
        if keep_indent and body:
            indent = line[: len(line) - len(body)].replace("\t", "    ")
            indent = " " * len(indent)  # unusual Unicode spaces become plain ones
        lines.append(indent + _SPACE_RUNS.sub(" ", body).rstrip())
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip("\n")


def _heading_text(text: str) -> str:
    text = " ".join(_clean(text).split())
    return text[:MAX_HEADING_CHARS].rstrip()


# Authoring tools write their own name, the file name or a placeholder where the title belongs.
_TITLE_TOOL_PREFIX = re.compile(r"^microsoft\s+(?:office\s+)?(?:word|powerpoint|excel)\s*[-\u2013\u2014:]\s*", re.I)
_TITLE_FILE_EXTENSION = re.compile(r"\.(?:docx?|dotx?|pdf|pptx?|xlsx?|odt|odp|rtf|txt|md|tex|dvi|html?|indd)$", re.I)
_PLACEHOLDER_TITLE = re.compile(
    r"^(?:untitled(?:\s+document)?|no\s+title|title|document|doc|new\s+document|presentation|slide|book|none|null|"
    r"unknown|default|cover|cover\s+page|title\s+page|contents|table\s+of\s+contents|sans\s+titre)(?:[\s_-]*\d+)?$",
    re.IGNORECASE,
)
_FILE_PATH = re.compile(r"^(?:[a-z]:)?[\\/]|\\", re.IGNORECASE)
# A browser's "Save as PDF" writes the page's address, "about:blank" for a page it made itself.
_ADDRESS_TITLE = re.compile(r"^(?:about:\S*|(?:https?|file|data|blob):\S*|www\.\S+)$", re.IGNORECASE)


def document_title(candidate: str) -> str:
    """`candidate` as a document title, or "" when it is not one (empty, a placeholder, a path, a tool's junk).

    "Microsoft Word - Annual report.docx" becomes "Annual report"; "Untitled", "Document1", "C:\\tmp\\x.pdf" and
    an address ("about:blank", "https://...") become "". A title longer than MAX_TITLE_CHARS is cut at a word and
    ends with an ellipsis.
    """
    title = _heading_text(candidate)
    title = _TITLE_TOOL_PREFIX.sub("", title)
    title = _TITLE_FILE_EXTENSION.sub("", title).strip()
    if (
        not any(ch.isalnum() for ch in title)
        or _PLACEHOLDER_TITLE.match(title)
        or _FILE_PATH.search(title)
        or _ADDRESS_TITLE.match(title)
    ):
        return ""
    if len(title) > MAX_TITLE_CHARS:
        cut = title[: MAX_TITLE_CHARS - 1]
        title = (cut.rsplit(" ", 1)[0] if " " in cut else cut).rstrip(" ,;:-") + "\u2026"
    return title


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


@dataclass(frozen=True)
class _PdfLine:
    text: str
    size: float  # the rendered font size of most of its characters, in points (to 0.5); 0 when unknown


@dataclass(frozen=True)
class _PdfHeading:
    level: int
    text: str


def _parse_pdf(data: bytes, builder: _Builder) -> None:
    """One Section per page and heading: headings from the outline (bookmarks) if any, else from font sizes."""
    import pypdf

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
                raise ParseError("This PDF is password-protected; remove the password and upload it again.")
        pages = reader.pages
        page_count = len(pages)
    except ParseError:
        raise
    except Exception as exc:
        raise ParseError("This PDF could not be read; it may be damaged.") from exc

    builder.titles.append(_pdf_metadata_title(reader))

    # Font sizes only mean something relative to the body text of the whole document, so every page is read
    # before any heading is decided; the raw length is bounded here as the builder bounds the clean text.
    read: list[tuple[int, list[_PdfLine]]] = []
    failures = extracted = 0
    for index in range(page_count):
        try:
            lines = _pdf_page_lines(pages[index])
        except Exception:  # one broken page (bad font, bad stream) should not lose the rest of the document
            failures += 1
            continue
        extracted += sum(len(line.text) for line in lines)
        if extracted > 2 * builder.max_chars:
            raise builder.too_long()
        read.append((index, lines))

    read = _without_page_furniture(read)
    fonts = _FontHeadings(read)
    outline = _pdf_outline(reader)
    builder.titles += [fonts.title, _pdf_outline_title(outline, read)]
    for index, items in _pdf_outline_items(read, outline) if outline else fonts.items(read):
        builder.page = index + 1
        body: list[str] = []
        for item in items:
            if isinstance(item, _PdfHeading):
                builder.add("\n".join(body))
                body.clear()
                builder.heading(item.level, item.text)
            else:
                body.append(item)
        builder.add("\n".join(body))
        builder.flush()  # a Section never crosses a page, so each passage knows its page
    if failures and not builder.sections:
        raise ParseError("This PDF could not be read; it may be damaged.")


def _pdf_metadata_title(reader) -> str:
    try:
        info = reader.metadata
        return str(info.title) if info and info.title else ""
    except Exception:  # metadata is optional; a broken Info dictionary must not lose the text
        return ""


def _pdf_page_lines(page) -> list[_PdfLine]:
    """The page's text lines (pypdf's reading order), each with its font size when pypdf reported it."""
    fragments: list[tuple[str, float]] = []

    def visit(text, cm, tm, font, font_size) -> None:
        fragments.append((text, _rendered_size(cm, tm, font_size)))

    text = page.extract_text(visitor_text=visit) or ""
    if "".join(fragment for fragment, _ in fragments) != text:
        # The pieces do not add up to the text (a pypdf corner case): keep the text, without sizes.
        return [_PdfLine(line, 0.0) for line in text.split("\n")]
    lines: list[_PdfLine] = []
    parts: list[str] = []
    sizes: Counter[float] = Counter()
    for fragment, size in fragments:
        for number, part in enumerate(fragment.split("\n")):
            if number:
                lines.append(_PdfLine("".join(parts), _dominant(sizes)))
                parts, sizes = [], Counter()
            parts.append(part)
            if size and part.strip():
                sizes[size] += len(part.strip())
    lines.append(_PdfLine("".join(parts), _dominant(sizes)))
    return lines


_PAGE_NUMBER = re.compile(r"^(?:page\s+)?(?:\d{1,4}|[ivxlc]{1,6})(?:\s*(?:/|of)\s*\d{1,4})?$", re.IGNORECASE)


def _without_page_furniture(pages: list[tuple[int, list[_PdfLine]]]) -> list[tuple[int, list[_PdfLine]]]:
    """The pages without their page numbers and running headers/footers (first or last line, the same words on
    many pages): once headings split a page, they would otherwise be passages of their own."""
    # Keyed by size too: the title on the first page is often the running header of the others, in a small font.
    edges: Counter[tuple[str, float]] = Counter()
    for _, lines in pages:
        edges.update({(_running_key(line.text), line.size) for line in _edge_lines(lines) if _running_key(line.text)})
    running = {key for key, count in edges.items() if count >= max(PDF_RUNNING_HEADER_PAGES, len(pages) * 0.3)}
    kept = []
    for index, lines in pages:
        furniture = {
            id(line)
            for line in _edge_lines(lines)
            if _PAGE_NUMBER.match(line.text.strip()) or (_running_key(line.text), line.size) in running
        }
        kept.append((index, [line for line in lines if id(line) not in furniture]))
    return kept


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
        """(page index, [body line or _PdfHeading...]) for each page read."""
        for index, lines in pages:
            items: list[str | _PdfHeading] = []
            for item in self._page_items(lines):
                if isinstance(item, str):
                    items.append(item)
                elif item[0] in self.levels:
                    items.append(_PdfHeading(self.levels[item[0]], item[1]))
                else:  # a size that was not kept as a heading size after all
                    items.append(item[1])
            yield index, items

    def _page_items(self, lines: list[_PdfLine]) -> list[str | tuple[float, str]]:
        """Body lines, and (size, text) for heading lines; a heading wrapped over lines in one size is one."""
        items: list[str | tuple[float, str]] = []
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
                items[-1] = (line.size, f"{items[-1][1]} {text}")
            elif heading:
                items.append((line.size, text))
            else:
                items.append(line.text)
            previous_heading = heading
        return items


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
                title = _heading_text(str(item.title or ""))
                if page is not None and page >= 0 and title:
                    entries.append((page, depth, title))
    except Exception:  # outlines are optional and often broken; font sizes take over
        return []
    return entries


def _pdf_outline_items(pages: list[tuple[int, list[_PdfLine]]], outline: list[tuple[int, int, str]]):
    """(page index, [body line or _PdfHeading...]) with each bookmark placed at its heading's line on its page.

    A bookmark whose title is not found as a line of its page starts at the top of the page (after any
    bookmark found before it); a found heading line is the heading, not body text.
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
        keys = [_match_key(line.text) for line in lines]
        for heading in headings:
            key = _match_key(heading.text)
            match = next((number for number in range(position, len(lines)) if key and keys[number] == key), None)
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


_GENERIC_HEADING = re.compile(
    r"^(?:abstract|introduction|preface|foreword|summary|executive\s+summary|overview|contents|table\s+of\s+contents|"
    r"acknowledge?ments?)$",
    re.IGNORECASE,
)


def _pdf_outline_title(outline: list[tuple[int, int, str]], pages: list[tuple[int, list[_PdfLine]]]) -> str:
    """The first bookmark as a title, when it is on the first page with text and not a numbered or generic chapter."""
    start = _first_page_with_text(pages)
    if not outline or start is None:
        return ""
    page, depth, title = outline[0]
    if page != pages[start][0] or depth != 0 or _NUMBERING.match(title) or _GENERIC_HEADING.match(title):
        return ""
    return title


# --- DOCX -----------------------------------------------------------------------------------------------------

_HEADING_STYLE = re.compile(r"^heading\s*([1-9])$", re.IGNORECASE)


def _check_zip(data: bytes) -> None:
    """Refuse archives that would inflate into far more than a real Word document, before anything inflates."""
    bomb = ParseError("This Word document looks like a zip bomb (it expands to far more data than it holds).")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = archive.infolist()
    if len(members) > ZIP_MAX_MEMBERS:
        raise bomb
    total = 0
    for member in members:
        total += member.file_size
        if total > ZIP_MAX_TOTAL_UNCOMPRESSED:
            raise bomb
        if member.file_size > ZIP_RATIO_MIN_SIZE and member.file_size > ZIP_MAX_RATIO * max(member.compress_size, 1):
            raise bomb


def _parse_docx(data: bytes, builder: _Builder) -> None:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        _check_zip(data)
    except ParseError:
        raise
    except Exception as exc:
        raise ParseError("This Word document could not be read; it may be damaged.") from exc
    # python-docx parses XML with resolve_entities=False, so entity-expansion bombs are not a concern here.
    document = docx.Document(io.BytesIO(data))
    # The Title-styled paragraph is the title a reader sees; the core property (File > Info) is often left over
    # from a template, so it comes second, and the first Heading 1 (first_h1) last.
    title_paragraph = ""
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            style = _style_name(block)
            if style == "title" and block.text.strip():
                if title_paragraph:  # a second Title paragraph acts as a new chapter
                    builder.heading(1, block.text)
                else:
                    title_paragraph = block.text
                continue
            match = _HEADING_STYLE.match(style)
            if match and block.text.strip():
                builder.heading(int(match.group(1)), block.text)
            else:
                builder.add(block.text)
        elif isinstance(block, Table):
            builder.add(_docx_table_text(block))
    builder.titles += [title_paragraph, _docx_core_title(document)]


def _docx_core_title(document) -> str:
    try:
        return document.core_properties.title or ""
    except Exception:  # core properties are optional metadata
        return ""


def _style_name(paragraph) -> str:
    try:
        style = paragraph.style
        return (style.name or "").strip().lower() if style is not None else ""
    except Exception:  # a dangling style reference: treat as body text
        return ""


def _docx_table_text(table) -> str:
    rows = []
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:
            # python-docx repeats a merged cell once per grid column it spans; keep it once.
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            text = " ".join(cell.text.split())
            if text:
                cells.append(text)
        if cells:
            rows.append(" | ".join(cells))
    return "\n".join(rows)


# --- HTML -----------------------------------------------------------------------------------------------------

_HTML_DROP = [
    "script", "style", "nav", "footer", "head", "noscript", "template", "svg", "canvas", "iframe", "object",
    "embed", "select", "button",
]  # fmt: skip
_HTML_BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details", "dialog", "div",
        "dl", "dt", "fieldset", "figcaption", "figure", "form", "header", "hr", "html", "legend", "li", "main",
        "menu", "ol", "p", "section", "summary", "table", "ul",
    }
)  # fmt: skip
_HTML_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_WHITESPACE = re.compile(r"\s+")
# Page furniture outside <nav>/<footer> elements, named by the id or class generators and themes give it: a site
# footer ("Last updated ..."), a table of contents repeating every heading, breadcrumbs. Whole tokens only, so that
# "footer-note" in an article's own markup stays.
_HTML_FURNITURE = frozenset(
    {"footer", "site-footer", "page-footer", "toc", "table-of-contents", "breadcrumb", "breadcrumbs", "skip-link"}
)
_HTML_FURNITURE_ROLES = '[role="navigation"], [role="contentinfo"], [role="search"]'


def _parse_html(text: str, builder: _Builder) -> None:
    from bs4 import BeautifulSoup, NavigableString, Tag
    from bs4.element import PreformattedString

    soup = BeautifulSoup(text, "html.parser")
    # An inline <svg> or MathML can hold a <title> of its own (a tooltip), which is not the page's.
    title_tag = next((tag for tag in soup.find_all("title") if not tag.find_parent(["svg", "math"])), None)
    builder.titles.append(title_tag.get_text(" ") if title_tag else "")
    for tag in soup.find_all(_HTML_DROP):
        tag.decompose()
    for tag in soup.select(f"[hidden], {_HTML_FURNITURE_ROLES}"):
        tag.decompose()
    for tag in soup.find_all(_is_furniture):
        tag.decompose()
    for tag in _link_lists(soup):
        tag.decompose()
    # A page that marks its main content (one <main>, or role="main") is read from there only: what is around it
    # is the site's, repeated on every page (headers, menus, sidebars), and would crowd out the page's own text.
    mains = soup.find_all("main") or soup.select('[role="main"]')
    if len(mains) == 1 and mains[0].get_text(strip=True):
        soup = mains[0]

    line: list[str] = []

    def flush_line() -> None:
        parts = (part.strip() for part in "".join(line).split("\n"))
        line.clear()
        block = "\n".join(part for part in parts if part)
        if block:
            builder.add(block)

    # An explicit stack rather than recursion: a hostile page can nest tags thousands deep.
    stack = [(iter(soup.children), False)]
    while stack:
        children, is_block = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            if is_block:
                flush_line()
            continue
        if isinstance(child, NavigableString):
            if not isinstance(child, PreformattedString):  # comments, doctype, CDATA, processing instructions
                line.append(_WHITESPACE.sub(" ", str(child)))
            continue
        if not isinstance(child, Tag):
            continue
        name = (child.name or "").lower()
        if name in _HTML_HEADINGS:
            flush_line()
            heading = child.get_text(" ", strip=True)
            if heading:
                builder.heading(int(name[1]), heading)
        elif name == "br":
            line.append("\n")
        elif name == "pre":
            flush_line()
            builder.add(child.get_text().strip("\n"))
        elif name == "tr":
            cells = (cell.get_text(" ", strip=True) for cell in child.find_all(["td", "th"], recursive=False))
            line.append("\n" + " | ".join(cell for cell in cells if cell) + "\n")
        else:
            block = name in _HTML_BLOCKS
            if block:
                flush_line()
            elif name == "sup" and next((part for part in reversed(line) if part), "")[-1:].isdigit():
                # A power: "2<sup>64</sup>" read "264" (SQLite's limit on rows, quoted as a fact). After a word it
                # is more often a footnote's number, left as it was.
                line.append("^")
            stack.append((iter(child.children), block))
    flush_line()


def _link_lists(soup) -> list:
    """Blocks that are nothing but links (three or more, every word of them inside a link) and are a site's menu or
    a page's own table of contents: those before the page's first heading, and those whose links all go to places
    on the page itself ("#..."). Generated documentation marks neither with <nav> or a class: SQLite's pages put
    their menu ("Home Menu About Documentation Download...") and a contents list in plain <div>s, so every page's
    first passage was its menu and a list of its own headings, which questions about the page then retrieved.

    Two passes over an explicit stack (a hostile page nests tags thousands deep): one counts each tag's text,
    link text and links from its children up, the next takes the outermost blocks that qualify, in page order.
    """
    from bs4 import NavigableString, Tag
    from bs4.element import PreformattedString

    # id(tag): [characters, characters in links, links, links to the page, links elsewhere, headings]
    stats: dict[int, list[int]] = {}
    stack = [(soup, False)]
    while stack:
        tag, visited = stack.pop()
        if not visited:
            stack.append((tag, True))
            stack.extend((child, False) for child in tag.children if isinstance(child, Tag))
            continue
        counts = [0, 0, 0, 0, 0, 1 if tag.name in _HTML_HEADINGS else 0]
        for child in tag.children:
            if isinstance(child, Tag):
                counts = [a + b for a, b in zip(counts, stats[id(child)], strict=True)]
            elif isinstance(child, NavigableString) and not isinstance(child, PreformattedString):
                counts[0] += len("".join(str(child).split()))
        if tag.name == "a":
            href = (tag.get("href") or "").strip().lower()
            local, elsewhere = href.startswith("#"), bool(href) and not href.startswith(("#", "javascript:"))
            counts = [counts[0], counts[0], 1, int(local), int(elsewhere), counts[5]]
        stats[id(tag)] = counts

    found = []
    before_heading = stats[id(soup)][5] > 0  # a page without headings has no "before": its links may be its text
    stack = [soup]
    while stack:
        tag = stack.pop()
        characters, in_links, links, local, elsewhere, headings = stats[id(tag)]
        if (
            tag.name not in ("[document]", "html", "body", "main", "a")
            and links >= 3
            and characters
            and in_links == characters
            and not headings
            and (before_heading or (local >= 3 and not elsewhere))
        ):
            found.append(tag)
            continue
        if tag.name in _HTML_HEADINGS:
            before_heading = False
            continue
        stack.extend(reversed([child for child in tag.children if isinstance(child, Tag)]))
    return found


def _is_furniture(tag) -> bool:
    if tag.name in ("html", "body", "main"):
        return False
    names = tag.get("class") or []
    identifier = tag.get("id")
    return any(name.lower() in _HTML_FURNITURE for name in [*names, *([identifier] if identifier else [])])


# --- Markdown -------------------------------------------------------------------------------------------------

_ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_NOT_PARAGRAPH = re.compile(r"^(?: {4,}|\t|\s*(?:[-*+>|]|\d+[.)])(?:\s|$))")


def _parse_markdown(text: str, builder: _Builder) -> None:
    """Headings (ATX `#` and one-line setext) drive chapter/section; fenced code is body text, never a heading."""
    body: list[str] = []
    fence: str | None = None  # the opening fence while inside a fenced code block

    def heading(level: int, title: str) -> None:
        builder.add("\n".join(body))
        body.clear()
        builder.heading(level, title)

    for line in _LINE_BREAKS.sub("\n", text).split("\n"):
        if fence is not None:
            body.append(line)
            stripped = line.strip()
            if stripped.startswith(fence[0]) and set(stripped) == {fence[0]} and len(stripped) >= len(fence):
                fence = None
            continue
        opened = _FENCE_OPEN.match(line)
        if opened and not (opened.group(1)[0] == "`" and "`" in opened.group(2)):
            fence = opened.group(1)
            body.append(line)
            continue
        atx = _ATX_HEADING.match(line)
        if atx:
            heading(len(atx.group(1)), atx.group(2) or "")
            continue
        underline = _SETEXT_UNDERLINE.match(line)
        if (
            underline
            and body
            and body[-1].strip()
            and not _NOT_PARAGRAPH.match(body[-1])
            and (len(body) == 1 or not body[-2].strip())
        ):
            title = body.pop()
            heading(1 if underline.group(1)[0] == "=" else 2, title)
            continue
        body.append(line)
    builder.add("\n".join(body))
