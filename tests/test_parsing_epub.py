"""EPUB: the chapters in reading order, each read as HTML, under the book's title; damaged and hostile books refused."""

from __future__ import annotations

import io
import zipfile

import pytest

from documents.parsing import ParseError, parse_document

CONTAINER = """<?xml version="1.0"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles>
</container>"""

PACKAGE = """<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>The Orchard Handbook</dc:title></metadata>
  <manifest>
    <item id="cover" href="cover.xhtml" media-type="application/xhtml+xml"/>
    <item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>
    <item id="two" href="text/chapter%202.xhtml" media-type="application/xhtml+xml"/>
    <item id="one" href="text/chapter1.xhtml" media-type="application/xhtml+xml"/>
    <item id="gone" href="text/missing.xhtml" media-type="application/xhtml+xml"/>
    <item id="three" href="text/plain.xhtml" media-type="application/xhtml+xml"/>
    <item id="css" href="style.css" media-type="text/css"/>
  </manifest>
  <spine><itemref idref="cover"/><itemref idref="nav"/><itemref idref="one"/><itemref idref="gone"/>
    <itemref idref="css"/><itemref idref="two"/><itemref idref="three"/></spine>
</package>"""


def chapter(title: str, body: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml"><head>'
        f"<title>{title}</title></head><body><h1>{title}</h1>{body}</body></html>"
    )


def epub(files: dict[str, str | bytes], *, mimetype: bool = True) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if mimetype:
            archive.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


BOOK = {
    "META-INF/container.xml": CONTAINER,
    "OEBPS/content.opf": PACKAGE,
    "OEBPS/cover.xhtml": '<html><body><img src="cover.jpg" alt=""/></body></html>',
    "OEBPS/nav.xhtml": '<html><body><nav><ol><li><a href="text/chapter1.xhtml">Pruning</a></li>'
    '<li><a href="text/chapter%202.xhtml">Grafting</a></li></ol></nav></body></html>',
    "OEBPS/text/chapter1.xhtml": chapter(
        "Pruning", "<h2>In winter</h2><p>Prune apple trees while they are dormant.</p>"
    ),
    "OEBPS/text/chapter 2.xhtml": chapter("Grafting", "<p>Graft in early spring, when the sap rises.</p>"),
    "OEBPS/style.css": "p { margin: 0 }",
    "OEBPS/text/plain.xhtml": "<html><body><p>An afterword without a heading.</p></body></html>",
}


def test_an_epub_is_read_chapter_by_chapter_in_reading_order_under_the_books_title():
    for name in ("orchard.epub", "orchard.zip", "orchard"):  # told by its content, whatever its name
        parsed = parse_document(epub(BOOK), name)
        assert parsed.kind == "epub" and parsed.mime_type == "application/epub+zip"
        assert parsed.title == "The Orchard Handbook"
        assert [(s.chapter, s.section, s.text) for s in parsed.sections] == [
            ("Pruning", "In winter", "Prune apple trees while they are dormant."),
            ("Grafting", "", "Graft in early spring, when the sap rises."),
            ("", "", "An afterword without a heading."),  # not labelled "Grafting"
        ]  # the cover's picture and the contents' links are no passages; the missing chapter is skipped


def test_an_epub_without_its_mimetype_member_is_still_one_by_its_container():
    assert parse_document(epub(BOOK, mimetype=False), "book.epub").kind == "epub"


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"META-INF/container.xml": "<container><broken", "OEBPS/content.opf": PACKAGE}, "no readable table"),
        ({"META-INF/container.xml": CONTAINER}, "no readable table"),  # the package file it names is missing
        ({"META-INF/container.xml": CONTAINER, "OEBPS/content.opf": PACKAGE}, "No text could be extracted"),
        (
            {
                "META-INF/container.xml": CONTAINER,
                # An entity-expansion bomb in the package file: not expanded (lxml, resolve_entities=False).
                "OEBPS/content.opf": '<?xml version="1.0"?><!DOCTYPE p [<!ENTITY a "aaaaaaaaaa">'
                + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8))
                + "]><package><metadata><title>&i;</title></metadata></package>",
            },
            "",
        ),
    ],
)
def test_a_damaged_or_hostile_epub_is_refused_with_a_reason(files, message):
    with pytest.raises(ParseError) as error:
        parse_document(epub(files), "book.epub")
    assert message in error.value.user_message


def test_a_zip_that_is_neither_a_word_document_nor_an_ebook_says_what_it_takes():
    with pytest.raises(ParseError) as error:
        parse_document(epub({"notes.txt": "hello"}, mimetype=False), "notes.zip")
    assert "nor an e-book" in error.value.user_message and ".epub" in error.value.user_message


def test_an_epub_whose_chapters_inflate_past_the_pages_limit_is_refused_before_they_are_read(monkeypatch):
    from documents.parsing import epub as epub_module

    monkeypatch.setattr(epub_module, "EPUB_MAX_PAGE_BYTES", 300)
    with pytest.raises(ParseError) as error:
        parse_document(epub(BOOK), "book.epub")
    assert "too much to process" in error.value.user_message
