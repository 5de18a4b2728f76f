"""PowerPoint and Excel: a slide or a sheet is a section under its title or name; a spreadsheet's rows say what
their numbers are; damaged, hostile and huge files are refused with a reason."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import pytest
from openpyxl import Workbook
from pptx import Presentation
from pptx.util import Inches

from documents.parsing import ParseError, parse_document


def deck_bytes() -> bytes:
    deck = Presentation()
    deck.core_properties.title = "Orchard review 2026"
    first = deck.slides.add_slide(deck.slide_layouts[1])  # title and content
    first.shapes.title.text = "Harvest"
    first.placeholders[1].text = "Apples: 12 tonnes\nPears: 3 tonnes"
    first.notes_slide.notes_text_frame.text = "Mention the late frost."
    second = deck.slides.add_slide(deck.slide_layouts[6])  # blank: no title
    box = second.shapes.add_textbox(Inches(1), Inches(1), Inches(4), Inches(1))
    box.text_frame.text = "Thank you"
    table = second.shapes.add_table(2, 2, Inches(1), Inches(3), Inches(4), Inches(1)).table
    for (row, column), text in {(0, 0): "Tree", (0, 1): "Yield", (1, 0): "Bramley", (1, 1): "40 kg"}.items():
        table.cell(row, column).text = text
    buffer = io.BytesIO()
    deck.save(buffer)
    return buffer.getvalue()


def workbook_bytes() -> bytes:
    workbook = Workbook()
    trees = workbook.active
    trees.title = "Trees"
    trees.append(["Variety", "Planted", "Yield (kg)", "Note"])
    trees.append(["Bramley", dt.date(2019, 3, 1), 40.0, None])
    trees.append(["Cox", dt.datetime(2020, 4, 2, 9, 30), 25.5, "Scab in wet years"])
    trees.append([None, None, None, None])  # an empty row is no line
    trees["C5"] = "=SUM(C2:C3)"  # a formula never computed by Excel: no cached value, no text
    costs = workbook.create_sheet("Costs")
    costs.append([2024, 1200])
    costs.append([2025, 1350])
    workbook.create_sheet("Empty")
    labels = workbook.create_sheet("Labels only")
    labels.append(["Owner", "Phone"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_a_presentation_is_read_slide_by_slide_with_its_notes_and_tables():
    parsed = parse_document(deck_bytes(), "review.pptx")
    assert parsed.kind == "pptx" and parsed.title == "Orchard review 2026"
    assert [(s.chapter, s.text) for s in parsed.sections] == [
        ("Harvest", "Apples: 12 tonnes\nPears: 3 tonnes\n\nSpeaker notes: Mention the late frost."),
        ("Slide 2", "Thank you\n\nTree | Yield\nBramley | 40 kg"),
    ]


def test_a_spreadsheet_is_read_sheet_by_sheet_each_row_with_its_labels():
    parsed = parse_document(workbook_bytes(), "orchard.xlsx")
    assert parsed.kind == "xlsx"
    assert parsed.title == ""  # "Trees", its first sheet's name, is no title: the file name stays
    assert [(s.chapter, s.text) for s in parsed.sections] == [
        (
            "Trees",
            "Variety: Bramley; Planted: 2019-03-01; Yield (kg): 40\n"
            "Variety: Cox; Planted: 2020-04-02 09:30; Yield (kg): 25.5; Note: Scab in wet years",
        ),
        ("Costs", "2024 | 1200\n2025 | 1350"),  # numbers first: no header
        ("Labels only", "Owner | Phone"),
    ]


def test_office_files_are_told_by_their_content_whatever_their_name():
    assert parse_document(deck_bytes(), "slides.zip").kind == "pptx"
    assert parse_document(workbook_bytes(), "data").kind == "xlsx"


def test_a_huge_sheet_stops_at_the_documents_limit_with_a_reason():
    workbook = Workbook()
    for number in range(3000):
        workbook.active.append([f"row {number}", "x" * 50])
    buffer = io.BytesIO()
    workbook.save(buffer)
    with pytest.raises(ParseError) as error:
        parse_document(buffer.getvalue(), "big.xlsx", max_chars=20_000)
    assert "too much to process" in error.value.user_message


@pytest.mark.parametrize("name", ["deck.pptx", "book.xlsx"])
def test_a_damaged_or_bomb_office_file_is_refused_with_a_reason(name):
    member = "ppt/presentation.xml" if name.endswith("pptx") else "xl/workbook.xml"
    damaged = io.BytesIO()
    with zipfile.ZipFile(damaged, "w") as archive:
        archive.writestr(member, "<not xml")
    with pytest.raises(ParseError) as error:
        parse_document(damaged.getvalue(), name)
    assert "could not be read" in error.value.user_message

    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, "<a/>")
        archive.writestr("padding.xml", b"\0" * (110 * 1024 * 1024))
    with pytest.raises(ParseError) as error:
        parse_document(bomb.getvalue(), name)
    assert "zip bomb" in error.value.user_message


@pytest.mark.parametrize(
    ("content", "name", "text"),
    [
        (
            "Variety,Planted,Yield (kg)\nBramley,2019-03-01,40\n\nCox,2020-04-02,25.5\n",
            "trees.csv",
            "Variety: Bramley; Planted: 2019-03-01; Yield (kg): 40\n"
            "Variety: Cox; Planted: 2020-04-02; Yield (kg): 25.5",
        ),
        ('Variety;Note\nBramley;"Cooks well; keeps"\n', "trees.csv", "Variety: Bramley; Note: Cooks well; keeps"),
        ("Year\tCost\n2024\t1,200\n", "costs.tsv", "Year: 2024; Cost: 1,200"),
        ("2024,1200\n2025,1350\n", "costs.csv", "2024 | 1200\n2025 | 1350"),  # numbers first: no header
        ("just one column\nof lines\n", "lines.csv", "just one column\nof lines"),  # no table: its text
        # A NUL is cleaned out before the table is read.
        ("Tree,Note\nBramley,ok\nCox,b\x00ad\n", "odd.csv", "Tree: Bramley; Note: ok\nTree: Cox; Note: bad"),
    ],
)
def test_a_csv_file_is_read_as_a_sheet_or_as_text_when_it_is_none(content, name, text):
    parsed = parse_document(content.encode(), name)
    assert parsed.kind == "csv" and parsed.text == text


def test_a_csv_file_of_many_quotes_is_read_without_csv_sniffer():
    # csv.Sniffer's patterns took seconds on 24 KB of this (quadratic); the separator is counted instead.
    parsed = parse_document((',"x' * 40_000).encode(), "quotes.csv")
    assert parsed.kind == "csv" and parsed.text


def test_a_workbook_of_far_apart_cells_is_read_without_walking_every_empty_row(monkeypatch):
    from documents.parsing import slides_sheets

    monkeypatch.setattr(slides_sheets, "WORKBOOK_MAX_ROWS", 1000)
    workbook = Workbook()
    workbook.active["A1"] = "near"
    workbook.active["A999"] = "within"
    workbook.active["A5000"] = "beyond the rows looked at"
    workbook.create_sheet("Second")["A1"] = "a sheet after the budget is spent"
    buffer = io.BytesIO()
    workbook.save(buffer)
    parsed = parse_document(buffer.getvalue(), "far.xlsx")
    assert "near" in parsed.text and "within" in parsed.text
    assert "beyond" not in parsed.text and "after the budget" not in parsed.text


def test_a_workbook_with_more_shared_strings_than_a_document_may_hold_is_refused_before_they_are_loaded(monkeypatch):
    from documents.parsing import slides_sheets

    monkeypatch.setattr(slides_sheets, "SHARED_STRINGS_MAX_BYTES", 100)
    buffer = io.BytesIO(workbook_bytes())
    with zipfile.ZipFile(buffer, "a") as archive:  # openpyxl writes its strings inline: Excel shares them
        archive.writestr("xl/sharedStrings.xml", "<sst>" + "<si><t>word</t></si>" * 20 + "</sst>")
    with pytest.raises(ParseError) as error:
        parse_document(buffer.getvalue(), "orchard.xlsx")
    assert "too much text" in error.value.user_message
