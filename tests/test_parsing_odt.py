"""OpenDocument text (LibreOffice's .odt): headings by outline level, lists and tables, the title from meta.xml."""

from __future__ import annotations

import io
import zipfile

import pytest

from documents.parsing import ParseError, parse_document

NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0"'
)
BODY = """
<text:h text:outline-level="1">Pruning</text:h>
<text:p>Prune <text:span>apple trees</text:span> while<text:s text:c="3"/>dormant.<text:line-break/>Not in frost.
</text:p>
<text:h text:outline-level="2">Tools</text:h>
<text:list><text:list-item><text:p>Secateurs</text:p></text:list-item>
  <text:list-item><text:p>A saw<text:note><text:note-citation>1</text:note-citation>
    <text:note-body><text:p>A pruning saw.</text:p></text:note-body></text:note></text:p></text:list-item></text:list>
<table:table><table:table-row><table:table-cell><text:p>Tree</text:p></table:table-cell>
  <table:table-cell><text:p>Month</text:p></table:table-cell></table:table-row>
  <table:table-row><table:table-cell><text:p>Bramley</text:p></table:table-cell>
  <table:table-cell><text:p>February</text:p></table:table-cell></table:table-row></table:table>
"""


def odt(
    body: str = BODY,
    *,
    meta: str | None = "Orchard notes",
    mimetype: bytes = b"application/vnd.oasis.opendocument.text",
    automatic_styles: str = "",
) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("mimetype", mimetype, compress_type=zipfile.ZIP_STORED)
        archive.writestr(
            "content.xml",
            f'<?xml version="1.0"?><office:document-content {NS}>'
            f"<office:automatic-styles>{automatic_styles}</office:automatic-styles><office:body><office:text>{body}"
            "</office:text></office:body></office:document-content>",
        )
        if meta is not None:
            archive.writestr(
                "meta.xml",
                '<?xml version="1.0"?><office:document-meta xmlns:office="urn:oasis:names:tc:opendocument:xmlns:'
                'office:1.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><office:meta>'
                f"<dc:title>{meta}</dc:title></office:meta></office:document-meta>",
            )
    return buffer.getvalue()


def test_an_odt_is_read_with_its_headings_lists_tables_and_title():
    parsed = parse_document(odt(), "notes.odt")
    assert parsed.kind == "odt" and parsed.title == "Orchard notes"
    assert [(s.chapter, s.section, s.text) for s in parsed.sections] == [
        ("Pruning", "", "Prune apple trees while dormant.\nNot in frost."),
        ("Pruning", "Tools", "Secateurs\n\nA saw A pruning saw.\n\nTree | Month\nBramley | February"),
    ]


def test_an_odt_without_metadata_takes_its_first_heading_as_its_title():
    assert parse_document(odt(meta=None), "notes").title == "Pruning"


def test_an_odt_title_paragraph_is_its_title_not_its_text():
    """A walk with Writer2LaTeX's sample article: its "Sample article" paragraph, styled Title, was body text and
    the document was named after its file. As in a Word document it is the title, before meta.xml's (often a
    template's); a paragraph whose automatic style is a Title's counts, and a second Title starts a chapter."""
    body = (
        '<text:p text:style-name="P1">Orchard year</text:p><text:p>By the gardener.</text:p>'
        '<text:h text:outline-level="1">Pruning</text:h><text:p>In winter.</text:p>'
        '<text:p text:style-name="Title">Appendix</text:p><text:p>Tools.</text:p>'
    )
    styles = '<style:style style:name="P1" style:family="paragraph" style:parent-style-name="Title"/>'
    parsed = parse_document(odt(body=body, meta="Default template", automatic_styles=styles), "notes.odt")
    assert parsed.title == "Orchard year"
    assert [(s.chapter, s.text) for s in parsed.sections] == [
        ("", "By the gardener."),
        ("Pruning", "In winter."),
        ("Appendix", "Tools."),
    ]


def test_a_first_heading_any_document_has_is_not_its_title():
    """A walk with Writer2LaTeX's manual: no title in its metadata nor a Title paragraph, its first chapter
    "Introduction" named it, and every passage's heading path began "Introduction ›". The file name says more."""
    body = '<text:h text:outline-level="1">Introduction</text:h><text:p>Why.</text:p>'
    assert parse_document(odt(body=body, meta=None), "user-manual.odt").title == ""


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (odt(body="<text:p>unclosed"), "could not be read"),
        (odt(body="<text:p>  </text:p>"), "No text could be extracted"),
        (
            odt(
                body="<text:list>" * 2000
                + "<text:list-item><text:p>deep</text:p></text:list-item>"
                + "</text:list>" * 2000
            ),
            "",
        ),
    ],
)
def test_a_damaged_empty_or_deeply_nested_odt_is_refused_or_read_without_failing(data, message):
    try:
        parsed = parse_document(data, "notes.odt")
    except ParseError as error:
        assert (
            message and message in error.value.user_message
            if hasattr(error, "value")
            else message in error.user_message
        )
        return
    assert not message and "deep" in parsed.text
