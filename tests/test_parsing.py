"""documents.parsing on real files built in code: PDFs written by hand, .docx by python-docx, hostile inputs."""

from __future__ import annotations

import io
import zipfile

import pytest

from documents import parsing
from documents.parsing import ParsedDocument, ParseError, Section, parse_document, sniff_type

# --- Fixture builders -----------------------------------------------------------------------------------------


def make_pdf(
    pages: list[list[str | tuple[str, float]]],
    *,
    text_matrix_scale: float = 1.0,
    to_unicode: dict[str, str] | None = None,
) -> bytes:
    """A minimal valid PDF: one Helvetica text line per entry, 12 pt or (text, size), an empty stream for an empty page.

    With text_matrix_scale the font is set at size / scale and the text matrix scales it back up, as LaTeX does
    (1 Tf, then a scaling Tm): the size a reader sees is the same. With to_unicode, the font's ToUnicode map says
    which text each of those (one-byte) characters stands for, as a TeX font's map gives "fi" for its ligature.
    """
    font = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
    if to_unicode:
        font = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /ToUnicode %d 0 R >>" % (4 + 2 * len(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>"
        % (b" ".join(b"%d 0 R" % (4 + 2 * i) for i in range(len(pages))), len(pages)),
        font,
    ]
    for index, lines in enumerate(pages):
        operators = ["BT"]
        y = 760.0
        for line in lines:
            text, size = (line, 12.0) if isinstance(line, str) else line
            y -= size * 1.5
            escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            scale = text_matrix_scale
            operators.append(f"/F1 {size / scale:g} Tf {scale:g} 0 0 {scale:g} 72 {y:.1f} Tm ({escaped}) Tj")
        operators.append("ET")
        stream = "\n".join(operators).encode("latin-1") if lines else b""
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (5 + 2 * index)
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
    if to_unicode:
        pairs = "".join(f"<{ord(code):02X}> <{text.encode('utf-16-be').hex()}>\n" for code, text in to_unicode.items())
        cmap = (
            "/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n1 begincodespacerange\n<00> <FF>\n"
            f"endcodespacerange\n{len(to_unicode)} beginbfchar\n{pairs}endbfchar\nendcmap\nend end\n"
        ).encode("ascii")
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(cmap), cmap))
    return pdf_file(objects)


def pdf_file(objects: list[bytes]) -> bytes:
    """The objects (the first the catalogue) numbered from 1, with their cross-reference table and trailer."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def rewrite_pdf(data: bytes, edit) -> bytes:
    import pypdf

    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(data)))
    edit(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


TWO_PAGES = [["Hello world.", "Second line (with parens)."], ["Page two text."]]


@pytest.fixture(scope="module")
def docx_bytes() -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("Annual Report", 0)  # level 0 is the Title style
    document.add_paragraph("Preface before any chapter.")
    document.add_heading("Chapter One", 1)
    document.add_paragraph("First paragraph of chapter one.")
    document.add_heading("Part A", 2)
    document.add_paragraph("Body of part A.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Name", "Score"
    table.cell(1, 0).text, table.cell(1, 1).text = "Ada", "42"
    document.add_heading("Chapter Two", 1)
    document.add_paragraph("Closing words.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def with_extra_members(docx: bytes, members: dict[str, int], *, compresslevel: int = 1) -> bytes:
    """The real .docx plus members of N zero bytes each, streamed so a 200 MB member costs ~1 MB of memory."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(docx)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info, source.read(info))
        block = bytes(1 << 20)
        for name, size in members.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            info._compresslevel = compresslevel
            with target.open(info, "w", force_zip64=True) as member:
                for offset in range(0, size, len(block)):
                    member.write(block[: min(len(block), size - offset)])
    return out.getvalue()


# --- Sniffing -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "filename", "kind"),
    [
        (make_pdf(TWO_PAGES), "scan.bin", "pdf"),
        (b"<!DOCTYPE html><html><body><p>x</p></body></html>", "page.txt", "html"),
        (b"\n  <!-- generated -->\n<html lang='en'><p>x</p></html>", "noname", "html"),
        (b"<?xml version='1.0'?>\n<!DOCTYPE html>\n<html></html>", "page.xhtml", "html"),
        (b"<div><p>Hello</p></div>", "page.html", "html"),
        (b"<div><p>Hello</p></div>", "notes.txt", "text"),
        (b"Some notes without headings.", "notes.md", "markdown"),
        (b"Intro\n\n## Usage\n\nRun it.", "README", "markdown"),
        (b"#hashtag is not a heading", "notes.txt", "text"),
        (b"Just plain text, it claims to be a PDF.", "report.pdf", "text"),
        (b"\xef\xbb\xbfWith a BOM.", "bom.txt", "text"),
        (b"\x00\x01junk before the header\n" + make_pdf(TWO_PAGES), "x", "pdf"),
        (b"# PDF notes\n\nA PDF file starts with %PDF-1.7 then a binary comment.", "notes.md", "markdown"),
    ],
)
def test_sniff_type_goes_by_content(data, filename, kind):
    assert sniff_type(data, filename) == (kind, parsing.MIME_TYPES[kind])


def test_sniff_type_recognises_docx_whatever_its_name(docx_bytes):
    assert sniff_type(docx_bytes, "upload.txt") == (
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    )


def random_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("notes.txt", "hello")
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10", "photo.txt", "not supported"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01", "photo.txt", "not supported"),
        (b"\x7fELF\x02\x01\x01\x00" + bytes(56), "program.txt", "not supported"),
        (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff", "setup.md", "not supported"),
        (b"caf\xe9 au lait", "latin1.txt", "UTF-8"),
        (b"\x01\x02\x03\x04\x05\x06\x07\x08abc\x0e\x0f\x10\x11\x12", "noise.txt", "not supported"),
        (random_zip(), "archive.docx", "not a Word, PowerPoint, Excel or OpenDocument text document"),
        (b"PK\x03\x04 truncated", "broken.docx", "damaged"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), "old.doc", ".doc"),
        (b"{\\rtf1\\ansi Hello}", "letter.rtf", "RTF"),
        (bytes(range(256)) * 12, "junk.pdf", "not a valid PDF"),  # not "upload a .pdf" to a .pdf
        (bytes(range(256)) * 12, "letter.docx", "not a valid Word .docx document"),
    ],
)
def test_unsupported_content_is_rejected(data, filename, message):
    with pytest.raises(ParseError) as error:
        sniff_type(data, filename)
    assert message in error.value.user_message
    with pytest.raises(ParseError):
        parse_document(data, filename)


def test_unsupported_message_lists_the_formats():
    with pytest.raises(ParseError) as error:
        parse_document(b"\x89PNG\r\n\x1a\n\x00\x00", "image.txt")
    for extension in (".txt", ".md", ".pdf", ".docx", ".html"):
        assert extension in error.value.user_message


# --- Text and the common rules --------------------------------------------------------------------------------


def test_empty_file():
    with pytest.raises(ParseError) as error:
        parse_document(b"", "empty.txt")
    assert error.value.user_message == "The file is empty."


@pytest.mark.parametrize("data", [b"   \n\t\n  \r\n", b"\xef\xbb\xbf  \n", b"<html><body> <p> </p></body></html>"])
def test_no_text_is_an_error(data):
    with pytest.raises(ParseError) as error:
        parse_document(data, "blank.txt")
    assert "No text could be extracted" in error.value.user_message


def test_plain_text_is_one_normalised_section():
    data = "\ufeffTitle line\r\n\r\n\r\n\r\nSome   text\twith \x07bells\u200b and   spaces.   \n\n\n\nEnd.".encode()
    parsed = parse_document(data, "notes.txt")
    assert parsed == ParsedDocument(
        kind="text",
        mime_type="text/plain",
        title="",
        sections=[Section(chapter="", section="", text="Title line\n\nSome text with bells and spaces.\n\nEnd.")],
    )
    assert parsed.text == parsed.sections[0].text


def test_text_keeps_code_indentation():
    parsed = parse_document(b"def f():\n\treturn 1\n        # eight spaces", "code.txt")
    assert parsed.text == "def f():\n    return 1\n        # eight spaces"


def test_utf16_with_bom_is_text():
    parsed = parse_document("\ufeffBonjour, ça va ?".encode("utf-16-le"), "win.txt")
    assert parsed.text == "Bonjour, ça va ?"


def test_too_much_text():
    with pytest.raises(ParseError) as error:
        parse_document(b"word " * 100, "long.txt", max_chars=100)
    assert "too much" in error.value.user_message
    assert parse_document(b"x" * 100, "exact.txt", max_chars=100).text == "x" * 100


def test_max_chars_counts_the_section_separators():
    data = b"# A\n\n" + b"a" * 50 + b"\n\n# B\n\n" + b"b" * 50
    assert len(parse_document(data, "two.md").text) == 102
    with pytest.raises(ParseError):
        parse_document(data, "two.md", max_chars=101)


# --- PDF ------------------------------------------------------------------------------------------------------


def test_pdf_pages_without_headings_are_sections_of_their_page():
    data = make_pdf([*TWO_PAGES, []])  # a trailing blank page is simply skipped
    parsed = parse_document(data, "report.pdf")
    assert parsed.kind == "pdf" and parsed.mime_type == "application/pdf"
    assert parsed.sections == [
        Section(chapter="", section="", text="Hello world.\nSecond line (with parens).", page=1),
        Section(chapter="", section="", text="Page two text.", page=2),
    ]
    assert parsed.text == "Hello world.\nSecond line (with parens).\n\nPage two text."
    assert parsed.title == "", "no title of its own: the file name stands in"


# A report whose only structure is its fonts: a 24 pt title, 16 pt chapters, 14 pt sections, 12 pt body text, a
# running header in 14 pt on every page but the first, and page numbers.
FONT_REPORT = [
    [
        ("Soil Survey of the North Field", 24),
        "Prepared for the farm board.",
        ("1 Introduction", 16),
        "Why we dug.",
        "1",
    ],
    [("Soil Survey", 14), "More on why we dug.", ("2 Methods", 16), "We sampled soil.", "2"],
    [("Soil Survey", 14), "Samples were dried.", ("2.1 Sampling", 14), "Every ten metres.", "Twice a year.", "3"],
    [("Soil Survey", 14), "Dried at 40 degrees.", "4"],
]
FONT_REPORT_SECTIONS = [
    ("Soil Survey of the North Field", "", 1, "Prepared for the farm board."),
    ("1 Introduction", "", 1, "Why we dug."),
    ("1 Introduction", "", 2, "More on why we dug."),
    ("2 Methods", "", 2, "We sampled soil."),
    ("2 Methods", "", 3, "Samples were dried."),
    ("2 Methods", "2.1 Sampling", 3, "Every ten metres.\nTwice a year."),
    ("2 Methods", "2.1 Sampling", 4, "Dried at 40 degrees."),
]


@pytest.mark.parametrize("scale", [1.0, 8.0], ids=["Tf-size", "text-matrix-size"])
def test_pdf_headings_come_from_font_sizes_when_there_is_no_outline(scale):
    """The bug: a PDF lost its headings and was cited as "Page 1". The largest first-page line is the title,
    larger lines start sections, and every section knows its page; a multi-page section continues on the next."""
    parsed = parse_document(make_pdf(FONT_REPORT, text_matrix_scale=scale), "scan-0001.pdf")
    assert parsed.title == "Soil Survey of the North Field"
    assert [(s.chapter, s.section, s.page, s.text) for s in parsed.sections] == FONT_REPORT_SECTIONS
    for furniture in ("Soil Survey\n", "\n2\n", "\n4"):
        assert furniture not in parsed.text + "\n", "running headers and page numbers are not passages"


def test_pdf_font_sizes_that_do_not_mark_headings_are_ignored():
    # Half the lines in a larger font: that is emphasis or a layout, not a hierarchy of headings.
    pages = [[(f"Big line {n}", 18) if n % 2 else f"Small line {n}" for n in range(12)]]
    parsed = parse_document(make_pdf(pages), "poster.pdf")
    assert [(s.chapter, s.section, s.page) for s in parsed.sections] == [("", "", 1)]
    assert "Big line 1\nSmall line 2" in parsed.text


def test_a_long_paragraph_in_a_larger_font_is_not_a_heading():
    sentence = "This whole paragraph is set in a larger font for emphasis but it is far too long to be a heading. " * 2
    parsed = parse_document(make_pdf([["Body text.", (sentence.strip(), 16), "More body."]]), "x.pdf")
    assert [(s.chapter, s.section) for s in parsed.sections] == [("", "")]


def test_a_heading_wrapped_over_many_lines_is_joined_in_linear_time():
    from documents.parsing.pdf import _FontHeadings, _PdfLine

    # Grown a line at a time, a "heading" of 50,000 lines (a hostile page's large font) took over a minute.
    heading = [_PdfLine("Wrapped", 24.0), *(_PdfLine(f"Heading line {n} " + "word " * 25, 24) for n in range(50_000))]
    pages = [(0, [*heading, *[_PdfLine("body " * 40, 12.0)] * 50_000])]
    [(_, items)] = list(_FontHeadings(pages).items(pages))
    assert items[0].text.startswith("Wrapped Heading line 0 word") and items[1] == "body " * 40


def test_pdf_outline_names_chapters_and_sections_at_their_heading_line():
    """Bookmarks are the PDF's own table of contents: they win over fonts, and split a page at their line."""
    pages = [
        ["Intro text.", "Results", "Results start mid-page."],
        ["More results.", "1.1 Tables", "A table."],
        ["Still the tables."],
    ]

    def edit(writer):
        writer.add_outline_item(title="Introduction", page_number=0)
        results = writer.add_outline_item(title="Results", page_number=0)
        writer.add_outline_item(title="Tables", page_number=1, parent=results)  # "1.1 Tables" in the text
        writer.add_outline_item(title="Not In The Text", page_number=2)

    parsed = parse_document(rewrite_pdf(make_pdf(pages), edit), "q.pdf")
    assert [(s.chapter, s.section, s.page, s.text) for s in parsed.sections] == [
        ("Introduction", "", 1, "Intro text."),
        ("Results", "", 1, "Results start mid-page."),
        ("Results", "", 2, "More results."),
        ("Results", "Tables", 2, "A table."),
        ("Not In The Text", "", 3, "Still the tables."),  # not found as a line: it starts at the top of its page
    ]
    assert parsed.title == "", "a generic first bookmark (Introduction) is not the document's title"


def test_thousands_of_bookmarks_on_a_page_of_many_lines_are_placed_in_linear_time():
    from documents.parsing.pdf import _pdf_outline_items, _PdfLine

    # A scan of the page's lines for every bookmark took 50 s on these.
    lines = [_PdfLine(f"line {n}", 12.0) for n in range(300_000)]
    outline = [(0, 0, f"Missing {n}") for n in range(5000)] + [(0, 1, "Line 299999")]
    [(_, items)] = list(_pdf_outline_items([(0, lines)], outline))
    assert len(items) == 305_000 and items[-1].text == "Line 299999" and items[-2] == "line 299998"


def test_a_bookmark_on_a_page_without_text_still_starts_its_chapter():
    def edit(writer):
        writer.add_outline_item(title="Appendix", page_number=1)

    parsed = parse_document(rewrite_pdf(make_pdf([["Main text."], [], ["Appendix text."]]), edit), "a.pdf")
    assert [(s.chapter, s.page) for s in parsed.sections] == [("", 1), ("Appendix", 3)]


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ("Quarterly Results 2024", "Quarterly Results 2024"),
        ("Microsoft Word - Quarterly Results.docx", "Quarterly Results"),
        ("Untitled", "Soil Survey of the North Field"),
        ("Document1", "Soil Survey of the North Field"),
        ("C:\\Users\\ann\\Desktop\\report.pdf", "Soil Survey of the North Field"),
        ("   ", "Soil Survey of the North Field"),
    ],
)
def test_pdf_title_is_the_metadata_title_when_it_means_something(metadata, expected):
    data = rewrite_pdf(make_pdf(FONT_REPORT), lambda writer: writer.add_metadata({"/Title": metadata}))
    assert parse_document(data, "x.pdf").title == expected


@pytest.mark.parametrize(
    ("bookmark", "expected"),
    [
        ("Harvest Plan 2025", "Harvest Plan 2025"),
        ("A Guide to Soil", "A Guide to Soil"),
        ("1 Introduction", ""),  # a numbered chapter, not a title
        ("Contents", ""),
    ],
)
def test_pdf_title_from_a_first_bookmark_on_the_first_page(bookmark, expected):
    def edit(writer):
        writer.add_outline_item(title=bookmark, page_number=1)  # page 1 is a cover without text
        writer.add_outline_item(title="2 Budget", page_number=2)

    parsed = parse_document(rewrite_pdf(make_pdf([[], ["Plan text."], ["Budget text."]]), edit), "x.pdf")
    assert parsed.title == expected


def test_pdf_title_skips_a_cover_page_without_text():
    parsed = parse_document(make_pdf([[], *FONT_REPORT]), "x.pdf")
    assert parsed.title == "Soil Survey of the North Field"
    assert [(s.chapter, s.page) for s in parsed.sections][:2] == [
        ("Soil Survey of the North Field", 2),
        ("1 Introduction", 2),
    ]


def test_a_broken_outline_falls_back_to_font_sizes(monkeypatch):
    import pypdf

    monkeypatch.setattr(pypdf.PdfReader, "outline", property(lambda self: 1 / 0))
    parsed = parse_document(make_pdf(FONT_REPORT), "x.pdf")
    assert [(s.chapter, s.section, s.page, s.text) for s in parsed.sections] == FONT_REPORT_SECTIONS


def test_pdf_with_a_password_is_rejected():
    data = rewrite_pdf(make_pdf(TWO_PAGES), lambda writer: writer.encrypt("secret"))
    with pytest.raises(ParseError) as error:
        parse_document(data, "secret.pdf")
    assert "password-protected" in error.value.user_message


def test_pdf_with_only_an_owner_password_opens():
    data = rewrite_pdf(make_pdf(TWO_PAGES), lambda writer: writer.encrypt(user_password="", owner_password="o"))
    assert "Page two text." in parse_document(data, "restricted.pdf").text


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.4\n" + b"\x00garbage\xff" * 100,
        make_pdf(TWO_PAGES)[:300],
        b"%PDF-",
    ],
    ids=["garbage", "truncated", "header-only"],
)
def test_corrupt_pdf_is_rejected(data):
    with pytest.raises(ParseError) as error:
        parse_document(data, "broken.pdf")
    assert "could not be read; it may be damaged" in error.value.user_message


def test_pdf_without_a_text_layer_needs_ocr():
    with pytest.raises(ParseError) as error:
        parse_document(make_pdf([[], []]), "scan.pdf")
    assert "No text could be extracted" in error.value.user_message
    assert "OCR" in error.value.user_message


def test_a_pypdf_failure_on_every_page_is_a_parse_error(monkeypatch):
    import pypdf

    def explode(self, *args, **kwargs):
        raise KeyError("/Font")

    monkeypatch.setattr(pypdf.PageObject, "extract_text", explode)
    with pytest.raises(ParseError) as error:
        parse_document(make_pdf(TWO_PAGES), "weird.pdf")
    assert "damaged" in error.value.user_message


def test_a_pypdf_failure_on_one_page_keeps_the_others(monkeypatch):
    import pypdf

    original = pypdf.PageObject.extract_text

    def flaky(self, *args, **kwargs):
        text = original(self, *args, **kwargs)
        if "Hello" in text:
            raise ValueError("bad font")
        return text

    monkeypatch.setattr(pypdf.PageObject, "extract_text", flaky)
    assert parse_document(make_pdf(TWO_PAGES), "half.pdf").sections == [
        Section(chapter="", section="", text="Page two text.", page=2)
    ]


def test_pdf_ligatures_are_read_as_their_letters():
    """A walk with TeX manuals: "ﬁle" (one ligature glyph, U+FB01) in 1 passage in 4, which no search for "file"
    matched. Its font's ToUnicode map gives the ligature, as TeX's fonts do."""
    ligatures = {"\x01": "\ufb01", "\x02": "\ufb02", "\x03": "\ufb00", "\x04": "\ufb03"}
    pages = [[("Con\x01guring the \x02oor", 18), "The \x01le is a\x03ected by the o\x04ce \x02ag."]]
    parsed = parse_document(make_pdf(pages, to_unicode=ligatures), "manual.pdf")
    assert parsed.sections == [
        Section(chapter="Configuring the floor", section="", text="The file is affected by the office flag.", page=1)
    ]


def make_identity_font_pdf(lines: list[str], *, word_gap: int = 318, space_code_width: int = 838) -> bytes:
    """A PDF as XeTeX writes one (xdvipdfmx, fontspec): a composite font (Type0, Identity-H) whose ToUnicode map
    has no space, each word its own string in a TJ array, the gap between words a pen move of `word_gap` units, and
    code 32 a glyph `space_code_width` units wide (DejaVu Serif's)."""
    letters = sorted({char for line in lines for char in line if char != " "})
    # Glyph ids from 33 on, as a subset font's are: code 32 is a letter's glyph, not a space.
    codes = {char: 33 + index for index, char in enumerate(letters)}
    widths = f"32 [{space_code_width}] 33 [{' '.join('600' for _ in letters)}]"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [6 0 R] /Count 1 >>",
        b"<< /Type /Font /Subtype /Type0 /BaseFont /QWERTY+DejaVuSerif /Encoding /Identity-H "
        b"/DescendantFonts [4 0 R] /ToUnicode 5 0 R >>",
        b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /QWERTY+DejaVuSerif "
        b"/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /W [%s] /DW 1000 >>"
        % widths.encode(),
    ]
    pairs = "".join(f"<{code:04X}> <{char.encode('utf-16-be').hex()}>\n" for char, code in codes.items())
    cmap = (
        "/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n1 begincodespacerange\n<0000> <FFFF>\n"
        f"endcodespacerange\n{len(codes)} beginbfchar\n{pairs}endbfchar\nendcmap\nend end\n"
    ).encode("ascii")
    operators = ["BT", "/F1 10 Tf"]
    for number, line in enumerate(lines):
        words = " ".join("<" + "".join(f"{codes[char]:04X}" for char in word) + ">" for word in line.split())
        operators.append(f"1 0 0 1 72 {700 - 14 * number} Tm [{words.replace('> <', f'> -{word_gap} <')}] TJ")
    operators.append("ET")
    stream = "\n".join(operators).encode("ascii")
    objects += [
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(cmap), cmap),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
        b"/Contents 7 0 R >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
    ]
    return pdf_file(objects)


def test_pdf_words_of_a_xetex_font_without_a_space_glyph_stay_apart():
    """A walk with PDFs: a XeTeX manual came out as "Themaximumnumberofstudentspertest", its composite font's
    Unicode map having no space and its code 32 a glyph wider than the word gaps. Kerning (a small move) still
    joins no words apart, and a gap wider than code 32's glyph was a space before as well."""
    lines = ["The maximum number of students per test", "is limited to four thousand"]
    parsed = parse_document(make_identity_font_pdf(lines), "manual.pdf")
    assert parsed.sections[0].text == "\n".join(lines)
    kerned = parse_document(make_identity_font_pdf(["Kerned letters"], word_gap=40), "kerned.pdf")
    assert kerned.sections[0].text == "Kernedletters", "a small move is kerning, not a space"
    wide = parse_document(make_identity_font_pdf(["Wide gaps"], word_gap=900), "wide.pdf")
    assert wide.sections[0].text == "Wide gaps"


def test_pdf_words_hyphenated_at_a_line_end_are_whole_again():
    """A walk with TeX manuals and papers: "infor-" / "mation" in 1 passage in 4. The word is whole again on the
    first line; a compound the document writes with its hyphen keeps it; a break before a capital, after a
    non-letter or in a hyphenated option is not a word's."""
    lines = [
        "The infor-",
        "mation is set in a three-",
        "column layout; every three-column page",
        "is (in-",
        "deed) hard to re-",
        "read. The IEEE-",
        "Conf class, --no-",
        "gui and x2-",
        "ray stay.",
    ]
    parsed = parse_document(make_pdf([lines]), "paper.pdf")
    assert parsed.text == (
        "The information\nis set in a three-column\nlayout; every three-column page\nis (indeed)\nhard to reread.\n"
        "The IEEE-\nConf class, --no-\ngui and x2-\nray stay."
    )


def test_pdf_running_headers_that_name_their_chapter_are_left_out():
    """A walk with Texinfo and AMS manuals: "Chapter 4: Matrix and Vector Operations 19" on top of a page, its
    words changing with the chapter, was in the passages of 1 page in 2. Its number follows the page's, on many
    pages; so does a footer "- 2 -". A first line whose number does not (a numbered heading) stays."""
    pages = [
        ["The preface.", "More of it."],
        [("Chapter 1: Soil 2", 9), "Soil is dug.", "- 2 -"],
        [("Chapter 1: Soil 3", 9), "Soil is dried.", "- 3 -"],
        [("Chapter 2: Water 4", 9), "Water is let in.", "- 4 -"],
        [("3 Harvest", 12), "It is late.", "- 5 -"],
    ]
    parsed = parse_document(make_pdf(pages), "manual.pdf")
    assert [section.text for section in parsed.sections] == [
        "The preface.\nMore of it.",
        "Soil is dug.",
        "Soil is dried.",
        "Water is let in.",
        "3 Harvest\nIt is late.",
    ]


def make_layout_pdf(pieces: list[tuple[float, float, str]]) -> bytes:
    """One page of 10 pt Helvetica pieces of text, each (x, y, text) drawn where it says, in the order given: a note
    in the margin can be drawn after the line beside it, as LaTeX draws one."""
    operators = ["BT"]
    for x, y, text in pieces:
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        operators.append(f"/F1 10 Tf 1 0 0 1 {x:g} {y:g} Tm ({escaped}) Tj")
    operators.append("ET")
    stream = "\n".join(operators).encode("latin-1")
    return pdf_file(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
            b"/Contents 5 0 R >>",
            b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        ]
    )


def test_pdf_contents_and_index_lists_are_left_out():
    """PDF manuals (issue 13): a table of contents ("2.1 Options . . . . 5") or an index page was a passage of the
    document's headings, found for a question's words before the passage under the heading. Entries with dot
    leaders go, and so do the chapters' entries without leaders among them; a sentence that ends in a number stays,
    as does an ellipsis."""
    pages = [
        [
            ("Contents", 16),
            "1 Introduction 2",
            "1.1 Purpose . . . . . . . . . . . . 2",
            "1.2 Usage . . . . . . . . . . . . . 3",
            "2 Options 4",
            "2.1 Keys.......... 4",
        ],
        ["We use version 2", "Counting goes 1, 2 ... 10", "Fine."],
        [("Index", 16), "alpha . . . . . . 3, 7-9", "beta 4", "gamma . . . . . . 12"],
    ]
    parsed = parse_document(make_pdf(pages), "manual.pdf")
    assert [(s.chapter, s.page, s.text) for s in parsed.sections] == [
        ("Contents", 2, "We use version 2\nCounting goes 1, 2 ... 10\nFine.")
    ]


def test_a_pdf_title_that_is_a_converters_file_name_gives_way_to_the_first_page_title():
    """PDF manuals (issue 13): Distiller and Ghostscript write the .dvi file's name as the title ("float.dvi"),
    which was the title of every passage ("float"), not "An Improved Environment for Floats"."""
    for name in ("float.dvi", "report.docx", "notes.tex"):
        data = rewrite_pdf(make_pdf(FONT_REPORT), lambda writer, name=name: writer.add_metadata({"/Title": name}))
        assert parse_document(data, "x.pdf").title == "Soil Survey of the North Field"
    data = rewrite_pdf(make_pdf(FONT_REPORT), lambda writer: writer.add_metadata({"/Title": "Field notes.docx"}))
    assert parse_document(data, "x.pdf").title == "Field notes", "a title with the file's extension still is one"


def test_footnote_marks_after_a_pdf_title_and_headings_are_left_out():
    """LaTeX's \thanks sets "∗" (U+2217) or "†" after the title's last word ("The parskip package∗"), or after a
    word in it; a typed "*" is a name ("itemize*")."""
    body = [f"Body line {n}." for n in range(4)]
    pages = [[("The footnote\x01 package\x02", 24), *body, ("The itemize* list", 16), *body]]
    parsed = parse_document(make_pdf(pages, to_unicode={"\x01": "\u2217", "\x02": "\u2020"}), "x.pdf")
    assert parsed.title == "The footnote package"
    assert [s.chapter for s in parsed.sections] == ["The footnote package", "The itemize* list"]


def test_a_bookmark_is_placed_at_the_line_that_starts_with_its_title():
    r"""PDF manuals (issue 13): etoolbox's bookmarks name its commands ("\patchcmd"), whose lines are their
    signatures ("\patchcmd[prefix]{command}..."): not found as whole lines, they all went to the top of the page,
    and the last of them labelled every passage there ("\ifpatchable" over \patchcmd's description). A line that
    begins with a bookmark's words starts its section and stays text; a longer word does not match."""
    pages = [
        [
            "Patching",
            "These tools modify code.",
            "\\patchcmd[prefix]{command}{search}{replace}",
            "This command extracts the replacement text.",
            "\\ifpatchable{command}{search}",
            "This command tests the command.",
            "Tracking down bugs is no fun.",
        ]
    ]

    def edit(writer):
        parent = writer.add_outline_item(title="Patching", page_number=0)
        for title in ("\\patchcmd", "\\ifpatchable", "Track"):
            writer.add_outline_item(title=title, page_number=0, parent=parent)

    parsed = parse_document(rewrite_pdf(make_pdf(pages), edit), "etoolbox.pdf")
    assert [(s.chapter, s.section, s.text) for s in parsed.sections] == [
        ("Patching", "", "These tools modify code."),
        (
            "Patching",
            "\\patchcmd",
            "\\patchcmd[prefix]{command}{search}{replace}\nThis command extracts the replacement text.",
        ),
        ("Patching", "\\ifpatchable", "\\ifpatchable{command}{search}"),
        # Not found ("Tracking" is another word): after the line of the last one found, as before.
        ("Patching", "Track", "This command tests the command.\nTracking down bugs is no fun."),
    ]


def test_notes_in_the_margin_drawn_after_their_line_are_lines_of_their_own():
    """PDF manuals (issue 13): LaTeX's documentation classes put each command's name in the left margin, drawn
    after the line beside it, and pypdf read it into that line: "...environments.basedescript", a hyphenated word
    cut by it ("com-itemize*" / "pacted"): 1,388 lines of 50 manuals. Now the note is a line after its line (after
    the word's second half), a line number there (lineno) is left out, and a number drawn before its line (a code
    listing's) stays."""
    parsed = parse_document(
        make_layout_pdf(
            [
                (144, 700, "The package creates com-"),
                (60, 700, "itemize*"),
                (144, 688, "pacted lists for you."),
                (144, 676, "It acts as a skeleton."),
                (70, 676, "basedescript"),
                (144, 664, "A numbered line"),
                (120, 664, "12"),
                (120, 652, "7"),
                (144, 652, "\\def\\x{1}"),
            ]
        ),
        "mdwlist.pdf",
    )
    assert parsed.text == (
        "The package creates compacted\nlists for you.\nitemize*\nIt acts as a skeleton.\nbasedescript\n"
        "A numbered line\n7 \\def\\x{1}"
    )


def test_the_byline_under_a_pdf_title_is_text_not_a_heading():
    """PDF manuals (issue 13): the author and date under a LaTeX title are set larger than the text, and were the
    heading of the abstract and introduction below them ("The parskip package › Frank Mittelbach March 14, 2021")
    in 15 of 50 manuals. They are text now; a heading larger than the byline ("Features") is a heading."""
    body = [f"Body line {n} of the abstract." for n in range(6)]
    pages = [[("The widget package", 20), ("Jane Doe", 14), ("March 1, 2024", 14), *body, ("1 Usage", 16), "Use it."]]
    parsed = parse_document(make_pdf(pages), "widget.pdf")
    assert [(s.chapter, s.section, s.text.split("\n")[0]) for s in parsed.sections] == [
        ("The widget package", "", "Jane Doe March 1, 2024"),  # one line in one size, as a heading's would be
        ("1 Usage", "", "Use it."),
    ]
    pages = [[("The widget package", 20), ("Jane Doe", 12), ("Features", 16), *body, ("Usage", 16), "Use it."]]
    parsed = parse_document(make_pdf(pages), "widget.pdf")
    assert [(s.chapter, s.text.split("\n")[0]) for s in parsed.sections] == [
        ("The widget package", "Jane Doe"),
        ("Features", "Body line 0 of the abstract."),
        ("Usage", "Use it."),
    ]


def test_small_capitals_old_style_figures_and_tex_accents_are_read_as_letters():
    """PDF manuals (issue 13): a font's small capitals and old-style figures are mapped to Adobe's private code
    points ("table" as U+F774 U+F761 ...), which no search matches; TeX's OT1 fonts set an accent as a glyph before
    its letter ("Schr¨oder"). A lone accent that is not between letters stays."""
    to_unicode = {"\x01": "\uf774", "\x02": "\uf761", "\x03": "\uf762", "\x04": "\uf76c", "\x05": "\uf765"}
    to_unicode |= {"\x06": "\uf732", "\x07": "\u00a8", "\x08": "\u00b4"}
    pages = [["\x01\x02\x03\x04\x05 \x06: Martin Schr\x07oder, Ren\x08e and \x07 alone"]]
    parsed = parse_document(make_pdf(pages, to_unicode=to_unicode), "x.pdf")
    assert parsed.text == "table 2: Martin Schr\u00f6der, Ren\u00e9 and \u00a8 alone"


# --- DOCX -----------------------------------------------------------------------------------------------------


def test_docx_headings_paragraphs_and_tables(docx_bytes):
    parsed = parse_document(docx_bytes, "report.docx")
    assert parsed.kind == "docx"
    assert parsed.title == "Annual Report"
    assert parsed.sections == [
        Section(chapter="", section="", text="Preface before any chapter."),
        Section(chapter="Chapter One", section="", text="First paragraph of chapter one."),
        Section(chapter="Chapter One", section="Part A", text="Body of part A.\n\nName | Score\nAda | 42"),
        Section(chapter="Chapter Two", section="", text="Closing words."),
    ]


def test_docx_title_falls_back_to_the_first_heading():
    import docx

    document = docx.Document()
    document.core_properties.title = ""
    document.add_heading("Only Chapter", 1)
    document.add_paragraph("Text.")
    out = io.BytesIO()
    document.save(out)
    assert parse_document(out.getvalue(), "x.docx").title == "Only Chapter"


def make_docx(*, core_title: str = "", title: str = "", heading: str = "Chapter") -> bytes:
    import docx

    document = docx.Document()
    document.core_properties.title = core_title
    if title:
        document.add_heading(title, 0)
    document.add_heading(heading, 1)
    document.add_paragraph("Text.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


@pytest.mark.parametrize(
    ("core_title", "title", "expected"),
    [
        ("Field Guide", "", "Field Guide"),  # the core property when no paragraph is styled Title
        ("Old Template Title", "Field Guide", "Field Guide"),  # the visible Title paragraph first
        ("Document1", "", "Chapter"),  # Word's placeholder: the first Heading 1
        ("Microsoft Word - Field Guide.docx", "", "Field Guide"),
    ],
)
def test_docx_title_precedence(core_title, title, expected):
    assert parse_document(make_docx(core_title=core_title, title=title), "x.docx").title == expected


def test_docx_zip_bomb_of_200_mb_is_rejected_before_parsing(docx_bytes, monkeypatch):
    import docx

    data = with_extra_members(docx_bytes, {"word/media/zeros.bin": 200 * 1024 * 1024})
    assert len(data) < 2 * 1024 * 1024
    monkeypatch.setattr(docx, "Document", lambda *a, **k: pytest.fail("python-docx must not see a zip bomb"))
    with pytest.raises(ParseError) as error:
        parse_document(data, "bomb.docx")
    assert "zip bomb" in error.value.user_message


def test_docx_high_compression_ratio_is_rejected(docx_bytes):
    data = with_extra_members(docx_bytes, {"word/media/zeros.bin": 20 * 1024 * 1024}, compresslevel=9)
    with pytest.raises(ParseError) as error:
        parse_document(data, "ratio.docx")
    assert "zip bomb" in error.value.user_message


def test_docx_total_size_limit(docx_bytes, monkeypatch):
    monkeypatch.setattr(parsing.packages, "ZIP_MAX_TOTAL_UNCOMPRESSED", 10_000)
    with pytest.raises(ParseError) as error:
        parse_document(docx_bytes, "big.docx")
    assert "zip bomb" in error.value.user_message


def test_docx_with_too_many_members_is_rejected(docx_bytes):
    data = with_extra_members(docx_bytes, {f"customXml/extra{i}.xml": 0 for i in range(5001)})
    with pytest.raises(ParseError) as error:
        parse_document(data, "many.docx")
    assert "zip bomb" in error.value.user_message


def test_zip_with_document_xml_but_not_a_docx_is_damaged():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("word/document.xml", "<not-word/>")
    with pytest.raises(ParseError) as error:
        parse_document(out.getvalue(), "fake.docx")
    assert "Word document could not be read" in error.value.user_message


# --- HTML -----------------------------------------------------------------------------------------------------

HTML_PAGE = b"""<!DOCTYPE html>
<html>
<head><title>Travel Guide</title><style>body { color: red }</style></head>
<body>
  <nav><a href="/">Home</a> <a href="/about">About</a></nav>
  <script>alert("tracking")</script>
  <h1>Lisbon</h1>
  <p>Lisbon is   the <b>capital</b> of
     Portugal.</p>
  <p>It has trams.<br>And hills.</p>
  <h2>Food</h2>
  <ul><li>Pastel de nata</li><li>Bacalhau</li></ul>
  <table><tr><th>Dish</th><th>Price</th></tr><tr><td>Soup</td><td>3 &euro;</td></tr></table>
  <h3>Drinks</h3>
  <pre>  ginjinha
    port</pre>
  <div hidden>secret</div>
  <footer>Copyright</footer>
</body>
</html>"""


def test_html_structure_and_noise_removal():
    parsed = parse_document(HTML_PAGE, "guide.html")
    assert parsed.kind == "html" and parsed.title == "Travel Guide"
    assert parsed.sections == [
        Section(
            chapter="Lisbon",
            section="",
            text="Lisbon is the capital of Portugal.\n\nIt has trams.\nAnd hills.",
        ),
        Section(
            chapter="Lisbon",
            section="Food",
            text="Pastel de nata\n\nBacalhau\n\nDish | Price\nSoup | 3 €",
        ),
        Section(chapter="Lisbon", section="Drinks", text="  ginjinha\n    port"),
    ]
    for noise in ("Home", "tracking", "color", "Copyright", "secret"):
        assert noise not in parsed.text


def test_html_page_furniture_is_left_out():
    """Footers, tables of contents and breadcrumbs named by id or class (generators rarely use <footer>/<nav>):
    a documentation site's "Last updated" line otherwise became a passage of every page."""
    page = b"""<html><head><title>git-stash(1)</title></head><body>
      <div id="header"><h1>git-stash(1) Manual Page</h1><h2>NAME</h2><p>git-stash - Stash the changes</p></div>
      <div class="breadcrumbs"><a href="/">Docs</a> / Stash</div>
      <div id="toc" class="toc"><a href="#d">DESCRIPTION</a> <a href="#o">OPTIONS</a></div>
      <div id="content"><h2>DESCRIPTION</h2><p>Use git stash to record the current state.</p>
        <p class="footer-note">A note of the page itself.</p></div>
      <div role="contentinfo">Site map</div>
      <div id="footer"><div id="footer-text">Last updated 2024-05-31</div></div>
    </body></html>"""
    parsed = parse_document(page, "git-stash.html")
    assert [(s.section, s.text) for s in parsed.sections] == [
        ("NAME", "git-stash - Stash the changes"),
        ("DESCRIPTION", "Use git stash to record the current state.\n\nA note of the page itself."),
    ]
    for furniture in ("Last updated", "Docs", "OPTIONS", "Site map"):
        assert furniture not in parsed.text


DOCBOOK_NAVHEADER = b"""<div class="navheader"><table width="100%" summary="Navigation header">
  <tr><th colspan="3" align="center">6.34. pam_unix - traditional password authentication</th></tr>
  <tr><td align="left"><a accesskey="p" href="umask.html">Prev</a> </td>
      <th align="center">Chapter 6. A reference guide for available modules</th>
      <td align="right"> <a accesskey="n" href="userdb.html">Next</a></td></tr></table><hr></div>"""
DOCBOOK_NAVFOOTER = b"""<div class="navfooter"><hr><table width="100%" summary="Navigation footer">
  <tr><td align="left"><a href="umask.html">Prev</a> </td><td><a href="ref.html">Up</a></td>
      <td align="right"> <a href="userdb.html">Next</a></td></tr>
  <tr><td valign="top">6.33. pam_umask - set the file mode creation mask </td><td><a href="index.html">Home</a></td>
      <td valign="top"> 6.35. pam_userdb - authenticate against a db database</td></tr></table></div>"""


def test_html_links_to_the_previous_and_next_pages_are_left_out():
    """DocBook's chunked HTML (many projects' manuals) puts a table of links to the previous and next pages above and
    below each page, naming their topics: this page's first and last passages were about other pages."""
    page = (
        b"<html><head><title>6.34. pam_unix</title></head><body>"
        + DOCBOOK_NAVHEADER
        + b"""<div class="section"><div class="titlepage"><h2 class="title">6.34. pam_unix</h2></div>
        <p>This is the standard Unix authentication module.</p></div>
        <div class="topNav"><a href="a.html">Overview</a> <span>Package</span></div>"""
        + DOCBOOK_NAVFOOTER
        + b"</body></html>"
    )
    parsed = parse_document(page, "sag-pam_unix.html")
    assert parsed.text == "This is the standard Unix authentication module."
    for furniture in ("Prev", "Chapter 6", "pam_umask", "pam_userdb", "Home", "Overview", "Package"):
        assert furniture not in parsed.text


def test_an_html_page_that_is_nothing_but_furniture_is_read_as_it_is_not_refused():
    """A DocBook chapter's own page holds its title, a table of its sections and the links to its neighbours: left
    without its furniture it has no text at all, and a folder upload would have marked it failed."""
    page = (
        b"<html><head><title>Chapter 1. Introduction</title></head><body>"
        + DOCBOOK_NAVHEADER
        + b"""<div class="chapter"><h1 class="title">Chapter 1. Introduction</h1>
        <div class="toc"><dl class="toc"><dt><a href="d.html">1.1. Description</a></dt></dl></div></div>"""
        + DOCBOOK_NAVFOOTER
        + b"</body></html>"
    )
    parsed = parse_document(page, "mwg-introduction.html")
    assert parsed.title == "Chapter 1. Introduction"
    assert "1.1. Description" in parsed.text


def test_texinfo_links_to_the_next_previous_and_up_nodes_are_left_out():
    """Every node of a GNU manual in HTML opens (and often ends) with "Next: ..., Previous: ..., Up: ...
    [Contents][Index]": the neighbouring nodes' titles, in this node's first passage."""
    page = b"""<html><head><title>Comparison (diffutils)</title></head><body>
      <div class="header"><p>Next: <a href="Hunks.html" accesskey="n" rel="next">Hunks</a>, Previous:
        <a href="Overview.html" rel="prev">Overview</a>, Up: <a href="index.html" rel="up">Top</a> &nbsp;
        [<a href="toc.html" rel="contents">Contents</a>][<a href="Index.html" rel="index">Index</a>]</p></div>
      <h2>1 What Comparison Means</h2>
      <p>There are several ways to think about the differences between two files; see the
        <a href="Hunks.html" rel="next">next</a> node for hunks.</p>
    </body></html>"""
    parsed = parse_document(page, "Comparison.html")
    assert (
        parsed.text
        == "There are several ways to think about the differences between two files; see the next node for hunks."
    )


def test_menus_whose_links_are_separated_by_bars_or_brackets_are_left_out():
    """A menu is no less a menu for the "|", "[ ]" or "« »" between its links (Sphinx's Django theme, texi2html,
    Javadoc's index bars)."""
    page = b"""<html><head><title>Settings</title></head><body>
      <div id="hd"><div class="global-nav"><a href="/">Home</a> | <a href="/toc">Table of contents</a> |
        <a href="/genindex">Index</a></div>
        <div>&laquo; <a href="prev.html">previous</a> | <a href="up.html">up</a> | <a href="next.html">next</a>
        &raquo;</div>
        <table><tr><td>[<a href="a.html"> &lt;&lt; </a>]</td><td>[<a href="b.html"> &gt;&gt; </a>]</td>
        <td>[<a href="index.html">Top</a>]</td></tr></table></div>
      <h1>Settings</h1><p>Here is a list of settings and their default values.</p>
      <div class="modal" role="dialog" aria-hidden="true">Keys | Action ? | Open this help</div>
    </body></html>"""
    parsed = parse_document(page, "settings.html")
    assert parsed.text == "Here is a list of settings and their default values."


def test_permalink_signs_in_headings_and_api_signatures_are_left_out():
    """Sphinx and MkDocs end every heading and API signature with a permalink ("¶", <a class="headerlink">): it was
    in every section's title ("Running ¶") and after every signature."""
    page = """<html><head><title>Gunicorn</title></head><body><div class="body" role="main">
      <h1>Gunicorn<a class="headerlink" href="#gunicorn" title="Permalink to this heading">¶</a></h1>
      <p>A pure Python WSGI server.</p>
      <h2>Running<a class="headerlink" href="#running" title="Permalink to this heading">¶</a></h2>
      <dl class="py function"><dt class="sig sig-object py" id="flask.send_file">
        <span class="sig-name descname">send_file</span>(<em>path</em>)<a class="headerlink" href="#flask.send_file"
        title="Permalink to this definition">¶</a></dt><dd><p>Send the contents of a file.</p></dd></dl>
    </div></body></html>""".encode()
    parsed = parse_document(page, "gunicorn.html")
    # "Running" has no text of its own before the API entry, which is a section of its own.
    assert [(s.chapter, s.section) for s in parsed.sections] == [("Gunicorn", ""), ("Gunicorn", "flask.send_file")]
    assert "¶" not in parsed.text
    assert "send_file(path)" in parsed.text


def test_each_api_entry_of_a_reference_page_is_a_section_named_by_its_full_name():
    """Sphinx's API entries (autodoc, the py/c/js domains) are <dt class="sig"> with the full name as their anchor:
    each starts a section, so a passage from the middle of a long reference page says which function, class or
    method it describes ("flask.Flask.add_url_rule", not the chapter "Application Object"). An entry without a
    usable anchor is named as its signature shows it; a glossary's <dt> is no section."""
    page = b"""<html><head><title>API</title></head><body><div class="body" role="main">
      <h1>API</h1><h2>Application Object</h2>
      <dl class="py class"><dt class="sig sig-object py" id="flask.Flask">
        <em class="property">class </em><span class="sig-prename descclassname">flask.</span>
        <span class="sig-name descname">Flask</span>(<em>import_name</em>)</dt>
      <dd><p>The flask object implements a WSGI application.</p>
        <dl class="py method"><dt class="sig sig-object py" id="flask.Flask.add_url_rule">
          <span class="sig-name descname">add_url_rule</span>(<em>rule</em>, <em>endpoint=None</em>)</dt>
        <dd><p>Register a rule for routing incoming requests.</p><p>Return type: None</p></dd></dl>
      </dd></dl>
      <dl class="c function"><dt class="sig sig-object c" id="c.PyObject-GetAttr!">
        <span class="sig-name descname">PyObject_GetAttr</span>(<em>o</em>)</dt><dd><p>Get an attribute.</p></dd></dl>
      <h2>Glossary</h2><dl class="glossary"><dt id="term-view">view</dt><dd><p>A function that answers.</p></dd></dl>
    </div></body></html>"""
    parsed = parse_document(page, "api.html")
    assert [s.section for s in parsed.sections] == [
        "flask.Flask", "flask.Flask.add_url_rule", "PyObject_GetAttr", "Glossary"
    ]  # fmt: skip
    method = parsed.sections[1].text
    assert method.startswith("add_url_rule(rule, endpoint=None)") and "Return type: None" in method


def test_a_page_that_only_redirects_elsewhere_is_refused_with_the_reason():
    """Most files of a Texinfo manual's folder are signposts left where a node used to be: each would be a passage
    that matches its target's name."""
    stub = b"""<html><head><meta http-equiv="Refresh" content="0; url=Hunks.html#Hunks">
      <title>Hunks</title></head><body><p>The node you are looking for is at <a href="Hunks.html">Hunks</a>.</p>
      </body></html>"""
    with pytest.raises(ParseError, match="only sends the browser on to another page"):
        parse_document(stub, "hunks.html")
    # A real page that also refreshes itself (a status page) keeps its text.
    page = stub.replace(b"<p>The node", b"<p>" + b"A long paragraph of its own. " * 10 + b"The node")
    assert "A long paragraph of its own." in parse_document(page, "status.html").text


def test_a_page_laid_out_in_a_table_keeps_its_headings_and_code():
    """Older sites lay the whole page out in a table: read as rows of data, each cell one line, every heading and
    code block of the page ran together; a table of data stays a row a line."""
    page = b"""<html><head><title>Catalogs</title></head><body><table><tr>
      <td><ul><li><a href="index.html">Main Menu</a></li><li><a href="api.html">Reference Manual</a></li></ul></td>
      <td><h1>Catalog support</h1><p>Catalogs map public identifiers to local files.</p>
        <h2>Using a catalog</h2><pre>  xmlcatalog --add public "-//OASIS//DTD DocBook XML V4.1.2//EN"
  file.xml</pre>
        <table><tr><th>Variable</th><th>Meaning</th></tr><tr><td>XML_CATALOG_FILES</td><td>the catalogs</td></tr>
        </table></td></tr></table></body></html>"""
    parsed = parse_document(page, "catalog.html")
    assert [(s.section, s.text) for s in parsed.sections][-2:] == [
        ("", "Catalogs map public identifiers to local files."),
        (
            "Using a catalog",
            '  xmlcatalog --add public "-//OASIS//DTD DocBook XML V4.1.2//EN"\n  file.xml\n\n'
            "Variable | Meaning\nXML_CATALOG_FILES | the catalogs",
        ),
    ]


def test_html_menus_and_contents_lists_made_of_plain_links_are_left_out():
    """SQLite's documentation marks neither its site menu nor a page's table of contents (plain <div>s and <ul>s
    of links): every page's first passage was "Home Menu About Documentation Download..." and a list of its own
    headings, which a question about the page then retrieved in place of its text."""
    page = b"""<html><head><title>Write-Ahead Logging</title></head><body>
      <div class=nosearch><a href="index.html"><img alt="SQLite" src="logo.gif"></a>
        <div class="tagline">Small. Fast. Reliable.</div>
        <div class="menu mainmenu"><ul><li><a href="index.html">Home</a>
          <li><a href="javascript:void(0)" onclick="toggle()">Menu</a><li><a href="about.html">About</a>
          <li><a href="docs.html">Documentation</a></ul></div></div>
      <div class="fancy_title">Write-Ahead Logging</div>
      <div class="fancy_toc"><a onclick="toggle_toc()">Table Of Contents</a>
        <div><div><a href="#overview">1. Overview</a></div><div><a href="#how">2. How WAL Works</a></div>
        <div><a href="#activating">3. Activating WAL Mode</a></div></div></div>
      <h1 id="overview">1. Overview</h1><p>WAL is significantly faster in most scenarios.</p>
      <h1 id="activating">3. Activating WAL Mode</h1><p>Run PRAGMA journal_mode=WAL.</p>
      <p>See also:</p><ul><li><a href="pragma.html">PRAGMA</a><li><a href="lockingv3.html">Locking</a>
        <li><a href="atomiccommit.html">Atomic commit</a></ul>
      <ul><li><a href="#overview">Overview</a>: why WAL<li><a href="#activating">Activating</a>: how to
        <li><a href="#x">More</a>: the rest</ul>
    </body></html>"""
    parsed = parse_document(page, "wal.html")
    assert parsed.sections[0].text == "Small. Fast. Reliable.\n\nWrite-Ahead Logging"
    assert [(s.chapter, s.text) for s in parsed.sections[1:]] == [
        ("1. Overview", "WAL is significantly faster in most scenarios."),
        (
            "3. Activating WAL Mode",
            "Run PRAGMA journal_mode=WAL.\n\nSee also:\n\nPRAGMA\n\nLocking\n\nAtomic commit"
            "\n\nOverview: why WAL\n\nActivating: how to\n\nMore: the rest",
        ),
    ]
    for furniture in ("Home", "Menu", "Documentation", "Table Of Contents", "How WAL Works"):
        assert furniture not in parsed.text
    # Without a heading nothing says where the page's own text starts: a page of links is read whole.
    links = b'<html><body><ul><li><a href="a.html">Alpha</a><li><a href="b.html">Beta</a><li><a href="c.html">Gamma</a>'
    assert parse_document(links, "links.html").text == "Alpha\n\nBeta\n\nGamma"


def test_html_page_with_one_main_element_is_read_from_it():
    page = b"""<html><head><title>Opening hours</title></head><body>
      <div class="site-menu"><h1>City library</h1><p>Catalogue Events Contact</p></div>
      <main><h1>Opening hours</h1><p>Monday to Friday, 9 to 18.</p></main>
      <div class="sidebar"><h2>Popular</h2><p>Summer reading</p></div>
    </body></html>"""
    parsed = parse_document(page, "hours.html")
    assert parsed.title == "Opening hours"
    assert [(s.chapter, s.text) for s in parsed.sections] == [("Opening hours", "Monday to Friday, 9 to 18.")]
    # Two <main> elements (or none) say nothing about which part is the page's own: all of it is read.
    twice = page.replace(b'<div class="sidebar">', b"<main>").replace(b"Summer reading</p></div>", b"x</p></main>")
    assert "Catalogue" in parse_document(twice, "hours.html").text


def test_html_title_falls_back_to_first_h1():
    assert parse_document(b"<html><h1>Heading</h1><p>x</p></html>", "a.html").title == "Heading"


@pytest.mark.parametrize(
    "data",
    [
        b"<html><body><svg><title>Close icon</title></svg><h1>Opening Hours</h1><p>x</p></body></html>",
        b"<html><head><title>Untitled</title></head><body><h1>Opening Hours</h1><p>x</p></body></html>",
        b"<html><head><title>  </title></head><body><h2>Sub</h2><h1>Opening Hours</h1><p>x</p></body></html>",
    ],
    ids=["svg-title", "placeholder-title", "blank-title"],
)
def test_html_title_is_the_page_title_else_the_first_h1(data):
    assert parse_document(data, "page.html").title == "Opening Hours"


def test_an_html_page_without_a_title_or_an_h1_is_named_by_its_first_heading():
    # sqlite3-doc's pressrelease-20071212.html: its headline is an <h2>; the list showed "pressrelease 20071212".
    page = b"<html><body><h2>SQLite Consortium Launches</h2><p>Mozilla and Symbian joined.</p></body></html>"
    assert parse_document(page, "pressrelease-20071212.html").title == "SQLite Consortium Launches"
    # Markdown's first "##" is a part of the file, not its name.
    assert parse_document(b"## Installation\n\nRun make.\n", "README.md").title == ""


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # libxslt's pages (Debian's libxslt1-dev): Latin-1, no charset declared; browsers read windows-1252.
        (
            b"<html><head><title>Caf\xe9</title></head><body><p>\x93Cr\xe8me br\xfbl\xe9e\x94</p></body></html>",
            "\u201cCr\u00e8me br\u00fbl\u00e9e\u201d",
        ),
        (b'<html><head><meta charset="iso-8859-1"><title>Caf\xe9</title></head><p>Jos\xe9</p></html>', "Jos\u00e9"),
        (
            b'<meta http-equiv="Content-Type" content="text/html; charset=koi8-r"><p>\xf0\xd2\xc9\xd7\xc5\xd4</p>',
            "\u041f\u0440\u0438\u0432\u0435\u0442",
        ),
    ],
    ids=["undeclared", "meta-charset", "http-equiv-koi8-r"],
)
def test_an_html_page_that_is_not_utf8_is_read_in_the_encoding_a_browser_would_use(data, expected):
    parsed = parse_document(data, "page.html")
    assert parsed.kind == "html" and parsed.text.endswith(expected)


def test_text_that_is_not_utf8_is_still_refused_unless_it_is_an_html_page():
    with pytest.raises(ParseError, match="text files must be UTF-8"):
        parse_document(b"Caf\xe9 cr\xe8me\n", "notes.txt")
    with pytest.raises(ParseError, match="text files must be UTF-8"):
        parse_document(b"Caf\xe9 <p>cr\xe8me</p>\n", "notes.txt")  # markup, but not a page nor named one
    with pytest.raises(ParseError):
        parse_document(b"<html>" + bytes(range(256)) * 40, "junk.html")  # binary behind a tag


def test_an_html_power_of_a_number_keeps_its_caret():
    # sqlite3-doc's limits.html: "The theoretical maximum number of rows in a table is 2<sup>64</sup>" read "264".
    page = (
        b"<p>At most 2<sup>64</sup> rows, strings of 2<small><sup>31</sup></small>-1 bytes.</p><p>Odd<sup>1</sup></p>"
    )
    assert parse_document(page, "limits.html").text == "At most 2^64 rows, strings of 2^31-1 bytes.\n\nOdd1"


def test_deeply_nested_html_is_walked_without_recursion():
    data = b"<html><body>" + b"<div>" * 20_000 + b"deep" + b"</div>" * 20_000 + b"</body></html>"
    assert parse_document(data, "deep.html").text == "deep"


def test_html_rows_and_svg_titles_nested_thousands_deep_are_read_in_linear_time():
    # Each took minutes in a first version (a search below every row, a lookup of every title's ancestors).
    rows = b"<table>" + b"<tr><td>" * 20_000 + b"<h2>Deep</h2><pre>code</pre>" + b"</td></tr>" * 20_000 + b"</table>"
    parsed = parse_document(b"<html><body>" + rows + b"</body></html>", "rows.html")
    assert [(s.section, s.text) for s in parsed.sections] == [("Deep", "code")]
    icons = b"<svg>" + b"<title>" * 20_000 + b"icon</svg>"
    parsed = parse_document(b"<html><body>" + icons + b"<h1>Page</h1><p>text</p></body></html>", "icons.html")
    assert parsed.title == "Page" and parsed.text == "text"


def test_an_unexpected_library_error_becomes_a_parse_error(monkeypatch):
    import bs4

    def broken(*args, **kwargs):
        raise AssertionError("internal bs4 bug")

    monkeypatch.setattr(bs4, "BeautifulSoup", broken)
    with pytest.raises(ParseError) as error:
        parse_document(HTML_PAGE, "guide.html")
    assert error.value.user_message == "This HTML page could not be read; it may be damaged."
    assert isinstance(error.value.__cause__, AssertionError)


# --- Markdown -------------------------------------------------------------------------------------------------

MARKDOWN = """Intro before any heading.

# Install Guide

Read this first.

## Requirements

- Python 3.12
- A computer

```bash
# not a heading
pip install thing
```

~~~~
## also not a heading
~~~~

### Deeper ###

Details here.

Setext Chapter
==============

Under setext.

Setext Section
--------------

Last words.
"""


def test_markdown_headings_drive_sections():
    parsed = parse_document(MARKDOWN.encode(), "guide.md")
    assert parsed.kind == "markdown" and parsed.title == "Install Guide"
    assert [(s.chapter, s.section) for s in parsed.sections] == [
        ("", ""),
        ("Install Guide", ""),
        ("Install Guide", "Requirements"),
        ("Install Guide", "Deeper"),
        ("Setext Chapter", ""),
        ("Setext Chapter", "Setext Section"),
    ]
    requirements = parsed.sections[2].text
    assert requirements == (
        "- Python 3.12\n- A computer\n\n```bash\n# not a heading\npip install thing\n```\n\n"
        "~~~~\n## also not a heading\n~~~~"
    )
    assert "# Install Guide" not in parsed.text
    assert "Last words." in parsed.sections[-1].text


def test_markdown_unclosed_fence_runs_to_the_end():
    parsed = parse_document(b"# A\n\n```\n# inside\n\n## still inside\n", "x.md")
    assert [(s.chapter, s.section) for s in parsed.sections] == [("A", "")]
    assert "## still inside" in parsed.text


def test_markdown_list_dash_line_is_not_a_setext_heading():
    parsed = parse_document(b"# A\n\n- item\n---\n\nafter", "x.md")
    assert [(s.chapter, s.section) for s in parsed.sections] == [("A", "")]
    assert parsed.text == "- item\n---\n\nafter"


def test_markdown_heading_closing_sequence_and_long_space_runs():
    parsed = parse_document(b"# Title ##  \n\nx\n\n## a # b\n\ny\n\n### C#\n\nz", "x.md")
    assert [(s.chapter, s.section) for s in parsed.sections] == [("Title", ""), ("Title", "a # b"), ("Title", "C#")]
    # A run of spaces inside a heading line took minutes with a first version of the pattern (quadratic).
    parsed = parse_document(b"# a" + b" " * 200_000 + b"b ##\n\ntext", "x.md")
    assert parsed.sections[0].chapter == "a b" and parsed.text == "text"


def test_markdown_title_is_the_first_h1_even_after_other_headings():
    parsed = parse_document(b"## Setup\n\nSteps.\n\n# Project Atlas\n\nAbout it.\n\n# Second\n\nMore.", "README.md")
    assert parsed.title == "Project Atlas"


def test_markdown_without_an_h1_has_no_title():
    assert parse_document(b"## Setup\n\nSteps.", "notes.md").title == ""


def test_a_very_long_first_heading_is_cut_at_a_word_as_a_title():
    parsed = parse_document(b"# " + b"word " * 100 + b"\n\ntext", "x.md")
    assert len(parsed.title) <= parsing.MAX_TITLE_CHARS and parsed.title.endswith("word\u2026")
    assert parsed.sections[0].chapter == ("word " * 100).strip()[:300].strip(), "the heading itself is kept whole"


def test_markdown_front_matter_gives_the_title_and_is_not_text():
    """npm's documentation (like any Jekyll, Hugo or Docusaurus site's) starts each page with its metadata: it was
    its first passage, and the page had no title of its own (its sections are "###" headings, no "#")."""
    page = b"---\ntitle: npm-install\nsection: 1\ndescription: 'Install a package'\n---\n\n### Synopsis\n\nnpm install"
    parsed = parse_document(page, "npm-install.md")
    assert parsed.title == "npm-install"
    assert parsed.text == "Install a package\n\nnpm install", "the description is the page's first line"
    assert [(s.chapter, s.section) for s in parsed.sections] == [("", ""), ("", "Synopsis")]
    toml = parse_document(b'+++\ntitle = "Atlas rover"\ndraft = false\n+++\n\nIt drives.', "rover.md")
    assert (toml.title, toml.text) == ("Atlas rover", "It drives.")
    # Front matter's title is the page's own, before its first heading.
    assert parse_document(b"---\ntitle: Guide\n---\n# Welcome\n\nHi.", "g.md").title == "Guide"
    # A thematic break on the first line, then prose, is no front matter.
    parsed = parse_document(b"---\n\nSome text: here.\n\n---\n\nMore.", "notes.md")
    assert parsed.text == "---\n\nSome text: here.\n\n---\n\nMore."


NODE_PAGE = """# File system

<!--introduced_in=v0.10.0-->

> Stability: 2 - Stable

<!-- source_link=lib/fs.js -->

## `fs.rm(path[, options], callback)`

<!-- YAML
added: v14.14.0
changes:
  - version: v17.3.0
-->

Removes files and directories, like [`fs.unlink()`][] and [inode][]. Write `<!-- x -->` for a comment.
[not]: a definition, inside a paragraph

<a id="ERR_FS_EISDIR"></a>

### `ERR_FS_EISDIR`

Path is a directory.

```html
<!-- kept: code -->
[kept]: https://example.com
```

* `npm install <folder>`:

    ```bash
    <!-- kept too -->
    ```

[`fs.unlink()`]: #fsunlinkpath-callback
[inode]: https://en.wikipedia.org/wiki/Inode "Inode"
"""


def test_markdown_comments_link_definitions_and_anchors_are_left_out():
    """Node.js's API pages: ~3,000 "<!-- YAML ... -->" blocks, a list of link definitions at the end of every page
    and an empty anchor before each error code, all of it read as text. In code it stays: it is the code."""
    parsed = parse_document(NODE_PAGE.encode(), "fs.md")
    assert [(s.chapter, s.section) for s in parsed.sections] == [
        ("File system", ""),
        ("File system", "fs.rm(path[, options], callback)"),
        ("File system", "ERR_FS_EISDIR"),
    ]
    assert parsed.sections[0].text == "> Stability: 2 - Stable"
    assert parsed.sections[1].text == (
        "Removes files and directories, like [`fs.unlink()`][] and [inode][]. Write `<!-- x -->` for a comment.\n"
        "[not]: a definition, inside a paragraph"
    )
    last = parsed.sections[2].text
    assert last.startswith("Path is a directory.\n\n```html\n<!-- kept: code -->\n[kept]: https://example.com\n```")
    assert "    <!-- kept too -->" in last
    assert "fsunlinkpath" not in last and "wikipedia" not in last and "YAML" not in parsed.text


def test_markdown_badges_and_html_headings():
    """A README's heading written as HTML to centre it was text, and its badges' alt text ("npm version",
    "license") its first words. An image that is no badge stays (its alt text is what it shows)."""
    readme = (
        b'<h1 align="center">libnpmaccess</h1>\n\n'
        b"[![npm version](https://img.shields.io/npm/v/libnpmaccess.svg)](https://npm.im/libnpmaccess)\n"
        b"[![license](https://img.shields.io/npm/l/libnpmaccess.svg)](https://npm.im/libnpmaccess)\n"
        b"![coverage](https://codecov.io/badge.svg)\n\n"
        b"A library for `npm access`.\n\n![The access flow](docs/flow.png)\n\n"
        b"<h2>Install <code>it</code></h2>\n\nRun it."
    )
    parsed = parse_document(readme, "README.md")
    assert parsed.title == "libnpmaccess"
    assert [(s.chapter, s.section, s.text) for s in parsed.sections] == [
        ("libnpmaccess", "", "A library for `npm access`.\n\n![The access flow](docs/flow.png)"),
        ("libnpmaccess", "Install it", "Run it."),
    ]


@pytest.mark.parametrize(
    ("heading", "expected"),
    [
        ("## `fs.rm(path[, options], callback)`", "fs.rm(path[, options], callback)"),
        ("### Event: `<inspector-protocol-method>`", "Event: <inspector-protocol-method>"),
        ("#### [`npm run <user defined>`](/commands/npm-run-script)", "npm run <user defined>"),
        ("## Using <code>npm ci</code> in CI", "Using npm ci in CI"),
        ("## Setup ![build](https://ci/badge.svg)", "Setup"),
        ("## 1\\. Install \\*everything\\*", "1. Install *everything*"),
        ("## `` `backticks` ``", "`backticks`"),
        ("## a < b and c > d", "a < b and c > d"),
    ],
)
def test_markdown_headings_are_named_without_their_inline_markup(heading, expected):
    parsed = parse_document(f"# T\n\nx\n\n{heading}\n\ntext".encode(), "x.md")
    assert parsed.sections[-1].section == expected


def test_markdown_comments_code_spans_and_fences_are_read_in_linear_time():
    """Backtick runs that nothing closes, unclosed comments and indented fences that nothing closes: each is
    resolved in one pass (a first try at pairing code spans rescanned the line from every run)."""
    line = "".join("`" * n + " x " for n in range(1, 400)) + "<!-- " + "a <!-- b " * 20_000
    fences = "    ```js\n" * 20_000  # openers only: no line closes them
    parsed = parse_document(f"# T\n\n{fences}\n## Code\n\n{line}\ntext -->\n\nAfter.".encode(), "x.md")
    assert [(s.section, s.text[-9:]) for s in parsed.sections] == [("", "    ```js"), ("Code", "x\n\nAfter.")]


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        ("Annual Report 2024", "Annual Report 2024"),
        ("  Annual\n  Report\t2024 ", "Annual Report 2024"),
        ("Microsoft Word - Annual Report.docx", "Annual Report"),
        ("Microsoft PowerPoint – Launch deck.pptx", "Launch deck"),
        ("report-final.pdf", "report-final"),
        ("Untitled", ""),
        ("untitled-3", ""),
        ("Document1", ""),
        ("Microsoft Word - Document1.docx", ""),
        ("Title", ""),
        ("/home/ann/report.pdf", ""),
        ("C:\\Users\\ann\\report.doc", ""),
        ("---", ""),
        ("Nul\x00 and\x07 bell\r\nand CR", "Nul and bell and CR"),
        ("about:blank", ""),  # a browser's "Save as PDF" of a page it made
        ("https://example.com/manual/rover.html", ""),
        ("www.example.com", ""),
        ("About: the rover", "About: the rover"),
    ],
)
def test_document_title_keeps_real_titles_and_drops_junk(candidate, expected):
    assert parsing.document_title(candidate) == expected


def test_long_headings_fit_the_model_field():
    parsed = parse_document(b"# " + b"H" * 1000 + b"\n\ntext", "x.md")
    assert parsed.sections[0].chapter == "H" * 300


# --- Hostile bytes --------------------------------------------------------------------------------------------


def hostile_pdf() -> bytes:
    def edit(writer):
        writer.add_outline_item(title="Chap\x00ter\x07 One", page_number=0)
        writer.add_metadata({"/Title": "Annual\x00 Report\x1b"})

    return rewrite_pdf(make_pdf([[("Chap\x00ter One", 18), "Body\x00 text\x01 here\x7f.", "Second\rline."]]), edit)


HOSTILE_FILES = {
    "notes.txt": b"Opening hours\x00 are 8\x07 to 18.\rClosed on Sundays.\x1b\r\n" + b"Plain words follow. " * 20,
    "notes.md": b"# Ti\x00tle\r\rBody\x00 text\x0b here.\r## Sec\x08tion\rMore\x00.\r\n" + b"Words. " * 20,
    "page.html": (
        b"<html><head><title>Sh\x00op &#0;&#1;hours\r</title></head><body><h1>Ho&#x1;urs\x00</h1>"
        b"<p>Open\x00 &#7; daily\r and &#x0; nightly</p></body></html>"
    ),
    "scan.pdf": hostile_pdf(),
    "utf16.txt": "\ufeffUTF-16 text\x00 with a NUL\r and a CR.".encode("utf-16-le"),
}


@pytest.mark.parametrize("name", HOSTILE_FILES)
def test_hostile_characters_are_cleaned_at_the_parse_boundary(name):
    """NUL (which PostgreSQL refuses), lone CR and control characters never leave the parser."""
    from chatbot.text import has_unsafe_characters

    parsed = parse_document(HOSTILE_FILES[name], name)
    strings = [parsed.title, parsed.text] + [part for s in parsed.sections for part in (s.chapter, s.section, s.text)]
    for string in strings:
        assert not has_unsafe_characters(string) and "\r" not in string, repr(string)
    assert parsed.text.strip()


def test_hostile_characters_in_a_pdf_still_give_its_title_and_headings():
    parsed = parse_document(hostile_pdf(), "scan.pdf")
    assert parsed.title == "Annual Report"
    assert [(s.chapter, s.page) for s in parsed.sections] == [("Chapter One", 1)]
    assert parsed.sections[0].text == "Body text here.\nSecond\nline."


def test_a_stray_nul_in_a_text_file_is_cleaned_not_refused():
    parsed = parse_document(b"Warehouse notes. " * 30 + b"\x00" + b"More notes.", "notes.txt")
    assert "\x00" not in parsed.text and parsed.text.endswith("Warehouse notes. More notes.")


def test_a_docx_with_control_characters_in_its_xml_is_refused_readably(docx_bytes):
    # XML 1.0 cannot hold them: Word never writes them, so such a file is damaged, and says so.
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(docx_bytes)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "word/document.xml":
                data = data.replace(b"Closing words.", b"Closing\x00 words\x01.")
            target.writestr(info, data)
    with pytest.raises(ParseError) as error:
        parse_document(out.getvalue(), "bad.docx")
    assert error.value.user_message == "This Word document could not be read; it may be damaged."
