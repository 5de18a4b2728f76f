"""Hostile zip packages (Word, PowerPoint, Excel, OpenDocument, EPUB) and CSV files: each is read as sensible text
or refused with a reason the upload shows, in bounded time and memory, never an unexpected error.

Every file is built here. The timings asserted are loose (a slow machine must pass) but far below what each file
took before its fix, which the comments give.
"""

from __future__ import annotations

import io
import os
import struct
import time
import tracemalloc
import zipfile
import zlib

import pytest

from documents.parsing import ParseError, parse_document


def docx_bytes(text: str = "Prune apple trees in winter.") -> bytes:
    import docx

    document = docx.Document()
    document.add_paragraph(text)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def package(files: dict[str, bytes | str], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, content in files.items():
            archive.writestr(name, content, compress_type=zipfile.ZIP_STORED if name == "mimetype" else None)
    return buffer.getvalue()


def replaced(data: bytes, name: str, content: bytes | str) -> bytes:
    return package({**members(data), name: content})


def refusal(data: bytes, filename: str, *, seconds: float = 2.0) -> str:
    """The reason `data` is refused, checked to come within `seconds`."""
    start = time.perf_counter()
    with pytest.raises(ParseError) as error:
        parse_document(data, filename)
    assert time.perf_counter() - start < seconds
    return error.value.user_message


# --- Zip members that lie about their size, encrypted or oddly compressed ------------------------------------------


def declared_smaller(data: bytes, name: str, size: int) -> bytes:
    """`data` with member `name` declaring `size` bytes (and the CRC of its first `size`), in its local header and in
    the central directory, though its compressed data inflates to far more."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(name)
        crc = zlib.crc32(archive.read(name)[:size])
    patched = bytearray(data)
    struct.pack_into("<I", patched, info.header_offset + 14, crc)
    struct.pack_into("<I", patched, info.header_offset + 22, size)
    position = data.find(b"PK\x01\x02")
    while position >= 0:  # the member's entry in the central directory
        (name_length,) = struct.unpack_from("<H", data, position + 28)
        if data[position + 46 : position + 46 + name_length] == name.encode():
            struct.pack_into("<I", patched, position + 16, crc)
            struct.pack_into("<I", patched, position + 24, size)
        position = data.find(b"PK\x01\x02", position + 4)
    return bytes(patched)


def test_a_member_that_inflates_past_the_size_it_declares_is_refused_before_a_reader_inflates_it():
    # zipfile cuts a member to its declared size only after inflating all of its data in one call: python-docx's
    # read of this 64 KB file took 64 MB (a 20 MB upload could take gigabytes), then failed as "damaged".
    bomb = replaced(docx_bytes(), "word/document.xml", b"<w:document/>" + b" " * (64 * 1024 * 1024))
    bomb = declared_smaller(bomb, "word/document.xml", 100)
    assert len(bomb) < 200_000
    tracemalloc.start()
    try:
        message = refusal(bomb, "report.docx")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "zip bomb" in message
    assert peak < 16 * 1024 * 1024


@pytest.mark.parametrize("name", ["report.docx", "deck.pptx", "book.xlsx", "notes.odt", "novel.epub"])
def test_an_encrypted_zip_package_is_refused_as_password_protected(name):
    from tests.test_parsing_epub import chapter, epub
    from tests.test_parsing_odt import odt as odt_bytes
    from tests.test_parsing_slides_sheets import deck_bytes, workbook_bytes

    builders = {"docx": docx_bytes, "pptx": deck_bytes, "xlsx": workbook_bytes, "odt": odt_bytes}
    builders["epub"] = lambda: epub({"one.xhtml": chapter("One", "<p>Call me Ishmael.</p>")})
    data = bytearray(builders[name.rsplit(".", 1)[1]]())
    for signature, flags in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # the "encrypted" bit of every member
        position = data.find(signature)
        while position >= 0:
            data[position + flags] |= 1
            position = data.find(signature, position + 4)
    assert "password-protected" in refusal(bytes(data), name)  # was "could not be read; it may be damaged"


def test_an_odt_libreoffice_encrypted_with_a_password_is_refused_as_password_protected():
    """LibreOffice leaves the zip unencrypted and encrypts each part, naming how in its manifest: content.xml is
    ciphertext, which read as "damaged"."""
    from tests.test_parsing_odt import odt as odt_bytes

    manifest = (
        '<?xml version="1.0"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml">'
        '<manifest:encryption-data manifest:checksum-type="SHA1/1K" manifest:checksum="x"/>'
        "</manifest:file-entry></manifest:manifest>"
    )
    data = package({**members(odt_bytes()), "content.xml": os.urandom(2000), "META-INF/manifest.xml": manifest})
    assert "password-protected" in refusal(data, "secret.odt")
    data = package({**members(odt_bytes()), "content.xml": os.urandom(2000)})  # no manifest says so: damaged
    assert "damaged" in refusal(data, "broken.odt")


def test_a_package_compressed_with_bzip2_is_refused_rather_than_inflated_without_bound():
    # zipfile inflates bzip2 and LZMA members in one call whatever their size (bzip2 packs 100 MB of one byte into
    # 113 bytes); no Office, OpenDocument or EPUB writer uses them.
    data = package(members(docx_bytes()), compression=zipfile.ZIP_BZIP2)
    assert "compressed in a way documents never are" in refusal(data, "report.docx")


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # truncated: no central directory
        lambda data: data[:-10],
        lambda data: data.replace(b"word/document.xml", b"word/elsewhere.xml"),  # the body part missing
        lambda data: bytes(byte ^ 0x55 if 2000 < index < 2040 else byte for index, byte in enumerate(data)),
    ],
)
def test_a_damaged_package_is_refused_with_a_reason(damage):
    message = refusal(damage(docx_bytes()), "report.docx")
    assert "damaged" in message or "not supported" in message


# --- Excel: openpyxl reads sheets with expat, which expands entities and rescans long tags ----------------------

SHEET = (
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
    '<row r="1"><c r="A1" t="inlineStr"><is><t>{cell}</t></is></c><c r="B1" t="inlineStr"><is><t>Bramley</t></is>'
    "</c></row></sheetData>{after}</worksheet>"
)


def workbook(cell: str = "Variety", *, doctype: str = "", after: str = "") -> bytes:
    from tests.test_parsing_slides_sheets import workbook_bytes

    sheet = '<?xml version="1.0" encoding="UTF-8"?>' + doctype + SHEET.format(cell=cell, after=after)
    return replaced(workbook_bytes(), "xl/worksheets/sheet1.xml", sheet)


def test_a_plain_hostile_free_workbook_still_reads():
    assert parse_document(workbook(), "trees.xlsx").sections[0].text.startswith("Variety | Bramley")


@pytest.mark.parametrize(
    ("doctype", "cell"),
    [
        ('<!DOCTYPE r [<!ENTITY e "expanded from the DTD">]>', "&e;"),  # was read: expat expands internal entities
        ('<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>', "&x;"),
        ('<!DOCTYPE r SYSTEM "file:///etc/passwd">', "Variety"),
        ('<!DOCTYPE r [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>', "Variety"),
        (
            '<!DOCTYPE r [<!ENTITY a "lol">'
            + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9))
            + "]>",
            "&j;",
        ),
    ],
)
def test_a_workbook_whose_xml_declares_entities_is_refused_and_leaks_nothing(doctype, cell):
    message = refusal(workbook(cell, doctype=doctype), "trees.xlsx")
    assert "not what Excel writes" in message and "root:" not in message


def test_an_entity_expanded_a_hundred_times_in_a_sheet_is_refused_before_openpyxl_expands_it():
    # expat's billion-laughs guard lets an expansion of up to 100 times the document through: this 600 KB workbook
    # gave openpyxl one cell of 100 MB, 7 s and 480 MB before the document's length limit refused it.
    entity = os.urandom(512 * 1024).hex()
    data = workbook("&q;" * 99, doctype=f'<!DOCTYPE r [<!ENTITY q "{entity}">]>')
    assert "not what Excel writes" in refusal(data, "trees.xlsx")


def test_a_sheet_with_a_tag_of_megabytes_is_refused_before_expat_rescans_it():
    # expat 2.5 scans a tag from its start again at every 16 KB that iterparse feeds it: an 8 MB attribute (a
    # 1.2 MB file) took 8 s, 30 MB over a minute.
    value = os.urandom(4 * 1024 * 1024).hex()
    data = workbook(after=f'<dimension ref="A1:{value}"/>')
    assert "not what Excel writes" in refusal(data, "trees.xlsx")


def test_a_workbook_of_too_many_merged_ranges_is_refused_before_openpyxl_makes_an_object_of_each(monkeypatch):
    # Even reading values only, openpyxl makes an object of every merged range: 200,000 of them (a 950 KB file)
    # took 3 to 5 s and 130 MB, a 320 KB file of a million 3.3 s and 470 MB. Counted with a lower limit here.
    from documents.parsing import slides_sheets

    monkeypatch.setattr(slides_sheets, "WORKBOOK_MAX_OTHER_ELEMENTS", 1000)
    merges = "".join(f'<mergeCell ref="C{row}:D{row}"/>' for row in range(1, 2001))
    message = refusal(workbook(after=f"<mergeCells>{merges}</mergeCells>"), "trees.xlsx")
    assert "too many merged cells" in message
    merges = "".join(f'<mergeCell ref="C{row}:D{row}"/>' for row in range(1, 501))
    assert "Bramley" in parse_document(workbook(after=f"<mergeCells>{merges}</mergeCells>"), "trees.xlsx").text


def test_a_sheet_in_utf16_is_still_read():
    data = workbook()
    sheet = members(data)["xl/worksheets/sheet1.xml"].decode().replace('encoding="UTF-8"', 'encoding="UTF-16"')
    data = replaced(data, "xl/worksheets/sheet1.xml", sheet.encode("utf-16"))
    assert "Variety | Bramley" in parse_document(data, "trees.xlsx").text


# --- Word: tables and paragraphs python-docx reads slowly --------------------------------------------------------


def docx_with_body(body: str) -> bytes:
    """A Word document whose body is `body` (WordprocessingML, the `w:` prefix), its section properties kept."""
    data = docx_bytes()
    document = members(data)["word/document.xml"].decode()
    start = document.index("<w:body>") + len("<w:body>")
    return replaced(data, "word/document.xml", document[:start] + body + document[document.index("<w:sectPr") :])


def cell(text: str, properties: str = "") -> str:
    return f"<w:tc><w:tcPr>{properties}</w:tcPr><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:tc>"


def test_a_table_merged_down_hundreds_of_rows_is_read_in_linear_time():
    # python-docx's row.cells looks a merged-down cell up from the row above again, row by row, for each row: 200
    # rows of five such columns (36 KB) took 14 s, 1,000 rows over a minute.
    grid = "<w:tblGrid>" + '<w:gridCol w:w="100"/>' * 6 + "</w:tblGrid>"
    rows = [
        "<w:tr>"
        + cell("Fruit" if row == 0 else "", '<w:vMerge w:val="restart"/>' if row == 0 else "<w:vMerge/>") * 5
        + cell(f"variety {row}")
        + "</w:tr>"
        for row in range(200)
    ]
    start = time.perf_counter()
    parsed = parse_document(docx_with_body(f"<w:tbl>{grid}{''.join(rows)}</w:tbl><w:p/>"), "fruit.docx")
    assert time.perf_counter() - start < 2
    lines = parsed.text.splitlines()
    assert lines[0] == lines[199].replace("199", "0") == "Fruit | Fruit | Fruit | Fruit | Fruit | variety 0"


def test_a_cell_spanning_millions_of_columns_is_read_once():
    # python-docx's row.cells yields a cell once per grid column it spans: ten rows spanning ten million took 18 s.
    grid = "<w:tblGrid>" + '<w:gridCol w:w="100"/>' * 2 + "</w:tblGrid>"
    span = '<w:gridSpan w:val="10000000"/>'
    rows = "".join(f"<w:tr>{cell(f'row {row}', span)}</w:tr>" for row in range(3))
    start = time.perf_counter()
    parsed = parse_document(docx_with_body(f"<w:tbl>{grid}{rows}</w:tbl><w:p/>"), "wide.docx")
    assert time.perf_counter() - start < 2
    assert parsed.text == "row 0\nrow 1\nrow 2"


def test_thousands_of_paragraphs_without_a_style_are_read_without_looking_through_every_style_each_time():
    # python-docx looks through all of a document's styles for a paragraph that names none (the default template's
    # 160: 2 ms each): 10,000 empty paragraphs, a 60 KB file, took 9 s.
    heading = '<w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Pruning</w:t></w:r></w:p>'
    body = heading + "<w:p/>" * 5000 + "<w:p><w:r><w:t>In winter.</w:t></w:r></w:p>"
    start = time.perf_counter()
    parsed = parse_document(docx_with_body(body), "pruning.docx")
    assert time.perf_counter() - start < 2
    assert [(section.chapter, section.text) for section in parsed.sections] == [("Pruning", "In winter.")]


# --- OpenDocument text -------------------------------------------------------------------------------------------


def odt(body: str) -> bytes:
    from tests.test_parsing_odt import odt as odt_bytes

    return odt_bytes(body, meta=None)


def test_an_odt_table_nested_in_a_cell_is_read_once_as_part_of_that_cell():
    inner = (
        "<table:table><table:table-row><table:table-cell><text:p>inner a</text:p></table:table-cell>"
        "<table:table-cell><text:p>inner b</text:p></table:table-cell></table:table-row></table:table>"
    )
    body = (
        "<table:table><table:table-header-rows><table:table-row><table:table-cell><text:p>Tree</text:p>"
        "</table:table-cell><table:table-cell><text:p>Notes</text:p></table:table-cell></table:table-row>"
        "</table:table-header-rows><table:table-row><table:table-cell><text:p>Bramley</text:p><text:p>cooking</text:p>"
        f"</table:table-cell><table:table-cell>{inner}</table:table-cell></table:table-row></table:table>"
    )
    # Was "Tree | Notes\nBramleycooking | inner ainner b\ninner a | inner b": the nested rows a second time.
    assert parse_document(odt(body), "trees.odt").text == "Tree | Notes\nBramley cooking | inner a | inner b"


def test_text_in_an_odt_table_nested_eighty_deep_is_read_in_linear_time():
    # Each table read all the rows below it, nested ones included: text 80 tables deep was read again and again (2 MB
    # of it, a 290 KB file: 6.7 s).
    digits = os.urandom(512 * 1024).hex()
    words = " ".join(digits[index : index + 2] for index in range(0, len(digits), 2))
    opening = "<table:table><table:table-row><table:table-cell>"
    closing = "</table:table-cell></table:table-row></table:table>"
    start = time.perf_counter()
    parsed = parse_document(odt(opening * 80 + f"<text:p>{words}</text:p>" + closing * 80), "deep.odt")
    assert time.perf_counter() - start < 2
    assert len(parsed.text) == len(words)


def test_comments_and_unresolved_entities_in_an_odt_are_no_text():
    body = "<text:p>Prune<!-- a reviewer's note --> in &e; winter.</text:p>"
    content = members(odt(body))["content.xml"].replace(b"?>", b'?><!DOCTYPE d [<!ENTITY e "x">]>', 1)
    data = replaced(odt(body), "content.xml", content)
    assert parse_document(data, "notes.odt").text == "Prune in winter."  # was "Prune a reviewer's note in &e; winter."


# --- CSV ---------------------------------------------------------------------------------------------------------


def test_a_csv_file_of_line_breaks_is_not_held_as_millions_of_empty_rows():
    # Every row was held before the empty ones were dropped: 20 MB of line breaks took 35 s and 1.5 GB; these 2 MB
    # 134 MB (11 MB now, mostly the text's own copies).
    tracemalloc.start()
    try:
        parsed = parse_document(b"Tree,Note\n" + b"\n" * 2_000_000, "trees.csv")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert parsed.text == "Tree | Note"
    assert peak < 64 * 1024 * 1024


def test_a_csv_file_stops_being_read_once_its_cells_pass_the_documents_limit():
    # The whole table was read into memory before the document's limit was checked: a line of 6.6 million cells
    # took 7.8 s and 810 MB, these 3.4 MB 42 MB (16 MB now, mostly the text's own copies).
    data = b"".join(b"Tree %d,Yield %d,Note %d\n" % (row, row, row) for row in range(100_000))
    tracemalloc.start()
    try:
        with pytest.raises(ParseError) as error:
            parse_document(data, "trees.csv", max_chars=1000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "too much to process" in error.value.user_message
    assert peak < 32 * 1024 * 1024


@pytest.mark.parametrize(
    "content",
    [
        '"' * 100_000,  # only quotes: one unclosed field
        "a,b\n" + "\x00,\x00\n" * 100,  # NULs (cleaned, as text)
        "a,b\r1,2\r3,4\r",  # lone carriage returns
        ",;\t|" * 50_000,  # every separator at once
        "x" * 2_000_000,  # one 2 MB line past csv's field limit
    ],
)
def test_odd_csv_files_are_read_as_text_or_refused_with_a_reason(content):
    start = time.perf_counter()
    try:
        parsed = parse_document(content.encode(), "odd.csv")
    except ParseError as error:
        assert error.user_message
    else:
        assert parsed.kind == "csv" and "\x00" not in parsed.text
    assert time.perf_counter() - start < 2


# --- EPUB --------------------------------------------------------------------------------------------------------

CONTAINER_TO = (
    '<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
    '<rootfiles><rootfile full-path="{path}" media-type="application/oebps-package+xml"/></rootfiles></container>'
)


def test_an_epub_chapter_in_utf16_is_read_as_text_not_as_its_markup():
    from tests.test_parsing_epub import BOOK, chapter, epub

    page = chapter("Pruning", "<p>Prune apple trees while they are dormant.</p>").replace("utf-8", "UTF-16")
    book = {**BOOK, "OEBPS/text/chapter1.xhtml": page.encode("utf-16")}
    text = parse_document(epub(book), "orchard.epub").text
    assert "Prune apple trees while they are dormant." in text and "<?xml" not in text  # was the markup


@pytest.mark.parametrize(
    "files",
    [
        {"OEBPS/one.xhtml": "<html><body><p>x</p></body></html>"},  # no container.xml
        {"META-INF/container.xml": "<container/>"},  # a container naming no package file
        {"META-INF/container.xml": CONTAINER_TO.format(path="../../../../etc/passwd")},
        {"META-INF/container.xml": CONTAINER_TO.format(path="/etc/passwd")},
    ],
)
def test_an_epub_without_a_readable_package_file_is_refused_and_reads_nothing_outside_it(files):
    from tests.test_parsing_epub import epub

    message = refusal(epub(files), "book.epub")
    assert "no readable table of its chapters" in message


def test_a_password_protected_office_document_is_told_so_not_to_save_it_as_docx():
    # Office encrypts a .docx, .pptx or .xlsx into a compound file (the old .doc container) holding a stream named
    # EncryptedPackage; it was refused as an old .doc to "save as .docx first".
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504
    directory = "EncryptionInfo".encode("utf-16-le").ljust(64, b"\0") + "EncryptedPackage".encode("utf-16-le")
    for name in ("report.docx", "deck.pptx", "book.xlsx"):
        assert "password-protected" in refusal(header + directory.ljust(4096, b"\0"), name)
    assert "Old Word .doc" in refusal(header + b"\0" * 4096, "old.doc")
