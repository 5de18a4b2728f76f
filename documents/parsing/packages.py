"""Zip packages (Word, PowerPoint, Excel, OpenDocument, EPUB): bombs refused before anything inflates, the media type
a package declares, and an XML parser for the files inside, which are the uploader's."""

from __future__ import annotations

import io
import zipfile

from documents.parsing.base import ParseError

# Checked on the central directory before a reader inflates anything. zipfile stops reading a member at its
# declared size (and fails the CRC if there is more), so the declared sizes can be trusted.
ZIP_MAX_TOTAL_UNCOMPRESSED = 100 * 1024 * 1024
ZIP_MAX_RATIO = 100
ZIP_RATIO_MIN_SIZE = 1024 * 1024  # small members (styles, XML) legitimately compress very well
ZIP_MAX_MEMBERS = 5000


def check_zip(data: bytes, *, what: str) -> list[zipfile.ZipInfo]:
    """Refuse archives that would inflate into far more than a real document, before anything inflates; the
    archive's members, as read for the check."""
    bomb = ParseError(f"This {what} looks like a zip bomb (it expands to far more data than it holds).")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = archive.infolist()
    if len(members) > ZIP_MAX_MEMBERS:
        raise bomb
    total = 0
    for member in members:
        total += member.file_size
        if total > ZIP_MAX_TOTAL_UNCOMPRESSED:
            raise bomb
        if member.file_size > ZIP_RATIO_MIN_SIZE and member.file_size > ZIP_MAX_RATIO * max(member.compress_size, 1):
            raise bomb
    return members


# Dublin Core's title, which EPUB's package file and OpenDocument's meta.xml both give the document.
DC_TITLE = "{http://purl.org/dc/elements/1.1/}title"


def declared_mimetype(names: set[str], archive: zipfile.ZipFile) -> bytes:
    """The media type an OpenDocument or EPUB package names in its `mimetype` member (b"" without one): 64 bytes
    read, whatever the member claims to inflate to."""
    if "mimetype" not in names:
        return b""
    with archive.open("mimetype") as member:
        return member.read(64).strip()


def xml_parser():
    """An lxml parser for a package's XML: no entity expanded, no DTD loaded, nothing fetched. One per call: lxml's
    parsers are not to be shared between threads."""
    from lxml import etree

    return etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True, huge_tree=False)
