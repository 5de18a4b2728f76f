"""What every format's parser shares: the parsed document, its sections, the builder, titles and text."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from chatbot.errors import UserFacingError
from chatbot.text import clean_text

SUPPORTED_FORMATS = ".txt, .md, .rst, .adoc, .pdf, .docx, .odt, .pptx, .xlsx, .epub or .html"
# The file names a folder's import takes (`manage.py ingest`); any UTF-8 text is read too, when uploaded by name.
DOCUMENT_SUFFIXES = frozenset(
    [
        ".txt",
        ".md",
        ".markdown",
        ".rst",
        ".rest",
        ".adoc",
        ".asciidoc",
        ".pdf",
        ".docx",
        ".odt",
        ".pptx",
        ".xlsx",
        ".epub",
        ".html",
        ".htm",
        ".xhtml",
        ".csv",
        ".tsv",
    ]
)
# Other UTF-8 text the documents page's picker offers besides (read as text, like any text uploaded by name).
OTHER_TEXT_SUFFIXES = frozenset([".json", ".xml", ".yaml", ".yml", ".log", ".tex"])
UNSUPPORTED_MESSAGE = f"This file type is not supported; upload a {SUPPORTED_FORMATS} file (text files must be UTF-8)."

MIME_TYPES = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "epub": "application/epub+zip",
    "odt": "application/vnd.oasis.opendocument.text",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "html": "text/html",
    "markdown": "text/markdown",
    "rst": "text/x-rst",
    "asciidoc": "text/asciidoc",
    "csv": "text/csv",
    "text": "text/plain",
}

# Chunk.chapter / Chunk.section and Document.title are CharField(max_length=300).
MAX_HEADING_CHARS = 300
# A title is shown in lists and page headers: a long first heading (a whole sentence) is cut at a word.
MAX_TITLE_CHARS = 200


# A chapter any document may have: no document's title, though it may be its first heading or bookmark.
GENERIC_HEADING = re.compile(
    r"^(?:abstract|introduction|preface|foreword|summary|executive\s+summary|overview|contents|table\s+of\s+contents|"
    r"acknowledge?ments?)$",
    re.IGNORECASE,
)

# Sections are joined with this into ParsedDocument.text; chunk offsets (documents.chunking) depend on it.
SECTION_SEPARATOR = "\n\n"


class ParseError(UserFacingError):
    """The file cannot be turned into text."""


def password_protected(what: str) -> ParseError:
    """The refusal of a file encrypted with a password (its text cannot be read without it)."""
    return ParseError(f"This {what} is password-protected; remove the password and upload it again.")


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
    kind: str  # "pdf" | "docx" | "pptx" | "xlsx" | "epub" | "html" | "markdown" | "rst" | "asciidoc" | "text"
    mime_type: str
    title: str  # the document's own title (metadata or first heading), cleaned; "" when it has none
    sections: list[Section]

    @property
    def text(self) -> str:
        """The whole document; chunk offsets index into this string, so its shape is part of the contract."""
        return SECTION_SEPARATOR.join(section.text for section in self.sections)


KIND_LABELS = {
    "pdf": "PDF",
    "docx": "Word document",
    "epub": "e-book",
    "odt": "OpenDocument text",
    "pptx": "presentation",
    "xlsx": "spreadsheet",
    "csv": "CSV file",
    "html": "HTML page",
    "markdown": "Markdown file",
    "rst": "reStructuredText file",
    "asciidoc": "AsciiDoc file",
    "text": "text file",
}


class Builder:
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
        self.html_elements = 0  # start tags of the HTML read so far (an e-book's pages add up): html.py's limit

    def heading(self, level: int, text: str) -> None:
        self.flush()
        text = heading_text(text)
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

    @property
    def over_limit(self) -> bool:
        return self._length > self.max_chars

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


LINE_BREAKS = re.compile(r"\r\n?|[\x0b\x0c\x85\u2028\u2029]")
# What clean_text (NUL, C0 controls, lone surrogates: what PostgreSQL or the page cannot take) leaves but is still
# noise in extracted text: C1 controls, soft hyphens, zero-width spaces and stray BOMs.
_JUNK_CHARS = re.compile("[\x7f-\x9f\u00ad\u200b\ufeff]")
# Typographic ligatures (U+FB00-FB06: ff, fi, fl, ffi, ffl, long st, st) as their letters: TeX and other typesetters
# draw them as one glyph, and a PDF's text is extracted so ("ﬁle"), which no keyword search for "file" matches.
_LIGATURES = str.maketrans({chr(code): unicodedata.normalize("NFKC", chr(code)) for code in range(0xFB00, 0xFB07)})


def _clean(text: str) -> str:
    """Every extracted string passes here: page breaks become line breaks, then nothing unsafe or invisible stays,
    and ligatures are letters again."""
    return _JUNK_CHARS.sub("", clean_text(LINE_BREAKS.sub("\n", text))).translate(_LIGATURES)


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


def heading_text(text: str) -> str:
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
    title = heading_text(candidate)
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


def upload_accept() -> str:
    """The file inputs' `accept` list: every suffix read (a folder's files are filtered by it), then media types."""
    suffixes = sorted(DOCUMENT_SUFFIXES | OTHER_TEXT_SUFFIXES)
    return ",".join([*suffixes, *sorted(set(MIME_TYPES.values()))])
