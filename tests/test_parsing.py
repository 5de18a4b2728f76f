"""documents.parsing on real files built in code: PDFs written by hand, .docx by python-docx, hostile inputs."""

from __future__ import annotations

import io
import zipfile

import pytest

from documents import parsing
from documents.parsing import ParsedDocument, ParseError, Section, parse_document, sniff_type

# --- Fixture builders -----------------------------------------------------------------------------------------


def make_pdf(pages: list[list[str]]) -> bytes:
    """A minimal valid PDF: one Helvetica text line per string, an empty content stream for an empty page."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>"
        % (b" ".join(b"%d 0 R" % (4 + 2 * i) for i in range(len(pages))), len(pages)),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for index, lines in enumerate(pages):
        operators = ["BT", "/F1 12 Tf", "14 TL", "72 720 Td"]
        for line in lines:
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            operators.append(f"({escaped}) Tj T*")
        operators.append("ET")
        stream = "\n".join(operators).encode("latin-1") if lines else b""
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (5 + 2 * index)
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
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
        (random_zip(), "archive.docx", "not a Word .docx"),
        (b"PK\x03\x04 truncated", "broken.docx", "damaged"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), "old.doc", ".doc"),
        (b"{\\rtf1\\ansi Hello}", "letter.rtf", "RTF"),
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


def test_pdf_pages_become_sections():
    data = make_pdf([*TWO_PAGES, []])  # a trailing blank page is simply skipped
    parsed = parse_document(data, "report.pdf")
    assert parsed.kind == "pdf" and parsed.mime_type == "application/pdf"
    assert parsed.sections == [
        Section(chapter="", section="Page 1", text="Hello world.\nSecond line (with parens)."),
        Section(chapter="", section="Page 2", text="Page two text."),
    ]
    assert parsed.text == "Hello world.\nSecond line (with parens).\n\nPage two text."


def test_pdf_outline_and_metadata_name_chapters_and_title():
    def edit(writer):
        writer.add_outline_item(title="Introduction", page_number=0)
        writer.add_outline_item(title="Results", page_number=1)
        writer.add_metadata({"/Title": "Quarterly Results"})

    data = rewrite_pdf(make_pdf([["Intro text."], ["More results."], ["Still results."]]), edit)
    parsed = parse_document(data, "q.pdf")
    assert parsed.title == "Quarterly Results"
    assert [(s.chapter, s.section) for s in parsed.sections] == [
        ("Introduction", "Page 1"),
        ("Results", "Page 2"),
        ("Results", "Page 3"),
    ]


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
        Section(chapter="", section="Page 2", text="Page two text.")
    ]


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
    monkeypatch.setattr(parsing, "ZIP_MAX_TOTAL_UNCOMPRESSED", 10_000)
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


def test_html_title_falls_back_to_first_h1():
    assert parse_document(b"<html><h1>Heading</h1><p>x</p></html>", "a.html").title == "Heading"


def test_deeply_nested_html_is_walked_without_recursion():
    data = b"<html><body>" + b"<div>" * 20_000 + b"deep" + b"</div>" * 20_000 + b"</body></html>"
    assert parse_document(data, "deep.html").text == "deep"


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


def test_long_headings_fit_the_model_field():
    parsed = parse_document(b"# " + b"H" * 1000 + b"\n\ntext", "x.md")
    assert parsed.sections[0].chapter == "H" * 300
