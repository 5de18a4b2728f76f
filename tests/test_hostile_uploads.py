"""Hostile HTML through the real upload paths: the documents page (stored, then ingested by the task itself) and a
chat's attachment (parsed in the request). Each is read or refused with a reason in bounded time and memory.

The timings asserted are loose (a slow, shared machine must pass) but far below what each file took before its fix,
which the comments give (docs/decisions.md, "Hostile uploads, a second probe").
"""

from __future__ import annotations

import time
import tracemalloc

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from conversations.models import Attachment
from documents.models import Chunk, Document
from documents.parsing import ParseError, parse_document
from documents.parsing.html import HTML_MAX_ELEMENTS
from documents.tasks import ingest_document
from tests.test_parsing_epub import BOOK, epub

PAGE = "<html><body><h1>Orchard notes</h1><p>Prune apple trees in winter.</p>"

# Constructs html.parser never sees closed, each tried again from every "<" after it, each try searching to the end
# of the page: 120 KB of the first took 15 s, of the third 72 s (Python 3.11.7's html.parser).
UNCLOSED = {
    "comments": "<!--x>",
    "cdata": "<![CDATA[",
    "attribute-quotes": "<a b='",
    "start-tags": "<a",
    "end-tags": "</a",
    "processing-instructions": "<?x",
    "declarations": "<!x",
}


@pytest.mark.parametrize("piece", UNCLOSED.values(), ids=UNCLOSED.keys())
def test_a_page_of_constructs_never_closed_is_read_in_linear_time(piece):
    data = (PAGE + piece * (240_000 // len(piece))).encode()
    started = time.monotonic()
    parsed = parse_document(data, "notes.html")
    assert time.monotonic() - started < 10  # before: 15 s to minutes
    assert parsed.title == "Orchard notes" and parsed.text.startswith("Prune apple trees in winter.")


def test_text_after_an_unclosed_construct_is_kept_as_html_parser_reads_it():
    data = b"<html><body><h1>Notes</h1><p>Before</p><!-- never closed <p>after &amp; more</p>"
    # As html.parser read it before: an unclosed comment is text to the next ">", then the rest as it is.
    assert parse_document(data, "notes.html").text == "Before\n\n<!-- never closed <p>after & more"
    data = b"<html><body><h1>Notes</h1><p>Before</p><![CDATA[ x <b>y</b> &amp; z"
    assert parse_document(data, "notes.html").text == "Before\n\n<![CDATA[ x <b>y & z"


def test_a_page_of_too_many_elements_is_refused_before_it_is_built():
    data = (PAGE + "<p>x" * 1_000_000).encode()  # 4 MB: 59 s and 1.7 GB before
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(ParseError, match=f"more than {HTML_MAX_ELEMENTS:,} HTML elements"):
            parse_document(data, "notes.html")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 10 and peak < 100 * 2**20


def test_an_ebook_whose_chapters_add_up_to_too_many_elements_is_refused_not_cut_short(monkeypatch):
    monkeypatch.setattr("documents.parsing.html.HTML_MAX_ELEMENTS", 40)
    monkeypatch.setattr("documents.parsing.epub.HTML_MAX_ELEMENTS", 40)
    book = {**BOOK, "OEBPS/text/chapter 2.xhtml": "<html><body>" + "<p>Graft.</p>" * 30 + "</body></html>"}
    # Each chapter alone is within the limit; a chapter that passes it must not be skipped like an empty one.
    with pytest.raises(ParseError, match="more than 40 HTML elements"):
        parse_document(epub(book), "orchard.epub")


def uploaded_and_failed(client, user, name: str, data: bytes, *, reason: str) -> Document:
    """The file uploaded through the page and ingested as the Celery task runs it: it ends failed within seconds,
    for `reason` (in its error), as the file's fault (no Retry offered), with no passage."""
    response = client.post(reverse("documents:upload"), {"files": [SimpleUploadedFile(name, data)]})
    assert response.status_code == 302
    document = Document.objects.get(owner=user)
    started = time.monotonic()
    assert ingest_document(str(document.id)) == "failed"
    assert time.monotonic() - started < 15
    document.refresh_from_db()
    assert document.status == "failed" and reason in document.error
    assert document.metadata.get("failure") == "content"  # the file is the reason: no Retry offered
    assert not Chunk.objects.filter(document=document).exists()
    return document


@pytest.mark.django_db
def test_an_uploaded_page_of_too_many_elements_ends_failed_with_its_reason(user_client, user):
    data = (PAGE + "<div>" * 1_000_000).encode()  # 5 MB nested a million deep: 51 s and 1.2 GB before
    uploaded_and_failed(user_client, user, "deep.html", data, reason="HTML elements")
    listed = user_client.get(reverse("documents:list")).content.decode()
    assert "too many to process" in listed


@pytest.mark.django_db
def test_an_uploaded_page_of_unclosed_comments_is_ingested_without_hanging_the_worker(user_client, user):
    data = (PAGE + "<!--x>" * 10_000).encode()
    user_client.post(reverse("documents:upload"), {"files": [SimpleUploadedFile("comments.html", data)]})
    document = Document.objects.get(owner=user)
    assert ingest_document(str(document.id)) == "ready"
    document.refresh_from_db()
    assert document.status == "ready", document.error
    assert document.title == "Orchard notes"


@pytest.mark.django_db
@pytest.mark.parametrize("piece", ["<![CDATA[", "<a b='"], ids=["cdata", "attribute-quotes"])
def test_an_attached_page_of_unclosed_constructs_answers_at_once_not_after_hours(user_client, user, piece):
    # Parsed in the web request: 1.5 MB of either held a web process for hours before.
    data = (PAGE + piece * (1_500_000 // len(piece))).encode()
    started = time.monotonic()
    response = user_client.post(
        reverse("conversations:attachment_upload"), {"file": SimpleUploadedFile("page.html", data)}
    )
    assert time.monotonic() - started < 20
    if response.status_code == 201:
        assert Attachment.objects.get(user=user).metadata["text"].startswith("Prune apple trees in winter.")
    else:
        assert response.status_code == 400 and b"HTML elements" in response.content
        assert not Attachment.objects.filter(user=user).exists()
