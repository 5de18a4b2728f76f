"""PowerPoint (.pptx), Excel (.xlsx) and CSV: a slide or a sheet is a section of its own, under its title or name.

Both are zip packages like .docx and get its zip-bomb checks before a library inflates anything; python-pptx and
openpyxl parse their XML without resolving entities.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from datetime import date, datetime, time

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


def parse_csv(text: str, builder: Builder, *, tab: bool) -> bool:
    """A .csv or .tsv file read as a sheet (one section, its rows as "label: value" pairs under a header of labels);
    False, with nothing added, when it does not read as one (one column; a field past csv's size limit, or a lone
    carriage return in an unquoted field, both refused by csv), so the caller reads it as text."""
    delimiter = "\t" if tab else _delimiter(text)
    try:
        rows = [[" ".join(cell.split()) for cell in row] for row in csv.reader(io.StringIO(text), delimiter=delimiter)]
    except csv.Error:
        return False
    rows = [row for row in rows if any(row)]
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
