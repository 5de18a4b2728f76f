"""What a file really is, whatever its name says (documents.parsing.parse_document's first step)."""

from __future__ import annotations

import codecs
import io
import re
import unicodedata
import zipfile

from documents.parsing.base import MIME_TYPES, SUPPORTED_FORMATS, UNSUPPORTED_MESSAGE, ParseError, password_protected
from documents.parsing.epub import is_epub
from documents.parsing.opendocument import is_odt
from documents.parsing.rst import looks_like_rst

# --- Sniffing -------------------------------------------------------------------------------------------------

_HTML_START = re.compile(r"<!doctype\s+html|<html[\s>]", re.IGNORECASE)
_LEADING_JUNK = re.compile(r"\s*(?:<!--.*?-->|<\?xml.*?\?>)\s*", re.DOTALL)
_HTML_STRUCTURE = re.compile(r"<(?:body|p|div|h[1-6]|table|ul|ol|article|section|br|span|a)[\s>/]", re.IGNORECASE)
_MARKDOWN_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+\S", re.MULTILINE)
_MARKDOWN_NAMES = (".md", ".markdown", ".mdown", ".mkd")
_HTML_NAMES = (".html", ".htm", ".xhtml")
_RST_NAMES = (".rst", ".rest")
# The member that says which Office Open XML document a zip package is.
_OFFICE_MEMBERS = (("word/document.xml", "docx"), ("ppt/presentation.xml", "pptx"), ("xl/workbook.xml", "xlsx"))
_ASCIIDOC_NAMES = (".adoc", ".asciidoc", ".asc")


def sniff_type(data: bytes, filename: str) -> tuple[str, str]:
    """(kind, mime_type) decided by the bytes; the name only breaks ties between text flavours (.md, .html)."""
    kind, _ = sniff(data, filename)
    return kind, MIME_TYPES[kind]


def sniff(data: bytes, filename: str) -> tuple[str, str | None]:
    """The kind and, for text kinds, the decoded text (so parse_document does not decode twice)."""
    name = filename.lower()
    # Readers accept junk before the header within the first KiB, but a text file that merely mentions "%PDF-"
    # early on must stay text: only binary (non-text) junk may precede it.
    header = data.find(b"%PDF-", 0, 1024)
    if header >= 0 and (not data[:header].strip() or not _is_plain_text(data[:header])):
        return "pdf", None
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = set(archive.namelist())
                # An encrypted member cannot even be sniffed (EPUB and OpenDocument name their type in one).
                encrypted = any(info.flag_bits & 0x1 for info in archive.infolist())
                if encrypted:
                    raise password_protected("document")
                epub = "word/document.xml" not in names and is_epub(names, archive)
                odt = is_odt(names, archive)
        except ParseError:
            raise
        except Exception as exc:  # BadZipFile, but a hostile central directory can raise others
            raise ParseError("This ZIP-based file is damaged and could not be opened.") from exc
        for member, kind in (
            ("word/document.xml", "docx"),
            ("ppt/presentation.xml", "pptx"),
            ("xl/workbook.xml", "xlsx"),
        ):
            if member in names:
                return kind, None
        if epub:
            return "epub", None
        if odt:
            return "odt", None
        raise ParseError(
            f"This file type is not supported (it is a ZIP archive but not a Word, PowerPoint, Excel or OpenDocument "
            f"text document nor an e-book); "
            f"upload a {SUPPORTED_FORMATS} file."
        )
    # Formats users commonly try whose bytes would otherwise be mistaken for (or rejected as) text.
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        # A password-protected .docx, .pptx or .xlsx is such a compound file too, holding the encrypted package in a
        # stream of this name: it was told to "save it as .docx first", which it is.
        if "EncryptedPackage".encode("utf-16-le") in data:
            raise password_protected("document")
        raise ParseError(
            "Old Word .doc, PowerPoint .ppt and Excel .xls (Office 97-2003) files are not supported; save it as "
            ".docx, .pptx or .xlsx first."
        )
    if data[:5] == b"{\\rtf":
        raise ParseError("RTF files are not supported; save it as .docx or .txt first.")

    try:
        text = _decode_text(data)
    except ParseError:
        if (page := _legacy_html(data, name)) is not None:
            return "html", page
        # Neither text nor a known format, under a name that promises a binary one: say that, rather than "upload
        # a .pdf" to someone who just did. (Text under such a name is read as the text it is.)
        for extension, label in (
            (".pdf", "a valid PDF"), (".docx", "a valid Word .docx document"), (".epub", "a valid e-book (EPUB)"),
            (".pptx", "a valid PowerPoint .pptx presentation"), (".xlsx", "a valid Excel .xlsx spreadsheet"),
            (".odt", "a valid OpenDocument text"),
        ):  # fmt: skip
            if name.endswith(extension):
                raise ParseError(
                    f"This is not {label}: its content does not start like one (the file may be damaged, or another "
                    f"kind of file renamed to {extension})."
                ) from None
        raise
    # Skip any number of leading comments / XML declarations, then look at what the document opens with.
    head = text[:4096]
    while junk := _LEADING_JUNK.match(head):
        head = head[junk.end() :]
    if _HTML_START.match(head.lstrip()) or (name.endswith(_HTML_NAMES) and _HTML_STRUCTURE.search(text)):
        return "html", text
    if name.endswith(_RST_NAMES) or (not name.endswith(_MARKDOWN_NAMES) and looks_like_rst(text)):
        return "rst", text
    if name.endswith(_ASCIIDOC_NAMES):
        return "asciidoc", text
    if name.endswith((".csv", ".tsv")):
        return "csv", text
    if name.endswith(_MARKDOWN_NAMES) or _MARKDOWN_HEADING.search(text):
        return "markdown", text
    return "text", text


# The encoding a page declares in its first 1024 bytes (where browsers look): <meta charset="..."> or
# <meta http-equiv="Content-Type" content="text/html; charset=...">.
_HTML_CHARSET = re.compile(rb"<meta[^>]*?charset\s*=\s*[\"']?\s*([a-z0-9._:-]+)", re.IGNORECASE)


def _legacy_html(data: bytes, name: str) -> str | None:
    """An HTML page that is not UTF-8, decoded as a browser would: the charset it declares, else windows-1252 (the
    web's default for a page that declares none); None for anything else (text files must be UTF-8).

    Older documentation is Latin-1 (libxslt's pages in Debian's libxslt1-dev: "The XSLT C library for GNOME")
    and was refused as "not supported; text files must be UTF-8", though the browser showed it fine.
    """
    head = data[:4096].decode("latin-1")
    while junk := _LEADING_JUNK.match(head):
        head = head[junk.end() :]
    if not (_HTML_START.match(head.lstrip()) or (name.endswith(_HTML_NAMES) and _HTML_STRUCTURE.search(head))):
        return None
    declared = _HTML_CHARSET.search(data[:1024])
    encoding = "cp1252"
    if declared:
        try:
            codec = codecs.lookup(declared.group(1).decode("ascii"))
        except (LookupError, UnicodeDecodeError):
            codec = None
        # Latin-1 and ASCII labels mean windows-1252 on the web; UTF-8 (or 16) was tried, and failed. Python also
        # knows codecs that are no text encoding ("rot13", "base64", "hex") or take no errors="replace" ("idna",
        # "punycode", "undefined"): a page declaring one is read as windows-1252, as one declaring none is.
        if codec and codec.name not in ("latin-1", "iso8859-1", "ascii", "utf-8", "utf-16"):
            encoding = codec.name
    # windows-1252 leaves five bytes unassigned (0x81, 0x8D...): replaced, not a reason to refuse the page.
    try:
        text = data.decode(encoding, errors="replace")
    except (LookupError, UnicodeError):
        text = data.decode("cp1252", errors="replace")
    sample = text[:8192]
    controls = sum(1 for ch in sample if ch not in "\t\n\r\f\v" and unicodedata.category(ch) == "Cc")
    return None if controls > len(sample) // 20 else text


def _is_plain_text(prefix: bytes) -> bool:
    try:
        text = prefix.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    return not any(ch not in "\t\n\r\f\v" and unicodedata.category(ch) == "Cc" for ch in text)


def _decode_text(data: bytes) -> str:
    # Windows "Unicode" text is UTF-16 with a BOM; it is the one non-UTF-8 encoding that is unambiguous.
    encoding = "utf-16" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:  # PNG, JPEG, Latin-1 text...
        raise ParseError(UNSUPPORTED_MESSAGE) from exc
    # Valid UTF-8 can still be binary (or UTF-32 misread as UTF-16, or UTF-16 without its BOM, half NULs): real
    # text has almost no control characters. The odd stray NUL or escape in a text file is cleaned, not refused.
    sample = text[:8192]
    controls = sum(1 for ch in sample if ch not in "\t\n\r\f\v" and unicodedata.category(ch) == "Cc")
    if controls > len(sample) // 20:
        raise ParseError(UNSUPPORTED_MESSAGE)
    return text
