"""PowerPoint (.pptx), Excel (.xlsx) and CSV: a slide or a sheet is a section of its own, under its title or name.

Both are zip packages like .docx and get its zip-bomb checks before a library inflates anything. python-pptx parses
its XML with lxml without resolving entities; openpyxl reads sheets with the standard library's expat, which does
resolve them, so a workbook's XML is checked with expat first (check_workbook_xml).
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import zipfile
from datetime import date, datetime, time
from xml.parsers import expat

from documents.parsing.base import Builder, ParseError
from documents.parsing.packages import check_zip

# A sheet is read in blocks of this many rows, so that a huge one stops at the document's limit, not after it.
SHEET_ROWS_PER_BLOCK = 100
# Rows looked at in a whole workbook, empty ones included: openpyxl yields every row up to the last one written, so a
# cell at row 1,048,576 of each of a hundred sheets was a hundred million empty rows (a file of a few KB).
WORKBOOK_MAX_ROWS = 2_000_000
# openpyxl holds a workbook's shared strings in memory: more XML of them than this is more text than a document may
# have anyway, and was hundreds of MB of a worker's memory (the zip checks allow 100 MB inflated).
SHARED_STRINGS_MAX_BYTES = 32 * 1024 * 1024
# Columns past the last one with text are not read (a formatted but empty column runs to XFD, 16,384 columns).
SHEET_MAX_COLUMNS = 200
# openpyxl parses sheets and shared strings with ElementTree.iterparse (expat), 16 KB at a time. expat expands the
# entities a DTD declares (past 8 MiB only up to 100 times the document: a 600 KB workbook held 100 MB of one cell,
# 7 s and 480 MB), and expat 2.5 scans a tag from its start again at each 16 KB read (an 8 MB attribute: 8 s for a
# 1.2 MB file, 30 MB: over a minute). Excel writes no DTD and no tag near this long.
XML_MAX_TOKEN_BYTES = 128 * 1024
# Even reading values only, openpyxl makes an object of every element of a sheet outside its cells (a merged range,
# a hyperlink, a formatting rule...) and of the styles: 200,000 merged ranges (a 950 KB file) took 3-5 s and 130 MB.
# Excel's own limit of 64,000 cell formats is about as many elements.
WORKBOOK_MAX_OTHER_ELEMENTS = 200_000
# The elements of cells and of their text, which openpyxl reads one row at a time and the rows budget bounds, as expat
# names them (namespace "}" name), in the namespaces of transitional and strict Office Open XML.
_SHEET_NAMESPACES = (
    "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "http://purl.oclc.org/ooxml/spreadsheetml/main",
)
_CELL_ELEMENTS = frozenset(
    f"{namespace}}}{name}"
    for namespace in _SHEET_NAMESPACES
    for name in (
        "row", "c", "v", "f", "is", "t", "r", "rPr", "si", "rPh", "phoneticPr", "rFont", "charset", "family", "b",
        "i", "strike", "outline", "shadow", "condense", "extend", "color", "sz", "u", "vertAlign", "scheme",
    )
)  # fmt: skip


# --- PowerPoint -------------------------------------------------------------------------------------------------


def parse_pptx(data: bytes, builder: Builder) -> None:
    """Each slide a chapter under its title ("Slide 3" when it has none): its text boxes in order, tables as rows,
    grouped shapes opened, and the speaker notes last."""
    from pptx import Presentation

    check_zip(data, what="presentation")
    try:
        deck = Presentation(io.BytesIO(data))
    except Exception as exc:
        raise ParseError("This presentation could not be read; it may be damaged.") from exc
    for number, slide in enumerate(deck.slides, start=1):
        title_shape = slide.shapes.title
        title = " ".join(title_shape.text_frame.text.split()) if title_shape is not None else ""
        builder.heading(1, title or f"Slide {number}")
        title_id = title_shape.shape_id if title_shape is not None else None
        for shape in _shapes(slide.shapes):
            if shape.shape_id == title_id:  # python-pptx makes a new proxy at each access: compared by id
                continue
            if getattr(shape, "has_table", False):
                builder.add(_table_text(shape.table))
            elif getattr(shape, "has_text_frame", False):
                builder.add(shape.text_frame.text)
        if slide.has_notes_slide:
            notes = slide.notes_slide.notes_text_frame
            if notes is not None and notes.text.strip():
                builder.add("Speaker notes: " + notes.text)
    builder.titles.append(_core_title(deck))


def _shapes(shapes):
    """Shapes in reading order, a group's own shapes in its place (a diagram's boxes are grouped)."""
    for shape in shapes:
        if shape.shape_type == 6:  # MSO_SHAPE_TYPE.GROUP
            yield from _shapes(shape.shapes)
        else:
            yield shape


def _table_text(table) -> str:
    rows = []
    for row in table.rows:
        cells = [" ".join(cell.text.split()) for cell in row.cells]
        if any(cells):
            rows.append(" | ".join(cell for cell in cells if cell))
    return "\n".join(rows)


def _core_title(package) -> str:
    try:
        return package.core_properties.title or ""
    except Exception:  # core properties are optional metadata
        return ""


# --- Excel --------------------------------------------------------------------------------------------------------


def parse_xlsx(data: bytes, builder: Builder) -> None:
    """Each sheet a chapter under its name. A first row of labels (text only) is the header: every later row is
    read as "label: value" pairs, so a passage found on its own still says what its numbers are; otherwise cells are
    joined by " | ". Formulas are read as the values Excel last computed."""
    from openpyxl import load_workbook

    members = check_zip(data, what="spreadsheet")
    shared = next((info for info in members if info.filename.lower() == "xl/sharedstrings.xml"), None)
    if shared is not None and shared.file_size > SHARED_STRINGS_MAX_BYTES:
        raise ParseError("This spreadsheet holds too much text to process; split it into smaller files.")
    check_workbook_xml(data, members)
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:
        raise ParseError("This spreadsheet could not be read; it may be damaged.") from exc
    try:
        builder.titles.append(_core_title(workbook))
        budget = [WORKBOOK_MAX_ROWS]
        for sheet in workbook.worksheets:
            if budget[0] <= 0:
                break
            builder.heading(1, sheet.title)
            _read_sheet(sheet, builder, budget)
    finally:
        workbook.close()


def check_workbook_xml(data: bytes, members: list[zipfile.ZipInfo]) -> None:
    """Run every member through expat as openpyxl will, before it does: refuse a DTD (where entities are declared),
    a tag or comment over XML_MAX_TOKEN_BYTES, and more than WORKBOOK_MAX_OTHER_ELEMENTS elements besides cells.
    A member expat cannot read (a picture, broken XML) is left to openpyxl, which reads the same bytes."""
    damaged = ParseError("This spreadsheet could not be read; its XML is not what Excel writes.")
    others = 0

    def doctype(*_args) -> None:
        raise damaged

    def element(name: str, _attributes) -> None:
        nonlocal others
        if name not in _CELL_ELEMENTS:
            others += 1
            if others > WORKBOOK_MAX_OTHER_ELEMENTS:
                raise ParseError(
                    "This spreadsheet has too many merged cells, links, rules or styles to process; split it into "
                    "smaller files."
                )

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for member in members:
            parser = expat.ParserCreate(None, "}")  # as ElementTree's
            parser.StartDoctypeDeclHandler = doctype
            parser.StartElementHandler = element
            read = 0
            with archive.open(member) as stream:
                try:
                    while chunk := stream.read(64 * 1024):
                        parser.Parse(chunk, False)
                        read += len(chunk)
                        # Outside a handler, CurrentByteIndex is where the token expat has not finished starts.
                        if read - parser.CurrentByteIndex > XML_MAX_TOKEN_BYTES:
                            raise damaged
                    parser.Parse(b"", True)
                except expat.ExpatError:
                    continue


def _read_sheet(sheet, builder: Builder, budget: list[int]) -> None:
    """One sheet into `builder`; `budget`: the workbook's rows left to look at, spent here."""

    def counted(rows):
        for row in rows:
            budget[0] -= 1
            if budget[0] < 0:
                return
            yield row

    rows = counted(sheet.iter_rows(values_only=True, max_col=SHEET_MAX_COLUMNS))
    rows = (row for row in rows if any(row))
    first = next(rows, None)
    if first is None:
        return
    labels = all(isinstance(value, str) for value in first if value is not None)
    _read_rows(_cells(first), (_cells(row) for row in rows), builder, header=labels)


def _read_rows(first: list[str], rows, builder: Builder, *, header: bool) -> None:
    """A sheet's rows (lists of cell texts) into `builder`, as "label: value" pairs under a header row."""
    labels = first if header else None
    lines = [] if labels else [_joined(first)]
    read = 0
    for cells in rows:
        lines.append(_labelled(labels, cells) if labels else _joined(cells))
        read += 1
        if len(lines) >= SHEET_ROWS_PER_BLOCK:
            builder.add("\n".join(lines))
            builder.flush()  # raises once the document passes its limit, before the rest is read
            lines = []
    if labels and not read:
        lines = [_joined(labels)]  # a sheet of one row: its labels are its text
    builder.add("\n".join(lines))


# --- CSV ----------------------------------------------------------------------------------------------------------

_NUMBER = re.compile(r"^[-+]?[\d.,\s%$€£]+$")
_SPACE_RUNS = re.compile(r"\s+")


def parse_csv(text: str, builder: Builder, *, tab: bool) -> bool:
    """A .csv or .tsv file read as a sheet (one section, its rows as "label: value" pairs under a header of labels);
    False, with nothing added, when it does not read as one (one column; a field past csv's size limit, or a lone
    carriage return in an unquoted field, both refused by csv), so the caller reads it as text."""
    delimiter = "\t" if tab else _delimiter(text)
    # Empty rows are dropped as they are read, and the reading stops once the cells hold more text than the document
    # may: holding every row first took 35 s and 1.5 GB for 20 MB of line breaks, 810 MB for a line of 6.6 million
    # cells. A cell's spaces are collapsed without copying one that has none to collapse.
    rows, length = [], 0
    try:
        for row in csv.reader(io.StringIO(text), delimiter=delimiter):
            cells = [_SPACE_RUNS.sub(" ", cell).strip() for cell in row] if row else row  # [] for a blank line
            if any(cells):
                rows.append(cells)
                length += sum(map(len, cells))
                if length > builder.max_chars:
                    raise builder.too_long()
    except csv.Error:
        return False
    if not rows or max(len(row) for row in rows) < 2:
        return False  # one column: a list of lines, read as text
    first = rows[0]
    labels = all(cell and not _NUMBER.match(cell) for cell in first) and len(set(first)) == len(first)
    _read_rows(first, iter(rows[1:]), builder, header=labels and len(rows) > 1)
    return True


def _delimiter(text: str) -> str:
    """The separator found the same number of times (and at least once) on most of the first lines; "," if none.
    Not csv.Sniffer: its patterns are quadratic on a sample of many quotes (seconds on 24 KB)."""
    lines = [line for line in text[:65536].splitlines()[:20] if line.strip()]
    best, best_score = ",", 0
    for candidate in ",;\t|":
        counts = [line.count(candidate) for line in lines]
        common = max(set(counts), key=counts.count) if counts else 0
        score = counts.count(common) if common else 0
        if score > best_score:
            best, best_score = candidate, score
    return best


def _cells(row: tuple) -> list[str]:
    cells = [_cell_text(value) for value in row]
    while cells and not cells[-1]:
        cells.pop()
    return cells


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="minutes") if value.time() != time() else value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return " ".join(str(value).split())


def _joined(cells: list[str]) -> str:
    return " | ".join(cell for cell in cells if cell)


def _labelled(header: list[str], cells: list[str]) -> str:
    pairs = itertools.zip_longest(header, cells, fillvalue="")
    return "; ".join(f"{label}: {cell}" if label else cell for label, cell in pairs if cell)
