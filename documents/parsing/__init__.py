"""Turn an uploaded file into plain text split by headings, without trusting the file's name or its content.

Pure Python (no ORM, no network) so the Celery worker can call it on untrusted bytes: every failure, including
any unexpected exception from pypdf, python-docx or BeautifulSoup, comes out as a ParseError carrying one sentence
that can be shown to the user as-is.
"""

from __future__ import annotations

from documents.parsing.base import (
    DOCUMENT_SUFFIXES,
    GENERIC_HEADING,
    KIND_LABELS,
    MAX_HEADING_CHARS,
    MAX_TITLE_CHARS,
    MIME_TYPES,
    SECTION_SEPARATOR,
    SUPPORTED_FORMATS,
    UNSUPPORTED_MESSAGE,
    Builder,
    ParsedDocument,
    ParseError,
    Section,
    document_title,
    normalise_text,
    upload_accept,
)
from documents.parsing.docx import parse_docx
from documents.parsing.epub import parse_epub
from documents.parsing.html import parse_html
from documents.parsing.markdown import parse_markdown
from documents.parsing.opendocument import parse_odt
from documents.parsing.pdf import parse_pdf
from documents.parsing.rst import parse_asciidoc, parse_rst
from documents.parsing.slides_sheets import parse_csv, parse_pptx, parse_xlsx
from documents.parsing.sniffing import sniff, sniff_type

__all__ = [
    "DOCUMENT_SUFFIXES",
    "MAX_HEADING_CHARS",
    "MAX_TEXT_CHARACTERS",
    "MAX_TITLE_CHARS",
    "MIME_TYPES",
    "SECTION_SEPARATOR",
    "SUPPORTED_FORMATS",
    "UNSUPPORTED_MESSAGE",
    "ParseError",
    "ParsedDocument",
    "Section",
    "document_title",
    "normalise_text",
    "parse_document",
    "sniff_type",
    "upload_accept",
]


# Each kind's reader: of the file's bytes (packages, PDF), or of its decoded text.
_FILE_READERS = {
    "pdf": parse_pdf, "docx": parse_docx, "epub": parse_epub, "odt": parse_odt, "pptx": parse_pptx, "xlsx": parse_xlsx
}  # fmt: skip
_TEXT_READERS = {"html": parse_html, "markdown": parse_markdown, "rst": parse_rst, "asciidoc": parse_asciidoc}
MAX_TEXT_CHARACTERS = 5_000_000  # a document's text, whatever its file's size (the documents page says so)


def parse_document(data: bytes, filename: str, *, max_chars: int = MAX_TEXT_CHARACTERS) -> ParsedDocument:
    """Sniff, extract and normalise; raises ParseError (only) when the file cannot give usable text."""
    if not data:
        raise ParseError("The file is empty.")
    kind, text = sniff(data, filename)
    # PDF lines are wrapped by layout, so indentation there is noise; elsewhere it can carry meaning (code).
    builder = Builder(keep_indent=kind != "pdf", max_chars=max_chars)
    try:
        if kind in _FILE_READERS:
            _FILE_READERS[kind](data, builder)
        elif kind in _TEXT_READERS:
            _TEXT_READERS[kind](text or "", builder)
        elif kind == "csv":
            if not parse_csv(text or "", builder, tab=filename.lower().endswith(".tsv")):
                builder.add(text or "")  # not a table after all: its text as it is
        else:
            builder.add(text or "")
        builder.flush()
    except ParseError:
        raise
    except Exception as exc:  # incl. RecursionError/MemoryError: hostile input must not take the worker down
        raise ParseError(f"This {KIND_LABELS[kind]} could not be read; it may be damaged.") from exc
    if not builder.sections:
        if kind == "pdf":
            raise ParseError("No text could be extracted from this PDF (a scanned PDF needs OCR first).")
        raise ParseError("No text could be extracted from this file; it contains no readable text.")
    # A PDF's first level-1 heading can be any chapter ("1 Introduction"); its parser ranks its own candidates.
    # A spreadsheet's first level-1 heading is its first sheet's name ("Sheet1"), no title.
    # A first heading that any document may have ("Introduction") is not this one's title: its file name says more.
    first_h1 = "" if GENERIC_HEADING.match(builder.first_h1) else builder.first_h1
    candidates = builder.titles if kind in ("pdf", "xlsx") else [*builder.titles, first_h1]
    if kind == "html":
        # An older page may have neither a <title> nor an <h1>, its headline an <h2> (SQLite's press release): its
        # first heading beats the file name ("pressrelease 20071212"). A Markdown file's first "##" is more often
        # a part of it ("Installation") than its name, so only HTML.
        candidates.append(builder.first_heading)
    title = next(filter(None, map(document_title, candidates)), "")
    return ParsedDocument(kind=kind, mime_type=MIME_TYPES[kind], title=title, sections=builder.sections)
