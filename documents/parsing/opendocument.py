"""OpenDocument text (.odt, LibreOffice's own format): headings by their outline level, tables as rows."""

from __future__ import annotations

import io
import re
import zipfile

from lxml import etree

from documents.parsing.base import Builder, ParseError, password_protected
from documents.parsing.packages import DC_TITLE, check_zip, declared_mimetype, xml_parser

ODT_MIME_TYPE = b"application/vnd.oasis.opendocument.text"
_TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
_STYLE = "{urn:oasis:names:tc:opendocument:xmlns:style:1.0}"
_SPACES = re.compile(r"\s+")
# Nesting past this (sections in lists in tables...) is read as flat text: a hostile file must not recurse deeply.
MAX_DEPTH = 60


def is_odt(names: set[str], archive: zipfile.ZipFile) -> bool:
    return "content.xml" in names and declared_mimetype(names, archive) == ODT_MIME_TYPE


def _encrypted(archive: zipfile.ZipFile) -> bool:
    """Whether LibreOffice encrypted the package's parts with a password: the zip itself is not encrypted, its
    manifest names how each part was (so content.xml is ciphertext, which read as "damaged" before)."""
    try:
        with archive.open("META-INF/manifest.xml") as manifest:
            return b"encryption-data" in manifest.read(1 << 20)
    except (KeyError, RuntimeError, ValueError, zipfile.BadZipFile):
        return False


def parse_odt(data: bytes, builder: Builder) -> None:
    check_zip(data, what="document")
    xml = xml_parser()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        try:
            content = etree.fromstring(archive.read("content.xml"), xml)
        except (KeyError, ValueError, etree.XMLSyntaxError) as exc:
            if _encrypted(archive):
                raise password_protected("document") from exc
            raise ParseError("This OpenDocument text could not be read; it may be damaged.") from exc
        try:
            meta = etree.fromstring(archive.read("meta.xml"), xml)
            title = meta.find(f".//{DC_TITLE}")
            meta_title = title.text or "" if title is not None else ""
        except (KeyError, ValueError, etree.XMLSyntaxError):
            meta_title = ""  # the metadata is optional
    body = content.find(f"{_OFFICE}body/{_OFFICE}text")
    # As in a Word document, the paragraph styled Title is the title a reader sees; meta.xml's is often left over
    # from a template. An automatic style ("P3": a Title paragraph with a change of its own) names it as its parent.
    parents = {
        style.get(f"{_STYLE}name"): style.get(f"{_STYLE}parent-style-name")
        for style in content.iterfind(f"{_OFFICE}automatic-styles/{_STYLE}style")
    }
    title_paragraph: list[str] = []
    if body is not None:
        _read(body, builder, depth=0, parents=parents, title=title_paragraph)
    builder.titles += [*title_paragraph[:1], meta_title]


def _is_title(paragraph, parents: dict) -> bool:
    name = paragraph.get(f"{_TEXT}style-name") or ""
    return "title" in (name.casefold(), (parents.get(name) or "").casefold())


def _read(element, builder: Builder, *, depth: int, parents: dict, title: list[str]) -> None:
    for child in element:
        tag = child.tag
        if tag == f"{_TEXT}h":
            try:
                level = int(child.get(f"{_TEXT}outline-level") or 1)
            except ValueError:
                level = 1
            builder.heading(level, _text(child))
        elif tag == f"{_TEXT}p" and _is_title(child, parents) and _text(child).strip():
            if title:  # a second Title paragraph acts as a new chapter
                builder.heading(1, _text(child))
            else:
                title.append(_text(child))
        elif tag == f"{_TEXT}p":
            builder.add(_text(child))
        elif tag == f"{_TABLE}table":
            builder.add(_table(child))
        elif tag in (f"{_TEXT}list", f"{_TEXT}list-item", f"{_TEXT}section", f"{_TEXT}list-header"):
            if depth < MAX_DEPTH:
                _read(child, builder, depth=depth + 1, parents=parents, title=title)
            else:
                builder.add(_text(child))


def _text(element, depth: int = 0) -> str:
    """An element's text in order: spans and links opened, a line break as one, a tab or a run of spaces as a space,
    a footnote's number left out (its text stays, where it is cited), and so are comments, processing instructions
    and the entity references lxml leaves unresolved (their text was read: "&x;")."""
    # Whitespace in the XML collapses to a space, as in HTML: spaces that count are <text:s>.
    parts = [_SPACES.sub(" ", element.text or "")]
    for child in element:
        if child.tag == f"{_TEXT}line-break":
            parts.append("\n")
        elif child.tag in (f"{_TEXT}s", f"{_TEXT}tab"):
            parts.append(" ")
        elif isinstance(child.tag, str) and child.tag != f"{_TEXT}note-citation" and depth < MAX_DEPTH:
            parts.append(_text(child, depth + 1))
        parts.append(_SPACES.sub(" ", child.tail or ""))
    return "".join(parts)


def _table(element, depth: int = 0) -> str:
    """A table's own rows, each cell's text once ("a | b"), one a line (a table nested in a cell: all on its line).

    A table nested in a cell is read as part of that cell, not again as rows of this one, and its text is not
    normalised again at each level: reading every row below a table (`iter`) read a table nested 80 deep 80 times
    (2 MB of text in a 290 KB file: 6.7 s)."""
    rows = []
    for row in _rows(element, depth):
        cells = [_cell_text(cell, depth) for cell in row.iterfind(f"{_TABLE}table-cell")]
        if any(cells):
            rows.append(" | ".join(cell for cell in cells if cell))
    return (" " if depth else "\n").join(rows)


_ROW_GROUPS = frozenset({f"{_TABLE}table-header-rows", f"{_TABLE}table-rows", f"{_TABLE}table-row-group"})


def _rows(element, depth: int):
    """A table's rows, those in its (nested) row groups included, not those of tables in its cells."""
    for child in element:
        if child.tag == f"{_TABLE}table-row":
            yield child
        elif child.tag in _ROW_GROUPS and depth < MAX_DEPTH:
            yield from _rows(child, depth + 1)


def _cell_text(cell, depth: int) -> str:
    """A cell's paragraphs, each with its spaces collapsed and separated by one (they ran together: "Tree" and
    "Bramley" were "TreeBramley"), and a table in it as its rows."""
    parts = []
    for child in cell:
        if child.tag == f"{_TABLE}table" and depth < MAX_DEPTH:
            parts.append(_table(child, depth + 1))
        elif isinstance(child.tag, str):
            parts.append(" ".join(_text(child).split()))
    return " ".join(part for part in parts if part)
