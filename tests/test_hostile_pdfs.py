"""Hostile PDFs built by hand (small on disk) through the real parser and the real upload path: each ends within
seconds as a document that is ready or failed with a reason, however many pages share one costly stream.

The timings asserted are loose (a slow, shared machine must pass) but far below what each file took before its fix,
which the comments give (docs/decisions.md, "Hostile PDFs").
"""

from __future__ import annotations

import time
import zlib

import pytest

from documents.parsing import ParseError, parse_document
from documents.parsing.pdf import PDF_MAX_PAGES
from tests.test_hostile_uploads import uploaded_and_failed
from tests.test_parsing import pdf_file

FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
TEXT = b"BT /F1 12 Tf 72 700 Td (Prune apple trees in winter.) Tj ET"


def stream(data: bytes, *, deflated: bool = False) -> bytes:
    if deflated:
        return b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(data), data)
    return b"<< /Length %d >>\nstream\n%s\nendstream" % (len(data), data)


def deflated(size: int, unit: bytes = b" ") -> bytes:
    """`size` bytes of `unit` over and over, deflated (about a thousandth of that on disk)."""
    compressor = zlib.compressobj(9)
    block = unit * ((1 << 20) // len(unit))
    return b"".join(compressor.compress(block) for _ in range(size // len(block))) + compressor.flush()


def shared_by(pages: int, contents: bytes, *, first: bytes | None = None) -> bytes:
    """`pages` pages that all draw one content stream (object 4); the first page draws `first` instead, if given."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"", FONT, contents, stream(first or b"")]
    kids = []
    for index in range(pages):
        kids.append(len(objects) + 1)
        drawn = 5 if first and index == 0 else 4
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
            b"/Contents %d 0 R >>" % drawn
        )
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % k for k in kids), pages)
    return pdf_file(objects)


def refusal(data: bytes, *, seconds: float) -> str:
    started = time.monotonic()
    with pytest.raises(ParseError) as raised:
        parse_document(data, "hostile.pdf")
    assert time.monotonic() - started < seconds
    return raised.value.user_message


def test_a_bomb_stream_shared_by_many_pages_is_refused_once_its_cost_adds_up_not_inflated_for_each_page():
    # 100 MB of spaces in 100 KB, drawn by 400 pages: pypdf inflated it to its limit and failed again for each page
    # (0.15 s a page; a 2 GB bomb shared by 10,000 pages, 3.7 MB, was 25 minutes).
    data = shared_by(400, stream(deflated(100 << 20), deflated=True), first=TEXT)
    assert len(data) < 200_000
    message = refusal(data, seconds=10)
    assert "too complex" in message and "drawing instructions" in message


def test_a_large_content_stream_shared_by_many_pages_is_not_read_again_for_each_page():
    # 19 MB of spaces (under any stream limit) drawn by 60 pages: 2 s a page, read again for each (70 MB shared by
    # 5,000 pages, 860 KB: 7 s a page, about ten hours).
    data = shared_by(60, stream(deflated(19 << 20), deflated=True), first=TEXT)
    assert "too complex" in refusal(data, seconds=20)


def test_a_pdf_of_more_pages_than_can_be_processed_is_refused_with_that_reason():
    # 100,000 pages of nothing (9.7 MB): 6.4 s and 370 MB before the first page was read.
    pages = PDF_MAX_PAGES + 1
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"", FONT, stream(TEXT)]
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b"5 0 R " * pages, pages)
    objects.append(b"<< /Type /Page /Parent 2 0 R /Resources << /Font << /F1 3 0 R >> >> /Contents 4 0 R >>")
    message = refusal(pdf_file(objects), seconds=10)
    assert f"more than {PDF_MAX_PAGES:,} pages" in message


def test_a_pdf_whose_pages_share_a_small_stream_still_reads():
    data = shared_by(300, stream(TEXT))
    parsed = parse_document(data, "orchard.pdf")
    assert len(parsed.sections) == 300 and "Prune apple trees" in parsed.text


@pytest.mark.django_db
def test_an_uploaded_pdf_of_pages_sharing_a_bomb_ends_failed_with_its_reason(user_client, user):
    data = shared_by(400, stream(deflated(100 << 20), deflated=True), first=TEXT)
    uploaded_and_failed(user_client, user, "bomb.pdf", data, reason="too complex")


def test_pages_whose_fonts_share_a_bomb_unicode_map_are_refused_once_their_cost_adds_up():
    # A 30 MB ToUnicode map (30 KB) shared by the fonts of 600 pages: pypdf inflated it to its limit and failed
    # again for each page's font (500 pages of a 70 MB map: 4 s a page with pypdf's own limit, 16.6 s with 20 MB;
    # the 20,000 pages a PDF may have, about 11 minutes).
    cmap = deflated(30 << 20, b"1 beginbfrange\n<00> <FF> <0041>\nendbfrange\n")
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"", stream(cmap, deflated=True), stream(TEXT)]
    kids = []
    for _ in range(600):
        kids.append(len(objects) + 1)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /Resources << /Font << /F1 %d 0 R >> >> /Contents 4 0 R >>"
            % (len(objects) + 2)
        )
        objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /ToUnicode 3 0 R >>")
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % k for k in kids), len(kids))
    assert "too complex" in refusal(pdf_file(objects), seconds=10)
