"""The documents pages through the Django test client: list, upload, progress, editor, versions, suggestions, passages.

Uploads queue ingestion with transaction.on_commit; these tests capture the callbacks without running them (no
worker, no embedding model): a document that needs to be "ready" with passages is built with the factories.
Includes the views part of the CVE-2026-45402-style regression: another user's document, version, suggestion or
passage is a 404 and nothing changes; the shared library is readable by every registered user, editable by none.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import os
import re

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.services import SYSTEM, provider_key_save
from documents.models import Chunk, Document, DocumentVersion, Suggestion
from documents.parsing import parse_document
from tests.factories import (
    ChunkFactory,
    DocumentFactory,
    DocumentVersionFactory,
    GuestFactory,
    SuggestionFactory,
    UserFactory,
)

NOTES_MD = b"# Notes\n\n## Part one\n\nOriginal paragraph about pgvector.\n\n## Part two\n\nA second paragraph.\n"
PLAIN_TXT = b"Just some plain text about retrieval.\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
ELF = b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00>\x00\x01\x00\x00\x00" + b"\x00" * 40
UNSUPPORTED = (
    "This file type is not supported; upload a .txt, .md, .rst, .adoc, .pdf, .docx, .odt, .pptx, .xlsx, .epub or "
    ".html file (text files must be UTF-8)."
)


# --- Helpers ------------------------------------------------------------------------------------------------------


def page_of(response) -> str:
    return response.content.decode()


def flashes(response) -> list[tuple[str, str]]:
    """(level, text) of every flash message on a page."""
    found = re.findall(r'<li class="flash-([a-z]+)">(.*?)</li>', page_of(response), re.S)
    return [(level, html.unescape(text)) for level, text in found]


def rows(page: str) -> dict[str, str]:
    """The document rows of a page (or a status partial), keyed by document id."""
    found = {}
    for part in page.split('<li class="document-row"')[1:]:
        row = part.split("\n</li>", 1)[0]
        found[re.search(r'id="document-([0-9a-f-]+)"', row).group(1)] = row
    return found


def textarea(page: str) -> str:
    return html.unescape(re.search(r'<textarea id="doc-content" name="content">(.*?)</textarea>', page, re.S).group(1))


def upload(name: str, data: bytes, content_type: str = "text/plain") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def manual_document(owner, *contents: str, title: str = "Field notes") -> Document:
    """A document written here, with one version per content (1, 2, ...)."""
    document = DocumentFactory(owner=owner, title=title, source=Document.Source.MANUAL, chunk_count=2)
    for number, content in enumerate(contents, start=1):
        DocumentVersionFactory(document=document, number=number, content=content)
    return document


@pytest.fixture
def other(db):
    return UserFactory()


# --- 1. The documents page ----------------------------------------------------------------------------------------


def test_a_new_user_sees_the_empty_state_and_the_upload_form(user_client):
    page = page_of(user_client.get(reverse("documents:list")))
    assert "No documents yet. Upload one to start asking questions about it." in page
    assert 'class="document-list"' not in page
    assert f'action="{reverse("documents:upload")}"' in page
    assert 'enctype="multipart/form-data"' in page
    assert "(up to 20 MB each, and 5 million characters of text)" in page
    assert 'name="shared"' not in page  # only staff can add to the shared library


def test_the_list_shows_own_and_shared_documents_but_not_another_users(user_client, user, other):
    mine = DocumentFactory(owner=user, title="My pgvector notes", chunk_count=4)
    shared = DocumentFactory(owner=None, title="Company handbook", chunk_count=12)
    theirs = DocumentFactory(owner=other, title="Their private diary")

    page = page_of(user_client.get(reverse("documents:list")))

    found = rows(page)
    assert set(found) == {str(mine.id), str(shared.id)}
    assert "Their private diary" not in page and str(theirs.id) not in page
    assert "My pgvector notes" in found[str(mine.id)]
    assert "Shared library" not in found[str(mine.id)]
    assert "4 passages" in found[str(mine.id)]
    assert "Company handbook" in found[str(shared.id)]
    assert '<span class="badge">Shared library</span>' in found[str(shared.id)]
    # The owner can delete their own document; nobody but staff-through-admin deletes a shared one here.
    assert reverse("documents:delete", args=[mine.id]) in found[str(mine.id)]
    assert reverse("documents:delete", args=[shared.id]) not in found[str(shared.id)]
    assert "No documents yet" not in page


def test_the_list_shows_newest_first(user_client, user):
    older = DocumentFactory(owner=user, title="Older", created_at=timezone.now() - dt.timedelta(days=1))
    newer = DocumentFactory(owner=user, title="Newer")
    assert list(rows(page_of(user_client.get(reverse("documents:list"))))) == [str(newer.id), str(older.id)]


def test_hundreds_of_documents_come_in_pages_of_fifty(user_client, user):
    # A documentation folder of 213 pages made one page 17,000 pixels long.
    start = timezone.now()
    made = [
        DocumentFactory(owner=user, title=f"Page {i:03}", created_at=start - dt.timedelta(minutes=i))
        for i in range(120)
    ]
    first = page_of(user_client.get(reverse("documents:list")))
    assert list(rows(first)) == [str(document.id) for document in made[:50]]
    assert "120 documents." in first and "Page 1 of 3" in first and 'href="?page=2" rel="next"' in first
    last = page_of(user_client.get(reverse("documents:list"), {"page": "3"}))
    assert list(rows(last)) == [str(document.id) for document in made[100:]]
    assert 'href="?page=2" rel="prev"' in last and 'rel="next"' not in last
    assert list(rows(page_of(user_client.get(reverse("documents:list"), {"page": "junk"})))) == list(rows(first))


def test_the_list_finds_documents_by_title_or_file_name(user_client, user, other):
    wal = DocumentFactory(owner=user, title="Write-Ahead Logging", original_name="wal.html")
    walk = DocumentFactory(owner=user, title="A walk in the park", original_name="notes.txt")
    DocumentFactory(owner=user, title="Zero-Configuration", original_name="zeroconf.html")
    DocumentFactory(owner=other, title="Their WAL notes", original_name="wal.md")
    response = user_client.get(reverse("documents:list"), {"q": "  WAL "})
    page = page_of(response)
    assert set(rows(page)) == {str(wal.id), str(walk.id)}
    assert "2 of 3 documents match “WAL”." in page and 'value="WAL"' in page and "Show all" in page
    page = page_of(user_client.get(reverse("documents:list"), {"q": "sqlite"}))
    assert rows(page) == {} and "0 of 3 documents match “sqlite”." in page and "No documents yet" not in page


def test_a_search_keeps_its_words_from_page_to_page(user_client, user):
    for i in range(55):
        DocumentFactory(owner=user, title=f"Pragma {i}")
    page = page_of(user_client.get(reverse("documents:list"), {"q": "pragma"}))
    assert 'href="?q=pragma&amp;page=2" rel="next"' in page


def test_deleting_from_a_search_goes_back_to_it_and_never_to_another_site(
    user_client, user, django_capture_on_commit_callbacks
):
    first, second = DocumentFactory(owner=user, title="WAL one"), DocumentFactory(owner=user, title="WAL two")
    back = reverse("documents:list") + "?q=wal&page=1"
    page = page_of(user_client.get(back))
    assert f'name="next" value="{html.escape(back)}"' in page
    response = user_client.post(reverse("documents:delete", args=[first.id]), {"next": back})
    assert response.url == back
    response = user_client.post(reverse("documents:delete", args=[second.id]), {"next": "https://evil.example/"})
    assert response.url == reverse("documents:list")


def test_the_documents_a_search_finds_are_deleted_at_once_and_only_the_users_own(
    user_client, user, other, django_capture_on_commit_callbacks
):
    pages = [
        DocumentFactory(
            owner=user,
            title=f"Lang {i}",
            file=ContentFile(PLAIN_TXT, name=f"lang_{i}.txt"),
            original_name=f"lang_{i}.txt",
        )
        for i in range(3)
    ]
    for document in pages:
        ChunkFactory(document=document, ordinal=0)
    kept = DocumentFactory(owner=user, title="Zero-Configuration", original_name="zeroconf.html")
    shared = DocumentFactory(owner=None, title="Lang handbook")
    theirs = DocumentFactory(owner=other, title="Lang notes")
    page = page_of(user_client.get(reverse("documents:list"), {"q": "lang"}))
    assert "Delete the 3 that match" in page and "Delete the 3 documents that match “lang”?" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = user_client.post(reverse("documents:bulk_delete"), {"q": " lang "}, follow=True)
    assert flashes(response) == [("success", "Deleted 3 documents that matched “lang”.")]
    assert set(Document.objects.values_list("id", flat=True)) == {kept.id, shared.id, theirs.id}
    assert not Chunk.objects.exists()
    assert not any(os.path.exists(document.file.path) for document in pages)

    # Without a search: all of the user's own; the button is offered for two or more.
    assert "Delete all" not in page_of(user_client.get(reverse("documents:list")))  # one of theirs left
    DocumentFactory(owner=user, title="Another")
    assert "Delete all 2" in page_of(user_client.get(reverse("documents:list")))
    response = user_client.post(reverse("documents:bulk_delete"), follow=True)
    assert flashes(response) == [("success", "Deleted 2 documents.")]
    assert set(Document.objects.values_list("id", flat=True)) == {shared.id, theirs.id}


def test_guests_are_sent_to_sign_up(client, db):
    client.force_login(GuestFactory())
    response = client.get(reverse("documents:list"))
    assert response.status_code == 302
    assert response.url == reverse("account_signup")
    response = client.post(reverse("documents:upload"), {"files": [upload("notes.txt", PLAIN_TXT)]})
    assert response.url == reverse("account_signup")
    assert not Document.objects.exists()


def test_anonymous_visitors_are_sent_to_log_in(client, db):
    url = reverse("documents:list")
    response = client.get(url)
    assert response.status_code == 302
    assert response.url == f"{reverse('account_login')}?next={url}"
    response = client.post(reverse("documents:upload"), {"files": [upload("notes.txt", PLAIN_TXT)]})
    assert response.url.startswith(reverse("account_login"))
    assert not Document.objects.exists()


# --- 2. Upload ----------------------------------------------------------------------------------------------------


def test_uploading_a_markdown_and_a_text_file_stores_two_pending_documents(
    user_client, user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = user_client.post(
            reverse("documents:upload"),
            {"files": [upload("notes.md", NOTES_MD, "text/markdown"), upload("plain_text.txt", PLAIN_TXT)]},
            follow=True,
        )

    assert response.redirect_chain == [(reverse("documents:list"), 302)]
    assert flashes(response) == [("success", "2 files uploaded.")]
    assert len(callbacks) == 2  # one ingestion queued per new document, after commit
    documents = {d.original_name: d for d in Document.objects.all()}
    assert set(documents) == {"notes.md", "plain_text.txt"}
    for name, data in (("notes.md", NOTES_MD), ("plain_text.txt", PLAIN_TXT)):
        document = documents[name]
        assert document.owner == user
        assert document.status == Document.Status.PENDING
        assert document.progress == 0
        assert document.source == Document.Source.UPLOAD
        assert document.size == len(data)
        assert document.content_hash == hashlib.sha256(data).hexdigest()
        assert document.file.name.startswith(f"documents/{user.id}/")
        with document.file.open("rb") as handle:
            assert handle.read() == data
    assert documents["notes.md"].title == "notes"
    assert documents["notes.md"].mime_type == "text/markdown"
    assert documents["plain_text.txt"].title == "plain text"
    assert documents["plain_text.txt"].mime_type == "text/plain"
    # The redirected page lists both, each polling its progress.
    found = rows(page_of(response))
    assert set(found) == {str(d.id) for d in documents.values()}
    for document in documents.values():
        assert f'hx-get="{reverse("documents:status", args=[document.id])}"' in found[str(document.id)]


def test_the_same_content_again_is_the_same_document_but_another_user_gets_their_own(
    user_client, user, other, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        user_client.post(reverse("documents:upload"), {"files": [upload("notes.md", NOTES_MD)]}, follow=True)
    original = Document.objects.get()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = user_client.post(
            reverse("documents:upload"), {"files": [upload("copy of notes.md", NOTES_MD)]}, follow=True
        )
    assert flashes(response) == [("info", "copy of notes.md is already in your documents as “notes”.")]
    assert callbacks == []
    assert list(Document.objects.values_list("id", flat=True)) == [original.id]

    client = Client()
    client.force_login(other)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("documents:upload"), {"files": [upload("notes.md", NOTES_MD)]}, follow=True)
    assert flashes(response) == [("success", "notes.md uploaded.")]
    assert len(callbacks) == 1
    theirs = Document.objects.get(owner=other)
    assert theirs.id != original.id
    assert theirs.content_hash == original.content_hash
    assert Document.objects.count() == 2


def test_a_file_over_the_limit_is_refused_naming_the_file_and_the_limit(
    user_client, settings, django_capture_on_commit_callbacks
):
    settings.DOCUMENT_MAX_UPLOAD_BYTES = 100
    with django_capture_on_commit_callbacks(execute=False):
        response = user_client.post(
            reverse("documents:upload"),
            {"files": [upload("big.txt", b"x" * 101), upload("fits.txt", b"y" * 100)]},
            follow=True,
        )
    assert flashes(response) == [
        ("error", "big.txt: the file is larger than the 100 bytes limit."),
        ("success", "fits.txt uploaded."),
    ]
    assert list(Document.objects.values_list("original_name", flat=True)) == ["fits.txt"]
    assert "(up to 100 bytes each, and 5 million characters of text)" in page_of(response)


def test_the_limit_is_shown_in_megabytes(user_client, settings, django_capture_on_commit_callbacks):
    settings.DOCUMENT_MAX_UPLOAD_BYTES = 1536 * 1024
    with django_capture_on_commit_callbacks(execute=False):
        response = user_client.post(
            reverse("documents:upload"), {"files": [upload("big.txt", b"x" * (1536 * 1024 + 1))]}, follow=True
        )
    assert flashes(response) == [("error", "big.txt: the file is larger than the 1.5 MB limit.")]
    assert not Document.objects.exists()


def test_an_empty_file_is_refused(user_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = user_client.post(reverse("documents:upload"), {"files": [upload("empty.txt", b"")]}, follow=True)
    assert flashes(response) == [("error", "empty.txt: the file is empty.")]
    assert callbacks == []
    assert not Document.objects.exists()


NOT_A_PDF = (
    "This is not a valid PDF: its content does not start like one (the file may be damaged, or another kind of file "
    "renamed to .pdf)."
)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [("notes.txt", PNG, UNSUPPORTED), ("doc.pdf", ELF, NOT_A_PDF)],
    ids=["png-as-txt", "elf-as-pdf"],
)
def test_a_file_whose_content_is_not_a_document_is_refused_whatever_its_name(
    user_client, django_capture_on_commit_callbacks, name, data, message
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = user_client.post(reverse("documents:upload"), {"files": [upload(name, data)]}, follow=True)
    # After the file's name the reason goes on in lower case, as "empty.txt: the file is empty." does.
    assert flashes(response) == [("error", f"{name}: {message[0].lower()}{message[1:]}")]
    assert callbacks == []
    assert not Document.objects.exists()


def test_posting_no_file_asks_for_one(user_client):
    response = user_client.post(reverse("documents:upload"), {}, follow=True)
    assert flashes(response) == [("error", "Choose at least one file to upload.")]
    assert not Document.objects.exists()


def test_only_the_first_twenty_files_of_one_upload_are_taken(user_client, django_capture_on_commit_callbacks):
    files = [upload(f"file{i:02}.txt", f"Text number {i}.\n".encode()) for i in range(21)]
    with django_capture_on_commit_callbacks(execute=False):
        response = user_client.post(reverse("documents:upload"), {"files": files}, follow=True)
    assert Document.objects.count() == 20
    assert not Document.objects.filter(original_name="file20.txt").exists()
    assert flashes(response)[-1] == ("error", "Only the first 20 files were taken; upload the rest separately.")


def test_a_large_selection_sent_in_parts_is_told_once_with_its_total(
    user_client, user, django_capture_on_commit_callbacks
):
    # What the page's script sends for 45 files: parts of 20 under one series, the last one marked.
    files = [upload(f"page{i:02}.html", f"<p>Page number {i}.</p>".encode(), "text/html") for i in range(45)]
    files[44] = upload("copy.html", b"<p>Page number 0.</p>", "text/html")  # the same bytes as page00.html
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        for start in (0, 20):
            response = user_client.post(
                reverse("documents:upload"), {"files": files[start : start + 20], "series": "s1"}, follow=True
            )
            assert flashes(response) == []  # nothing said before the last part
        response = user_client.post(
            reverse("documents:upload"), {"files": files[40:], "series": "s1", "last": "1"}, follow=True
        )
    assert flashes(response) == [
        ("info", "copy.html is already in your documents as “page00”."),
        ("success", "44 files uploaded."),
    ]
    assert len(callbacks) == Document.objects.filter(owner=user).count() == 44

    # The same folder chosen again: the files already there are counted, not named one by one (211 lines).
    files = [upload(f"page{i:02}.html", f"<p>Page number {i}.</p>".encode(), "text/html") for i in range(40)]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        for start in (0, 20):
            last = {"last": "1"} if start == 20 else {}
            response = user_client.post(
                reverse("documents:upload"), {"files": files[start : start + 20], "series": "s3", **last}, follow=True
            )
    assert flashes(response) == [
        ("info", "40 files were already in your documents, with the same content: not added again.")
    ]
    assert callbacks == []

    # A folder chosen whole: what the page left out (images, stylesheets) is counted on the last part.
    with django_capture_on_commit_callbacks(execute=False):
        response = user_client.post(
            reverse("documents:upload"),
            {
                "files": [upload("intro.html", b"<h1>Intro</h1><p>Hello.</p>", "text/html")],
                "series": "s4",
                "last": "1",
                "left_out": "120",
                "left_out_kinds": ".gif .css <b>.gz</b> junk",
            },
            follow=True,
        )
    assert flashes(response) == [
        ("info", "Left out 120 files that are not documents (.gif, .css, .gz)."),
        ("success", "intro.html uploaded."),
    ]

    # Another selection starts its own count; a lone file is named.
    with django_capture_on_commit_callbacks(execute=False):
        response = user_client.post(
            reverse("documents:upload"),
            {"files": [upload("one more.txt", b"One more.\n")], "series": "s2", "last": "1"},
            follow=True,
        )
    assert flashes(response) == [("success", "one more.txt uploaded.")]


def test_the_page_sends_a_large_selection_in_parts_of_what_one_upload_takes(user_client):
    page = page_of(user_client.get(reverse("documents:list")))
    assert 'data-upload-zone data-max-files="20"' in page and "data-upload-progress" in page


def test_more_files_than_a_request_may_carry_get_the_sites_own_400_page(
    user_client, settings, django_capture_on_commit_callbacks
):
    # Django refuses the whole request past DATA_UPLOAD_MAX_NUMBER_FILES (100) before any view runs: without
    # script a person choosing a folder of 200 pages met Django's bare "Bad Request (400)".
    settings.DEBUG = False
    files = [upload(f"file{i:03}.txt", f"Text number {i}.\n".encode()) for i in range(101)]
    with django_capture_on_commit_callbacks(execute=False):
        response = user_client.post(reverse("documents:upload"), {"files": files})
    assert response.status_code == 400
    page = page_of(response)
    assert "more files than one upload" in page and 'href="/documents/"' in page
    assert not Document.objects.exists()


def test_a_non_staff_users_shared_checkbox_is_ignored(user_client, user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        user_client.post(reverse("documents:upload"), {"files": [upload("notes.md", NOTES_MD)], "shared": "on"})
    assert Document.objects.get().owner == user


def test_staff_can_add_to_the_shared_library(client, db, django_capture_on_commit_callbacks):
    staff = UserFactory(is_staff=True)
    client.force_login(staff)
    assert 'name="shared"' in page_of(client.get(reverse("documents:list")))
    with django_capture_on_commit_callbacks(execute=False):
        client.post(reverse("documents:upload"), {"files": [upload("handbook.md", NOTES_MD)], "shared": "on"})
        client.post(reverse("documents:upload"), {"files": [upload("own.txt", PLAIN_TXT)]})
    shared = Document.objects.get(original_name="handbook.md")
    assert shared.owner is None
    assert shared.file.name.startswith("documents/shared/")
    assert Document.objects.get(original_name="own.txt").owner == staff


# --- 3. Progress polling and retry --------------------------------------------------------------------------------


def test_a_waiting_document_polls_with_a_progress_bar(user_client, user):
    document = DocumentFactory(owner=user, title="Queued", status=Document.Status.PENDING, progress=0)
    page = page_of(user_client.get(reverse("documents:status", args=[document.id])))
    assert list(rows(page)) == [str(document.id)]
    assert 'hx-trigger="every 1s"' in page
    assert f'hx-get="{reverse("documents:status", args=[document.id])}"' in page
    assert 'hx-swap="outerHTML"' in page
    assert '<progress max="100" value="0"' in page
    assert "Waiting" in page
    assert "<html" not in page  # a partial, not a page


def test_many_waiting_documents_poll_less_often_and_a_processing_one_every_second(user_client, user):
    # 200 pages uploaded at once polled every second each: 70 requests a second to the web process for minutes.
    waiting = DocumentFactory.create_batch(40, owner=user, status=Document.Status.PENDING, progress=0)
    running = DocumentFactory(owner=user, status=Document.Status.PROCESSING, progress=30)
    found = rows(page_of(user_client.get(reverse("documents:list"))))
    assert all('hx-trigger="every 10s"' in found[str(document.id)] for document in waiting)  # 40 / 4 a second
    assert 'hx-trigger="every 1s"' in found[str(running.id)]
    page = page_of(user_client.get(reverse("documents:status", args=[waiting[0].id])))
    assert 'hx-trigger="every 10s"' in page


def test_the_list_says_how_far_indexing_has_come_over_every_page(user_client, user):
    # Page 1 holds the newest documents, indexed last: its rows said "Waiting" for minutes with nothing moving.
    DocumentFactory.create_batch(3, owner=user, status=Document.Status.READY, chunk_count=2)
    DocumentFactory(owner=user, status=Document.Status.FAILED)
    DocumentFactory(owner=user, status=Document.Status.PROCESSING, progress=50)
    DocumentFactory.create_batch(60, owner=user, status=Document.Status.PENDING)
    page = page_of(user_client.get(reverse("documents:list")))
    assert "Indexing: 4 of 65 done, 1 in progress, 60 waiting (1 failed)." in page
    assert f'hx-get="{reverse("documents:progress")}" hx-trigger="every 2s"' in page
    assert '<progress max="65" value="4"' in page

    Document.objects.filter(status__in=["pending", "processing"]).update(status=Document.Status.READY)
    last = page_of(user_client.get(reverse("documents:progress")))
    assert "All 65 documents indexed; 1 failed (marked Failed in the list)." in last and "hx-get" not in last
    assert "Indexing" not in page_of(user_client.get(reverse("documents:list")))  # nothing to say on a new visit


def test_a_processing_document_shows_its_progress(user_client, user):
    document = DocumentFactory(owner=user, title="Halfway", status=Document.Status.PROCESSING, progress=40)
    page = page_of(user_client.get(reverse("documents:status", args=[document.id])))
    assert 'hx-trigger="every 1s"' in page
    assert '<progress max="100" value="40"' in page
    assert "Processing 40%" in page


def test_a_ready_document_stops_polling_and_shows_its_passages(user_client, user):
    document = DocumentFactory(owner=user, title="Done", status=Document.Status.READY, progress=100, chunk_count=7)
    page = page_of(user_client.get(reverse("documents:status", args=[document.id])))
    assert "Ready" in page
    assert "7 passages" in page
    assert "hx-trigger" not in page and "hx-get" not in page
    assert "<progress" not in page
    assert "Retry" not in page


def test_a_failed_document_shows_the_reason_and_a_retry_button(user_client, user):
    reason = "This PDF is password-protected; remove the password and upload it again."
    document = DocumentFactory(owner=user, title="Locked", status=Document.Status.FAILED, progress=0, error=reason)
    page = page_of(user_client.get(reverse("documents:status", args=[document.id])))
    assert "Failed" in page
    assert f'<p class="document-error">{reason}</p>' in page
    assert f'action="{reverse("documents:retry", args=[document.id])}"' in page
    assert ">Retry</button>" in page
    assert "hx-trigger" not in page and "<progress" not in page


def test_a_document_whose_file_failed_offers_no_retry_and_a_new_version_clears_the_mark(user, user_client):
    reason = "This document has more than 5,000,000 characters of text, which is too much to process."
    document = DocumentFactory(
        owner=user, title="Big", status=Document.Status.FAILED, error=reason, metadata={"failure": "content"}
    )
    page = page_of(user_client.get(reverse("documents:status", args=[document.id])))
    assert reason in page and ">Retry</button>" not in page


def test_retry_queues_the_document_again(user_client, user, django_capture_on_commit_callbacks):
    document = DocumentFactory(
        owner=user, status=Document.Status.FAILED, progress=30, error="Processing failed unexpectedly (KeyError)."
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = user_client.post(reverse("documents:retry", args=[document.id]))
    assert response.status_code == 302 and response.url == reverse("documents:list")
    assert len(callbacks) == 1
    document.refresh_from_db()
    assert (document.status, document.progress, document.error) == (Document.Status.PENDING, 0, "")


def test_retry_from_htmx_swaps_in_the_polling_row(user_client, user, django_capture_on_commit_callbacks):
    document = DocumentFactory(owner=user, status=Document.Status.FAILED, progress=0, error="Broken.")
    with django_capture_on_commit_callbacks(execute=False):
        response = user_client.post(reverse("documents:retry", args=[document.id]), headers={"HX-Request": "true"})
    assert response.status_code == 200
    page = page_of(response)
    assert list(rows(page)) == [str(document.id)]
    assert 'hx-trigger="every 1s"' in page and '<progress max="100" value="0"' in page
    assert "Broken." not in page


def test_deleting_a_document_removes_it_and_its_file(user_client, user, django_capture_on_commit_callbacks):
    document = DocumentFactory(
        owner=user, title="Old notes", file=ContentFile(PLAIN_TXT, name="old.txt"), original_name="old.txt"
    )
    ChunkFactory(document=document, ordinal=0)
    path = document.file.path
    with django_capture_on_commit_callbacks(execute=True):
        response = user_client.post(reverse("documents:delete", args=[document.id]), follow=True)
    assert flashes(response) == [("success", "“Old notes” deleted.")]
    assert not Document.objects.exists() and not Chunk.objects.exists()
    assert not os.path.exists(path)


def test_a_documents_page_offers_its_owner_a_confirmed_delete_that_returns_to_the_list(user_client, user):
    document = manual_document(user, "Some text.", title="Old notes")
    page = page_of(user_client.get(reverse("documents:detail", args=[document.id])))
    # Only the list had Delete: the page of the document itself did not.
    form = page.split(f'action="{reverse("documents:delete", args=[document.id])}"', 1)[1].split("</form>", 1)[0]
    assert 'name="csrfmiddlewaretoken"' in form and 'data-confirm="Delete “Old notes”?"' in form
    response = user_client.post(reverse("documents:delete", args=[document.id]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("documents:list")
    assert flashes(response) == [("success", "“Old notes” deleted.")] and not Document.objects.exists()


def test_a_shared_documents_page_offers_no_delete(user_client, shared_document):
    document = shared_document["document"]
    page = page_of(user_client.get(reverse("documents:detail", args=[document.id])))
    assert reverse("documents:delete", args=[document.id]) not in page


# --- 4. Object-level access (CVE-2026-45402-style regression, views part) ----------------------------------------


def snapshot() -> dict:
    return {
        "documents": set(
            Document.objects.values_list("id", "owner_id", "title", "status", "progress", "error", "file")
        ),
        "versions": set(DocumentVersion.objects.values_list("id", "document_id", "number", "content")),
        "suggestions": set(Suggestion.objects.values_list("id", "is_resolved", "accepted")),
        "chunks": set(Chunk.objects.values_list("id", "document_id", "text")),
    }


@pytest.fixture
def theirs(other):
    """Another user's failed upload with two versions, an open suggestion and a passage."""
    document = DocumentFactory(
        owner=other,
        title="Their secret plans",
        status=Document.Status.FAILED,
        error="Their failure.",
        file=ContentFile(b"Their secret plans: launch at dawn.\n", name="plans.txt"),
        original_name="plans.txt",
    )
    first = DocumentVersionFactory(document=document, number=1, content="Their secret plans: launch at dawn.")
    second = DocumentVersionFactory(document=document, number=2, content="Their secret plans: launch at dusk.")
    suggestion = SuggestionFactory(version=second, original_text="dusk", suggested_text="noon")
    chunk = ChunkFactory(document=document, ordinal=0, text="Their secret plans: launch at dusk.")
    return {"document": document, "first": first, "second": second, "suggestion": suggestion, "chunk": chunk}


def _requests(o: dict) -> list[tuple[str, str, dict]]:
    d, s = o["document"].id, o["suggestion"].id
    return [
        ("get", reverse("documents:detail", args=[d]), {}),
        ("get", reverse("documents:status", args=[d]), {}),
        ("post", reverse("documents:retry", args=[d]), {}),
        ("post", reverse("documents:delete", args=[d]), {}),
        ("post", reverse("documents:save", args=[d]), {"content": "Intruder was here"}),
        ("post", reverse("documents:suggest", args=[d]), {}),
        ("get", reverse("documents:version", args=[o["second"].id]), {}),
        ("post", reverse("documents:restore", args=[o["first"].id]), {}),
        ("post", reverse("documents:suggestion", args=[s, "accept"]), {}),
        ("post", reverse("documents:suggestion", args=[s, "reject"]), {}),
        ("get", reverse("documents:chunk", args=[o["chunk"].id]), {}),
    ]


REQUEST_IDS = [
    "detail", "status", "retry", "delete", "save", "suggest", "version", "restore", "accept", "reject", "chunk",
]  # fmt: skip


@pytest.mark.parametrize("index", range(len(REQUEST_IDS)), ids=REQUEST_IDS)
def test_another_users_objects_are_404_and_nothing_changes(
    user_client, theirs, fake_anthropic, settings, django_capture_on_commit_callbacks, index
):
    settings.ANTHROPIC_API_KEY = "sk-ant-operator-key"  # a model is available: a 404 is the only thing stopping it
    method, url, data = _requests(theirs)[index]
    before = snapshot()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = getattr(user_client, method)(url, data)
    assert response.status_code == 404
    assert "secret plans" not in page_of(response)
    assert snapshot() == before
    assert callbacks == []  # no ingestion queued
    assert fake_anthropic.requests == []  # the document never reached the model


@pytest.mark.parametrize("index", range(len(REQUEST_IDS)), ids=REQUEST_IDS)
def test_the_owner_reaches_the_same_urls(client, theirs, other, settings, django_capture_on_commit_callbacks, index):
    """The control for the test above: these URLs work for the owner, so the 404 is the access check."""
    settings.ANTHROPIC_API_KEY = ""
    client.force_login(other)
    method, url, data = _requests(theirs)[index]
    with django_capture_on_commit_callbacks(execute=False):
        response = getattr(client, method)(url, data)
    assert response.status_code in {200, 302}


@pytest.fixture
def shared_document(db):
    document = DocumentFactory(
        owner=None,
        title="Staff handbook",
        chunk_count=1,
        file=ContentFile(b"# Handbook\n\nHolidays are booked in the portal.\n", name="handbook.md"),
        original_name="handbook.md",
    )
    chunk = ChunkFactory(
        document=document, ordinal=0, text="Holidays are booked in the portal.", chapter="Handbook", section=""
    )
    return {"document": document, "chunk": chunk}


def test_a_shared_document_is_readable_by_any_registered_user(user_client, shared_document):
    document, chunk = shared_document["document"], shared_document["chunk"]
    page = page_of(user_client.get(reverse("documents:detail", args=[document.id])))
    assert "Staff handbook" in page
    assert "Shared library" in page
    assert '<pre class="document-text"># Handbook\n\nHolidays are booked in the portal.</pre>' in page
    # Read-only: no editor, no suggestions, no history actions.
    assert "<textarea" not in page
    assert reverse("documents:save", args=[document.id]) not in page
    assert reverse("documents:suggest", args=[document.id]) not in page

    page = page_of(user_client.get(reverse("documents:chunk", args=[chunk.id])))
    assert "Holidays are booked in the portal." in page
    assert "Staff handbook" in page

    row = page_of(user_client.get(reverse("documents:status", args=[document.id])))
    assert reverse("documents:delete", args=[document.id]) not in row


@pytest.mark.parametrize("action", ["retry", "delete", "save", "suggest"])
def test_a_shared_document_cannot_be_changed_by_a_user(
    user_client, shared_document, fake_anthropic, settings, django_capture_on_commit_callbacks, action
):
    settings.ANTHROPIC_API_KEY = "sk-ant-operator-key"
    document = shared_document["document"]
    document.status, document.error = Document.Status.FAILED, "Broken."
    document.save(update_fields=["status", "error"])
    before = snapshot()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = user_client.post(reverse(f"documents:{action}", args=[document.id]), {"content": "Vandalised"})
    assert response.status_code == 404
    assert snapshot() == before
    assert callbacks == [] and fake_anthropic.requests == []


# --- 5. Editor and versions ---------------------------------------------------------------------------------------


def test_saving_new_content_creates_the_next_version_and_reindexes(
    user_client, user, django_capture_on_commit_callbacks
):
    document = manual_document(user, "First draft.")
    page = page_of(user_client.get(reverse("documents:detail", args=[document.id])))
    assert textarea(page) == "First draft."
    assert "version 1" in page

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = user_client.post(
            reverse("documents:save", args=[document.id]), {"content": "Second draft, <better>."}, follow=True
        )

    assert response.redirect_chain == [(reverse("documents:detail", args=[document.id]), 302)]
    assert flashes(response) == [("success", "Saved as version 2; it is being re-indexed.")]
    assert len(callbacks) == 1
    versions = list(document.versions.order_by("number").values_list("number", "content", "author_id", "created_by"))
    assert versions == [(1, "First draft.", user.id, "user"), (2, "Second draft, <better>.", user.id, "user")]
    document.refresh_from_db()
    assert (document.status, document.progress) == (Document.Status.PENDING, 0)
    page = page_of(response)
    assert textarea(page) == "Second draft, <better>."
    assert "&lt;better&gt;" in page  # escaped in the editor


def test_the_first_edit_of_an_upload_keeps_the_extracted_text_as_version_1(
    user_client, user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        user_client.post(reverse("documents:upload"), {"files": [upload("notes.md", NOTES_MD)]})
    document = Document.objects.get()
    Document.objects.filter(id=document.id).update(status=Document.Status.READY, progress=100, chunk_count=2)

    page = page_of(user_client.get(reverse("documents:detail", args=[document.id])))
    shown = textarea(page)
    # The editor shows the text with its headings: they are the chapter and section passages are cited under.
    assert shown == (
        "# Notes\n\n## Part one\n\nOriginal paragraph about pgvector.\n\n## Part two\n\nA second paragraph."
    )
    assert "History" not in page  # no versions yet

    edited = shown.replace("Original paragraph", "Edited paragraph")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = user_client.post(reverse("documents:save", args=[document.id]), {"content": edited}, follow=True)

    assert flashes(response) == [("success", "Saved as version 2; it is being re-indexed.")]
    assert len(callbacks) == 1
    first, second = document.versions.order_by("number")
    assert (first.number, first.content, first.author_id, first.created_by) == (1, shown, user.id, "user")
    assert (second.number, second.content) == (2, edited)
    # Re-indexing from a version (as Markdown) gives the same chapters and sections as the uploaded file did.
    original = parse_document(NOTES_MD, "notes.md")
    assert parse_document(first.content.encode(), "document.md").sections == original.sections
    assert [(s.chapter, s.section) for s in parse_document(second.content.encode(), "document.md").sections] == [
        ("Notes", "Part one"),
        ("Notes", "Part two"),
    ]
    document.refresh_from_db()
    assert document.status == Document.Status.PENDING


def test_empty_content_is_refused_and_no_version_is_made(user_client, user, django_capture_on_commit_callbacks):
    document = manual_document(user, "Keep me.")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = user_client.post(reverse("documents:save", args=[document.id]), {"content": "  \n\t "}, follow=True)
    assert flashes(response) == [("error", "The document cannot be empty. Delete it instead.")]
    assert callbacks == []
    assert list(document.versions.values_list("number", "content")) == [(1, "Keep me.")]
    document.refresh_from_db()
    assert document.status == Document.Status.READY
    assert textarea(page_of(response)) == "Keep me."


def test_the_history_lists_every_version_newest_first(user_client, user):
    document = manual_document(user, "one", "two", "three")
    page = page_of(user_client.get(reverse("documents:detail", args=[document.id])))
    history = page.split('aria-label="History"', 1)[1]
    assert re.findall(r"Version (\d+) · User", history) == ["3", "2", "1"]
    versions = {v.number: v for v in document.versions.all()}
    for number in (1, 2, 3):
        assert reverse("documents:version", args=[versions[number].id]) in history
    # The latest version cannot be "restored" (it is the current text); older ones can.
    assert reverse("documents:restore", args=[versions[3].id]) not in history
    assert reverse("documents:restore", args=[versions[2].id]) in history
    assert reverse("documents:restore", args=[versions[1].id]) in history
    assert textarea(page) == "three"


def test_the_diff_marks_added_and_removed_lines(user_client, user):
    document = manual_document(user, "alpha\nbeta\ngamma", "alpha\nBETA\ngamma\ndelta <b>")
    second = document.versions.get(number=2)
    page = page_of(user_client.get(reverse("documents:version", args=[second.id])))
    assert "Version 2 compared with version 1" in page
    diff = page.split('<div class="diff">', 1)[1].split("</div>", 1)[0]
    assert re.findall(r'<del class="removed">(.*?)</del>', diff) == ["-beta"]
    assert re.findall(r'<ins class="added">(.*?)</ins>', diff) == ["+BETA", "+delta &lt;b&gt;"]
    # Unchanged lines are context, not marked up; the "--- / +++" file header is not shown as a change.
    assert "\n alpha\n" in diff and "\n gamma\n" in diff
    assert "---" not in diff and "+++" not in diff
    assert '<span class="hunk">@@ -1,3 +1,4 @@</span>' in diff


def test_the_diff_of_version_1_is_all_additions(user_client, user):
    document = manual_document(user, "only line\nsecond line")
    page = page_of(user_client.get(reverse("documents:version", args=[document.versions.get().id])))
    assert "<h1>Version 1</h1>" in page
    diff = page.split('<div class="diff">', 1)[1].split("</div>", 1)[0]
    assert re.findall(r'<ins class="added">(.*?)</ins>', diff) == ["+only line", "+second line"]
    assert "<del" not in diff


def test_a_version_identical_to_the_previous_shows_no_changes(user_client, user):
    document = manual_document(user, "same", "same")
    page = page_of(user_client.get(reverse("documents:version", args=[document.versions.get(number=2).id])))
    assert "No changes." in page


def test_restoring_an_old_version_makes_it_the_newest(user_client, user, django_capture_on_commit_callbacks):
    document = manual_document(user, "the original text", "a worse rewrite")
    first = document.versions.get(number=1)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = user_client.post(reverse("documents:restore", args=[first.id]), follow=True)
    assert flashes(response) == [("success", "Version 1 restored as version 3.")]
    assert len(callbacks) == 1
    assert list(document.versions.order_by("number").values_list("number", "content")) == [
        (1, "the original text"),
        (2, "a worse rewrite"),
        (3, "the original text"),
    ]
    assert textarea(page_of(response)) == "the original text"
    document.refresh_from_db()
    assert document.status == Document.Status.PENDING


# --- 6. Suggestions -----------------------------------------------------------------------------------------------

TYPO_TEXT = "The quick brwon fox jumps over the lazy dog.\n\nIt was teh best of times."


def test_without_a_model_suggest_explains_why_there_are_none(user_client, user, settings, fake_anthropic):
    settings.ANTHROPIC_API_KEY = ""
    document = manual_document(user, TYPO_TEXT)
    response = user_client.post(reverse("documents:suggest", args=[document.id]), follow=True)
    assert flashes(response) == [
        ("info", "No suggestions: no language model is configured. Add an API key in Settings → API keys.")
    ]
    assert not Suggestion.objects.exists()
    assert document.versions.count() == 1
    assert fake_anthropic.requests == []


def test_without_a_model_an_uploaded_document_gets_no_version_from_asking(user_client, user, settings):
    """Suggestions start from version 1 (the file's text); without a model nothing is asked, so no version is made
    and the page does not speak of edits nobody made."""
    settings.ANTHROPIC_API_KEY = ""
    from documents.services import document_upload

    document = document_upload(owner=user, filename="notes.md", data=TYPO_TEXT.encode(), queue=False).document
    response = user_client.post(reverse("documents:suggest", args=[document.id]), follow=True)
    assert flashes(response)[0][1].startswith("No suggestions: no language model is configured")
    assert document.versions.count() == 0
    assert "without the edits made here" not in page_of(response)


def test_suggestions_that_match_the_text_are_stored_and_shown(user_client, user, fake_anthropic):
    provider_key_save(user=user, provider="anthropic", api_key="sk-ant-test-0123456789", client=SYSTEM)
    document = manual_document(user, TYPO_TEXT)
    fake_anthropic.behaviour.reply = json.dumps(
        [
            {"original_text": "brwon", "suggested_text": "brown", "description": "Fix the spelling of “brown”."},
            {"original_text": "a sentence that is not there", "suggested_text": "anything", "description": "Made up."},
        ]
    )

    response = user_client.post(reverse("documents:suggest", args=[document.id]), follow=True)

    assert flashes(response) == [("success", "1 suggestion to review below.")]
    assert len(fake_anthropic.requests) == 1
    prompt = fake_anthropic.requests[0]["messages"][-1]["content"]
    assert TYPO_TEXT in (prompt if isinstance(prompt, str) else prompt[0]["text"])
    suggestion = Suggestion.objects.get()
    assert (suggestion.original_text, suggestion.suggested_text) == ("brwon", "brown")
    assert suggestion.version == document.versions.get()
    assert suggestion.user == user
    assert (suggestion.is_resolved, suggestion.accepted) == (False, None)
    page = page_of(response)
    section = page.split('aria-label="Suggestions"', 1)[1].split("</section>", 1)[0]
    assert "Fix the spelling of “brown”." in section
    assert "<del>brwon</del> → <ins>brown</ins>" in section
    assert f'action="{reverse("documents:suggestion", args=[suggestion.id, "accept"])}"' in section
    assert f'action="{reverse("documents:suggestion", args=[suggestion.id, "reject"])}"' in section
    assert ">Accept</button>" in section and ">Reject</button>" in section
    assert "Made up." not in page

    # Accepting applies it as a new version.
    with_callbacks = user_client.post(reverse("documents:suggestion", args=[suggestion.id, "accept"]), follow=True)
    assert flashes(with_callbacks) == [("success", "Suggestion applied as version 2.")]
    latest = document.versions.get(number=2)
    assert latest.content == TYPO_TEXT.replace("brwon", "brown")
    assert latest.created_by == DocumentVersion.Author.ASSISTANT
    suggestion.refresh_from_db()
    assert (suggestion.is_resolved, suggestion.accepted) == (True, True)
    assert 'aria-label="Suggestions"' not in page_of(with_callbacks)  # resolved ones are no longer offered


def test_a_failing_model_is_reported_and_stores_nothing(user_client, user, fake_anthropic):
    provider_key_save(user=user, provider="anthropic", api_key="sk-ant-test-0123456789", client=SYSTEM)
    document = manual_document(user, TYPO_TEXT)
    fake_anthropic.behaviour.fail = "500"
    response = user_client.post(reverse("documents:suggest", args=[document.id]), follow=True)
    assert flashes(response) == [
        ("info", "The model could not be asked for suggestions right now (InternalServerError).")
    ]
    assert not Suggestion.objects.exists()


def test_accepting_and_rejecting_suggestions(user_client, user, django_capture_on_commit_callbacks):
    document = manual_document(user, TYPO_TEXT)
    version = document.versions.get()
    accept = SuggestionFactory(version=version, original_text="teh", suggested_text="the")
    reject = SuggestionFactory(version=version, original_text="brwon", suggested_text="brown")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = user_client.post(reverse("documents:suggestion", args=[reject.id, "reject"]), follow=True)
    assert flashes(response) == [("info", "Suggestion dismissed.")]
    assert callbacks == []
    reject.refresh_from_db()
    assert (reject.is_resolved, reject.accepted) == (True, False)
    assert document.versions.count() == 1
    page = page_of(response)
    assert reverse("documents:suggestion", args=[reject.id, "accept"]) not in page
    assert reverse("documents:suggestion", args=[accept.id, "accept"]) in page

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = user_client.post(reverse("documents:suggestion", args=[accept.id, "accept"]), follow=True)
    assert flashes(response) == [("success", "Suggestion applied as version 2.")]
    assert len(callbacks) == 1
    assert (
        document.versions.get(number=2).content
        == "The quick brwon fox jumps over the lazy dog.\n\nIt was the best of times."
    )
    accept.refresh_from_db()
    assert (accept.is_resolved, accept.accepted) == (True, True)

    # Resolving again changes nothing.
    user_client.post(reverse("documents:suggestion", args=[reject.id, "accept"]))
    reject.refresh_from_db()
    assert (reject.is_resolved, reject.accepted) == (True, False)
    assert document.versions.count() == 2


def test_a_suggestion_whose_text_is_gone_is_refused(user_client, user):
    document = manual_document(user, "It was teh best of times.", "It was the worst of times.")
    stale = SuggestionFactory(version=document.versions.get(number=1), original_text="teh", suggested_text="the")
    response = user_client.post(reverse("documents:suggestion", args=[stale.id, "accept"]), follow=True)
    assert flashes(response) == [("error", "The text this suggestion changes is no longer in the document.")]
    assert document.versions.count() == 2
    stale.refresh_from_db()
    assert (stale.is_resolved, stale.accepted) == (False, None)


def test_an_unknown_suggestion_action_is_a_bad_request(user_client, user):
    suggestion = SuggestionFactory(version=manual_document(user, TYPO_TEXT).versions.get())
    response = user_client.post(reverse("documents:suggestion", args=[suggestion.id, "delete"]))
    assert response.status_code == 400
    suggestion.refresh_from_db()
    assert not suggestion.is_resolved


# --- 7. A passage in its document ---------------------------------------------------------------------------------


def test_a_passage_is_shown_highlighted_between_its_neighbours(user_client, user):
    document = DocumentFactory(owner=user, title="Install guide", chunk_count=5)
    chunks = [
        ChunkFactory(
            document=document,
            ordinal=n,
            text=f"Passage number {n} of the guide.",
            chapter="Chapter 2: Installing",
            section="Prerequisites",
            char_start=n * 100,
            char_end=n * 100 + 31,
        )
        for n in range(5)
    ]
    page = page_of(user_client.get(reverse("documents:chunk", args=[chunks[2].id])))

    assert "<h1>Install guide</h1>" in page
    assert '<p class="muted">Chapter 2: Installing › Prerequisites</p>' in page, "where it is, in words"
    assert f'href="{reverse("documents:detail", args=[document.id])}"' in page
    passages = re.findall(r'<p class="(passage|muted)"[^>]*>(Passage number \d of the guide\.)</p>', page)
    assert passages == [
        ("muted", "Passage number 1 of the guide."),
        ("passage", "Passage number 2 of the guide."),
        ("muted", "Passage number 3 of the guide."),
    ]
    assert 'id="passage"' in page
    assert "Passage number 0" not in page and "Passage number 4" not in page


def test_the_first_passage_has_only_a_following_neighbour(user_client, user):
    document = DocumentFactory(owner=user, title="Short")
    first = ChunkFactory(document=document, ordinal=0, text="Opening words.", chapter="Intro", section="")
    ChunkFactory(document=document, ordinal=1, text="Closing words.", chapter="Intro", section="")
    page = page_of(user_client.get(reverse("documents:chunk", args=[first.id])))
    passages = re.findall(r'<p class="(passage|muted)"[^>]*>(\w+ words\.)</p>', page)
    assert passages == [("passage", "Opening words."), ("muted", "Closing words.")]
    assert '<p class="muted">Intro</p>' in page and "›" not in page.split("<h1>", 1)[1].split("</p>", 1)[0]


def test_staff_adding_a_file_in_the_admin_queues_its_ingestion(client, db, django_capture_on_commit_callbacks):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from documents.models import Document
    from tests.factories import UserFactory

    staff = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    upload = SimpleUploadedFile("faq.md", b"# FAQ\n\n## Hours\n\nOpen 9 to 5.")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            "/admin/documents/document/add/",
            {
                "title": "FAQ", "kind": "text", "source": "upload", "status": "pending", "progress": 0,
                "metadata": "{}", "file": upload,
                "versions-TOTAL_FORMS": 0, "versions-INITIAL_FORMS": 0, "versions-MIN_NUM_FORMS": 0,
                "versions-MAX_NUM_FORMS": 1000,
            },
        )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    document = Document.objects.get(title="FAQ")
    assert document.owner is None and document.size == 29 and len(document.content_hash) == 64
    assert document.status == "pending" and len(callbacks) == 1, "ingestion queued once, after commit"


def test_a_documents_page_follows_its_indexing_until_it_is_done(user, user_client):
    # After "Save as a new version" the page said "Waiting · version 2" until it was reloaded by hand.
    document = DocumentFactory(owner=user, title="Notes", status=Document.Status.PROCESSING, progress=40)
    page = user_client.get(reverse("documents:detail", args=[document.id])).content.decode()
    url = reverse("documents:detail", args=[document.id])
    assert f'id="document-state" role="status" hx-get="{url}" hx-select="#document-state"' in page
    assert "Processing 40%" in page
    Document.objects.filter(id=document.id).update(status=Document.Status.READY, chunk_count=3)
    page = user_client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "Ready · 3 passages" in page and 'hx-select="#document-state"' not in page, "done: the polling stops"


def test_a_passage_over_several_chunks_is_marked_whole_in_its_document(user_client, user):
    """A citation may run over consecutive chunks (retrieval joins neighbours): ?chunks=N marks them all as one
    text, each overlap once, between the text just before and after it; any other value marks the one chunk."""
    document = DocumentFactory(owner=user, title="Freezer manual")
    words = [f"w{i:02}" for i in range(60)]  # three characters each: word n starts at 4n
    full = " ".join(words)
    spans = [(0, 14), (10, 24), (20, 34), (30, 44), (40, 54), (50, 60)]  # in words; four overlap a chunk
    chunks = [
        ChunkFactory(document=document, ordinal=i, text=" ".join(words[a:b]), char_start=4 * a, char_end=4 * b - 1)
        for i, (a, b) in enumerate(spans)
    ]
    assert all(full[c.char_start : c.char_end] == c.text for c in chunks)
    url = reverse("documents:chunk", args=[chunks[1].id])

    def pieces(page: str) -> list[tuple[str, str]]:
        shown = page.partition('<div class="passages">')[2]
        return re.findall(r'<p class="(passage|muted)"[^>]*>([^<]*)</p>', shown)

    page = page_of(user_client.get(url + "?chunks=3"))
    assert (
        pieces(page)
        == [
            ("muted", " ".join(words[0:10])),  # the chunk before, up to where the passage starts
            ("passage", " ".join(words[10:44])),  # three chunks, each overlap once
            ("muted", " ".join(words[44:54])),  # the chunk after, from where the passage ends
        ]
    )
    assert page.count('id="passage"') == 1

    for value in ("abc", "0", "-4", "1e3", "9" * 5000, "\x00", "2.5"):
        response = user_client.get(url, {"chunks": value})
        assert response.status_code == 200, value
        assert [kind for kind, _ in pieces(page_of(response))] == ["muted", "passage", "muted"], value
        assert pieces(page_of(response))[1] == ("passage", " ".join(words[10:24])), value
    at_most = page_of(user_client.get(url + "?chunks=99"))  # no more than a passage can span
    assert pieces(at_most)[1] == ("passage", " ".join(words[10:44]))


def test_a_passage_whose_offsets_say_nothing_is_shown_chunk_by_chunk(user_client, user):
    """Rows whose offsets do not say how they follow each other are shown whole; the cited ones as one mark."""
    document = DocumentFactory(owner=user, title="Old manual")
    chunks = [
        ChunkFactory(document=document, ordinal=i, text=f"passage {i}", char_start=0, char_end=9) for i in range(4)
    ]
    page = page_of(user_client.get(reverse("documents:chunk", args=[chunks[1].id]) + "?chunks=2"))
    shown = page.partition('<div class="passages">')[2]
    found = re.findall(r'<p class="(passage|muted)"[^>]*>(.*?)</p>', shown, re.S)
    assert found == [("muted", "passage 0"), ("passage", "passage 1<br>passage 2"), ("muted", "passage 3")]


def test_the_pickers_accept_list_offers_every_suffix_the_folder_import_reads(user_client):
    """The page's folder upload keeps the files its input's accept list names: every format read, .tsv included."""
    from documents.parsing import DOCUMENT_SUFFIXES

    page = user_client.get(reverse("documents:list")).content.decode()
    accept = set(re.search(r'id="upload-files"[^>]*accept="([^"]*)"', page).group(1).split(","))
    assert accept >= DOCUMENT_SUFFIXES and ".tsv" in accept and "application/pdf" in accept
