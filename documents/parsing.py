"""Turn an uploaded file into plain text split by headings, without trusting the file's name or its content.

Pure Python (no ORM, no network) so the Celery worker can call it on untrusted bytes: every failure, including
any unexpected exception from pypdf, python-docx or BeautifulSoup, comes out as a ParseError carrying one sentence
that can be shown to the user as-is.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass

from chatbot.errors import UserFacingError

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
    """A run of body text under a heading path: chapter is the level-1 heading, section the latest one below it."""

    chapter: str
    section: str
    text: str


@dataclass(frozen=True)
class ParsedDocument:
    kind: str  # "pdf" | "docx" | "html" | "markdown" | "text"
    mime_type: str
    title: str
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

    text = _decode_text(data)
    # Skip any number of leading comments / XML declarations, then look at what the document opens with.
    head = text[:4096]
    while junk := _LEADING_JUNK.match(head):
        head = head[junk.end() :]
    if _HTML_START.match(head.lstrip()) or (name.endswith(_HTML_NAMES) and _HTML_STRUCTURE.search(text)):
        return "html", text
    if name.endswith(_MARKDOWN_NAMES) or _MARKDOWN_HEADING.search(text):
        return "markdown", text
    return "text", text


def _is_plain_text(prefix: bytes) -> bool:
    try:
        text = prefix.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    return not any(ch not in "\t\n\r\f\v" and unicodedata.category(ch) == "Cc" for ch in text)


def _decode_text(data: bytes) -> str:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        # Windows "Unicode" text is UTF-16 with a BOM; it is the one non-UTF-8 encoding that is unambiguous.
        encoding = "utf-16"
    else:
        if b"\x00" in data:
            raise ParseError(UNSUPPORTED_MESSAGE)
        encoding = "utf-8-sig"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:  # PNG, JPEG, Latin-1 text...
        raise ParseError(UNSUPPORTED_MESSAGE) from exc
    # Valid UTF-8 can still be binary (or UTF-32 misread as UTF-16): real text has almost no control characters.
    sample = text[:8192]
    controls = sum(1 for ch in sample if ch not in "\t\n\r\f\v" and unicodedata.category(ch) == "Cc")
    if "\x00" in sample or controls > len(sample) // 20:
        raise ParseError(UNSUPPORTED_MESSAGE)
    return text


# --- Parsing --------------------------------------------------------------------------------------------------


def parse_document(data: bytes, filename: str, *, max_chars: int = 5_000_000) -> ParsedDocument:
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
    title = builder.title or builder.first_h1
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
        self.title = ""  # set by parsers from metadata (<title>, docx Title, PDF Info); else first_h1 is used
        self.first_h1 = ""
        self.chapter = ""
        self.section = ""
        self._blocks: list[str] = []
        self._length = 0

    def heading(self, level: int, text: str) -> None:
        self.flush()
        text = _heading_text(text)
        if level <= 1:
            self.first_h1 = self.first_h1 or text
            self.chapter, self.section = text, ""
        else:
            self.section = text

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
            raise ParseError(
                f"This document has more than {self.max_chars:,} characters of text, which is too much to "
                "process; split it into smaller files."
            )
        self.sections.append(Section(chapter=self.chapter, section=self.section, text=text))


_LINE_BREAKS = re.compile(r"\r\n?|[\x0b\x0c\x85\u2028\u2029]")
# C0/C1 controls (tab and newline survive), soft hyphen, zero-width space, stray BOMs and lone surrogates (pypdf
# can produce those; PostgreSQL rejects both NUL and invalid UTF-8).
_JUNK_CHARS = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\u00ad\u200b\ufeff\ud800-\udfff]")
_SPACE_RUNS = re.compile(r"[^\S\n]+")
_BLANK_RUNS = re.compile(r"\n{3,}")


def normalise_text(text: str, *, keep_indent: bool = False) -> str:
    """Unify line breaks, drop control characters, collapse space runs and keep at most one blank line.

    Lines end without trailing spaces and the result has no leading/trailing blank lines; with keep_indent the
    leading indentation of each line survives (tabs as four spaces) so code blocks stay readable.
    """
    text = _JUNK_CHARS.sub("", _LINE_BREAKS.sub("\n", text))
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
    text = " ".join(_JUNK_CHARS.sub("", text).split())
    return text[:MAX_HEADING_CHARS].rstrip()


# --- PDF ------------------------------------------------------------------------------------------------------


def _parse_pdf(data: bytes, builder: _Builder) -> None:
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

    try:
        info = reader.metadata
        builder.title = _heading_text(str(info.title)) if info and info.title else ""
    except Exception:  # metadata is optional; a broken Info dictionary must not lose the text
        builder.title = ""
    chapters = _pdf_chapters(reader)

    failures = 0
    for index in range(page_count):
        try:
            text = pages[index].extract_text() or ""
        except Exception:  # one broken page (bad font, bad stream) should not lose the rest of the document
            failures += 1
            continue
        builder.chapter = chapters.get(index, builder.chapter)
        builder.section = f"Page {index + 1}"
        builder.add(text)
        builder.flush()
    if failures and not builder.sections:
        raise ParseError("This PDF could not be read; it may be damaged.")


def _pdf_chapters(reader) -> dict[int, str]:
    """{page index: top-level outline title} for pages where a top-level bookmark starts; {} when unusable."""
    starts: dict[int, str] = {}
    try:
        for item in reader.outline:
            if isinstance(item, list):  # the children of the previous entry
                continue
            page = reader.get_destination_page_number(item)
            title = _heading_text(str(item.title or ""))
            if page is not None and page >= 0 and title:
                starts.setdefault(page, title)
    except Exception:  # outlines are optional and often broken; pages still get "Page n"
        return {}
    return starts


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
    title_paragraph_seen = False
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            style = _style_name(block)
            if style == "title" and block.text.strip():
                if title_paragraph_seen:  # a second Title paragraph acts as a new chapter
                    builder.heading(1, block.text)
                else:
                    title_paragraph_seen = True
                    builder.title = _heading_text(block.text)
                continue
            match = _HEADING_STYLE.match(style)
            if match and block.text.strip():
                builder.heading(int(match.group(1)), block.text)
            else:
                builder.add(block.text)
        elif isinstance(block, Table):
            builder.add(_docx_table_text(block))
    if not builder.title:
        try:
            builder.title = _heading_text(document.core_properties.title or "")
        except Exception:  # core properties are optional metadata
            builder.title = ""


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


def _parse_html(text: str, builder: _Builder) -> None:
    from bs4 import BeautifulSoup, NavigableString, Tag
    from bs4.element import PreformattedString

    soup = BeautifulSoup(text, "html.parser")
    title_tag = soup.find("title")
    title = _heading_text(title_tag.get_text(" ")) if title_tag else ""
    for tag in soup.find_all(_HTML_DROP):
        tag.decompose()
    for tag in soup.select('[hidden], [role="navigation"]'):
        tag.decompose()

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
            stack.append((iter(child.children), block))
    flush_line()
    builder.title = title or builder.title


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
