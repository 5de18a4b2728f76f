"""EPUB (e-books): the chapters in reading order (the spine), each read as the HTML page it is."""

from __future__ import annotations

import codecs
import io
import posixpath
import zipfile
from urllib.parse import unquote

from lxml import etree

from documents.parsing.base import Builder, ParseError
from documents.parsing.html import HTML_MAX_ELEMENTS, parse_html
from documents.parsing.packages import DC_TITLE, check_zip, declared_mimetype, xml_parser

EPUB_MAX_CHAPTERS = 5000
# The chapters' pages read in all, as much as a few HTML uploads: the zip checks allow 100 MB inflated, and reading
# that much HTML would hold a worker for minutes and gigabytes for a text over the document's limit anyway.
EPUB_MAX_PAGE_BYTES = 32 * 1024 * 1024


def is_epub(names: set[str], archive: zipfile.ZipFile) -> bool:
    """An EPUB names its media type in its first member, `mimetype`; some writers leave that out, not the container."""
    if "mimetype" in names:
        return declared_mimetype(names, archive) == b"application/epub+zip"
    return "META-INF/container.xml" in names


def parse_epub(data: bytes, builder: Builder) -> None:
    check_zip(data, what="e-book")
    xml = xml_parser()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        try:
            container = etree.fromstring(archive.read("META-INF/container.xml"), xml)
            package_path = container.find(".//{*}rootfile").get("full-path")
            package = etree.fromstring(archive.read(package_path), xml)
        except (KeyError, AttributeError, TypeError, ValueError, etree.XMLSyntaxError) as exc:
            raise ParseError("This e-book has no readable table of its chapters; it may be damaged.") from exc
        base = posixpath.dirname(package_path)
        manifest = {item.get("id"): item for item in package.iterfind(".//{*}manifest/{*}item")}
        names = set(archive.namelist())
        chapters = page_bytes = 0
        for reference in package.iterfind(".//{*}spine/{*}itemref"):
            item = manifest.get(reference.get("idref"))
            if item is None or "html" not in (item.get("media-type") or ""):
                continue
            path = posixpath.normpath(posixpath.join(base, unquote(item.get("href") or "")))
            if path not in names:
                continue  # listed but missing: the other chapters still count
            chapters += 1
            page_bytes += archive.getinfo(path).file_size
            if chapters > EPUB_MAX_CHAPTERS:
                break
            if page_bytes > EPUB_MAX_PAGE_BYTES:
                raise ParseError(
                    f"This e-book's chapters hold more than {EPUB_MAX_PAGE_BYTES // 2**20} MB of pages, which is too "
                    "much to process; split it into smaller files."
                )
            # A chapter starts afresh: one without a heading of its own is not labelled with the one before's.
            builder.flush()
            builder.chapter = builder.section = ""
            try:
                parse_html(_page_text(archive.read(path)), builder)
            except ParseError:
                if builder.over_limit or builder.html_elements > HTML_MAX_ELEMENTS:
                    raise
                # A chapter without text of its own (a cover's picture, a page that only sends on): the rest count.
        title = package.find(f".//{{*}}metadata/{DC_TITLE}")
        if title is not None and title.text:
            builder.titles.insert(0, title.text)  # the book's title, before its first chapter's <title>


def _page_text(page: bytes) -> str:
    """A chapter's text, in one of the two encodings EPUB allows: UTF-16, which starts with its byte order mark, or
    UTF-8. A UTF-16 chapter was read as UTF-8: its markup became the chapter's text."""
    if page[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return page.decode("utf-16", errors="replace")
    return page.decode("utf-8", errors="replace")
