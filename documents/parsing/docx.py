"""Word (.docx): headings from paragraph styles, tables as rows, zip bombs refused before python-docx reads."""

from __future__ import annotations

import io
import re

from documents.parsing.base import Builder, ParseError
from documents.parsing.packages import check_zip

# --- DOCX -----------------------------------------------------------------------------------------------------

_HEADING_STYLE = re.compile(r"^heading\s*([1-9])$", re.IGNORECASE)


def parse_docx(data: bytes, builder: Builder) -> None:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        check_zip(data, what="Word document")
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
