"""Word (.docx): headings from paragraph styles, tables as rows, zip bombs refused before python-docx reads."""

from __future__ import annotations

import io
import re
import zipfile

from documents.parsing.base import Builder, ParseError

# Zip-bomb limits for .docx, checked on the central directory before python-docx inflates anything. zipfile stops
# reading a member at its declared size (and fails the CRC if there is more), so the declared sizes can be trusted.
ZIP_MAX_TOTAL_UNCOMPRESSED = 100 * 1024 * 1024
ZIP_MAX_RATIO = 100
ZIP_RATIO_MIN_SIZE = 1024 * 1024  # small members (styles, XML) legitimately compress very well
ZIP_MAX_MEMBERS = 5000


# --- DOCX -----------------------------------------------------------------------------------------------------

_HEADING_STYLE = re.compile(r"^heading\s*([1-9])$", re.IGNORECASE)


def check_zip(data: bytes, *, what: str = "Word document") -> None:
    """Refuse archives that would inflate into far more than a real document, before anything inflates."""
    bomb = ParseError(f"This {what} looks like a zip bomb (it expands to far more data than it holds).")
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


def parse_docx(data: bytes, builder: Builder) -> None:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        check_zip(data)
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
