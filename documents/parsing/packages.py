"""Zip packages (Word, PowerPoint, Excel, OpenDocument, EPUB): bombs refused before anything inflates, the media type
a package declares, and an XML parser for the files inside, which are the uploader's."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

from documents.parsing.base import ParseError, password_protected

# Checked on the central directory before a reader inflates anything. zipfile stops returning a member's bytes at its
# declared size, but not inflating them: `archive.read()` (python-docx and lxml's callers read whole members)
# inflates all of a member's compressed data in one call and only then cuts it to size, so a member that declares
# 100 bytes can inflate to gigabytes in memory first (a CRC of the first 100 bytes passes). check_zip inflates each
# member once, in bounded steps, to hold it to its declared size.
ZIP_MAX_TOTAL_UNCOMPRESSED = 100 * 1024 * 1024
ZIP_MAX_RATIO = 100
ZIP_RATIO_MIN_SIZE = 1024 * 1024  # small members (styles, XML) legitimately compress very well
ZIP_MAX_MEMBERS = 5000


def check_zip(data: bytes, *, what: str) -> list[zipfile.ZipInfo]:
    """Refuse archives that would inflate into far more than a real document before a reader inflates them, and
    encrypted ones; the archive's members, as read for the check."""
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
    for member in members:
        if member.flag_bits & 0x1:
            raise password_protected(what)
        # Office, OpenDocument and EPUB packages only store or deflate their parts. zipfile inflates bzip2 and LZMA
        # members without any bound, even when read in small steps: refused rather than checked.
        if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ParseError(f"This {what} could not be read; its parts are compressed in a way documents never are.")
        if member.compress_type == zipfile.ZIP_DEFLATED and _inflates_past_its_size(data, member):
            raise bomb
    return members


def _inflates_past_its_size(data: bytes, member: zipfile.ZipInfo) -> bool:
    """Whether a deflated member's data inflates to more than the size it declares; at most that size plus one step
    is inflated, a MB at a time. A member whose data cannot be found or inflated is left to the reader to refuse."""
    header = data[member.header_offset : member.header_offset + 30]
    if len(header) < 30 or header[:4] != b"PK\x03\x04":
        return False
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    start = member.header_offset + 30 + name_length + extra_length
    compressed = memoryview(data)[start : start + member.compress_size]
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    produced = 0
    try:
        for position in range(0, len(compressed), 1 << 16):
            pending = compressed[position : position + (1 << 16)]
            while pending and not inflater.eof:
                produced += len(inflater.decompress(pending, 1 << 20))
                if produced > member.file_size:
                    return True
                pending = inflater.unconsumed_tail
            if inflater.eof:
                break
    except zlib.error:
        pass
    return False


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
