"""Uploaded files are served only through views that check who may read them, and never as a page of this origin.

The original of a document (documents:original) goes to its owner, or to any registered user for the shared library;
another user gets a 404, an anonymous visitor the login page. Whatever the file, the response is an attachment with
a sanitised name, `nosniff` and a sandboxing CSP; only PNG/JPEG/GIF/WebP images, typed by their bytes, are inline.
No route serves MEDIA_ROOT (not even in DEBUG), and stored files have no URL at all. Renaming a document is here too.
"""

from __future__ import annotations

import asyncio
import importlib
import io
import re
import struct
import warnings
import zlib
from urllib.parse import unquote

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.handlers.asgi import ASGIRequest
from django.test import Client
from django.urls import clear_url_caches, reverse

from chatbot.downloads import content_disposition, image_type, safe_filename, stored_file_response
from documents.models import Document
from documents.retrieval import RetrievalOptions, search
from tests.factories import (
    AttachmentFactory,
    ChunkFactory,
    DocumentFactory,
    DocumentVersionFactory,
    GuestFactory,
    UserFactory,
    unit_vector,
)

NOTES_MD = b"# Notes\n\nA paragraph about pgvector.\n"
# What the issue reported: an uploaded page that, served inline, navigated the app's tab away.
HOSTILE_HTML = (
    b'<!doctype html><html><head><meta http-equiv="refresh" content="0; url=https://evil.example/">'
    b"<title>Invoice</title></head><body><p>Your invoice.</p><script>document.title = 'ran'</script></body></html>"
)
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.domain)</script></svg>'


def png(width: int = 1, height: int = 1) -> bytes:
    """A valid PNG of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x2a\x52\xcc" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def page_of(response) -> str:
    return response.content.decode()


def uploaded(owner, data: bytes, name: str, mime_type: str = "text/plain", **fields) -> Document:
    return DocumentFactory(
        owner=owner, file=ContentFile(data, name="upload"), original_name=name, mime_type=mime_type,
        size=len(data), **fields,
    )  # fmt: skip


def original(document: Document) -> str:
    return reverse("documents:original", args=[document.id])


def assert_protected(response) -> None:
    assert response["X-Content-Type-Options"] == "nosniff"
    csp = response["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "sandbox" in csp
    directives = {directive.strip() for directive in response["Cache-Control"].split(",")}
    assert "private" in directives and "public" not in directives
    assert response["Cross-Origin-Resource-Policy"] == "same-origin"


@pytest.fixture
def other(db):
    return UserFactory()


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- 1. Downloading the original ----------------------------------------------------------------------------------


def test_the_owner_downloads_their_upload_byte_for_byte_as_an_attachment(
    user_client, user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        user_client.post(
            reverse("documents:upload"), {"files": [SimpleUploadedFile("notes.md", NOTES_MD, "text/markdown")]}
        )
    document = Document.objects.get()

    response = user_client.get(original(document))

    assert response.status_code == 200
    assert body(response) == NOTES_MD
    assert response["Content-Type"] == "text/markdown"
    assert response["Content-Length"] == str(len(NOTES_MD))
    assert response["Content-Disposition"] == "attachment; filename=\"notes.md\"; filename*=UTF-8''notes.md"
    assert_protected(response)
    assert response["Cache-Control"] == "private"


def test_another_user_gets_a_404_and_not_a_byte(client, user, other):
    document = uploaded(user, b"My private diary.\n", "diary.txt")
    response = client_for(other).get(original(document))
    assert response.status_code == 404
    assert b"private diary" not in response.content
    assert "Content-Disposition" not in response


def test_an_anonymous_visitor_is_sent_to_log_in_and_a_guest_to_sign_up(client, user):
    document = uploaded(user, b"My private diary.\n", "diary.txt")
    url = original(document)
    response = client.get(url)
    assert response.status_code == 302 and response.url == f"{reverse('account_login')}?next={url}"

    response = client_for(GuestFactory()).get(url)
    assert response.status_code == 302 and response.url == reverse("account_signup")


def test_a_shared_library_document_is_downloadable_by_any_registered_user(user_client):
    handbook = uploaded(None, NOTES_MD, "handbook.md", "text/markdown")
    response = user_client.get(original(handbook))
    assert response.status_code == 200
    assert body(response) == NOTES_MD
    assert_protected(response)


def test_an_uploaded_html_page_is_an_opaque_attachment_never_a_page(
    user_client, user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        user_client.post(
            reverse("documents:upload"), {"files": [SimpleUploadedFile("invoice.html", HOSTILE_HTML, "text/html")]}
        )
    document = Document.objects.get()
    assert document.mime_type == "text/html"

    response = user_client.get(original(document))

    assert response.status_code == 200
    assert body(response) == HOSTILE_HTML
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment;")
    assert_protected(response)


@pytest.mark.parametrize(
    ("data", "name", "mime_type"),
    [(SVG, "logo.svg", "image/svg+xml"), (SVG, "photo.png", "image/png"), (HOSTILE_HTML, "photo.png", "image/png")],
    ids=["svg", "svg-named-png", "html-named-png"],
)
def test_only_bytes_that_are_a_raster_image_are_shown_inline(user_client, user, data, name, mime_type):
    document = uploaded(user, data, name, mime_type)
    response = user_client.get(original(document))
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment;")
    assert_protected(response)


def test_a_png_is_shown_inline_typed_by_its_bytes_not_its_name(user_client, user):
    image = png()
    document = uploaded(user, image, "diagram.svg", "image/svg+xml")
    response = user_client.get(original(document))
    assert response.status_code == 200
    assert body(response) == image
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"] == "inline; filename=\"diagram.svg\"; filename*=UTF-8''diagram.svg"
    assert_protected(response)  # still sandboxed, should it be opened on its own


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (png()[:16], "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "image/jpeg"),
        (b"GIF89a\x01\x00\x01\x00", "image/gif"),
        (b"GIF87a\x01\x00\x01\x00", "image/gif"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
        (SVG[:16], None),
        (HOSTILE_HTML[:16], None),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", None),
        (b"", None),
    ],
)
def test_image_types_are_read_from_the_first_bytes(head, expected):
    assert image_type(head) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ('say "hi".txt', "say _hi_.txt"),
        ("report\r\nSet-Cookie: session=stolen.txt", "reportSet-Cookie_ session=stolen.txt"),
        ("nul\x00byte.txt", "nulbyte.txt"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),  # a right-to-left override would show "invoiceexe.pdf"
        ("résumé 日本語.md", "résumé 日本語.md"),
        (".htaccess", "htaccess"),
        ("...", "download"),
        ("", "download"),
        ("a" * 300 + ".pdf", "a" * 146 + ".pdf"),
        ("b" * 300, "b" * 150),
    ],
    ids=["quotes", "crlf", "nul", "posix-path", "windows-path", "rtl-override", "unicode", "dotfile", "dots", "empty",
         "long-with-extension", "long"],
)  # fmt: skip
def test_hostile_file_names_are_made_safe(name, expected):
    assert safe_filename(name) == expected


HOSTILE_NAMES = [
    'a"; filename="evil.html', "x\r\nSet-Cookie: a=b", "../../etc/passwd", "日本語\u202e.txt", "a" * 250 + ".txt",
    "100% sure.txt", "back\\slash.txt", "semi;colon,comma.txt",
]  # fmt: skip


def assert_one_safe_header(header: str, name: str) -> None:
    match = re.fullmatch(r'attachment; filename="([ -~]*)"; filename\*=UTF-8\'\'([A-Za-z0-9%._~-]+)', header)
    assert match, header
    fallback, encoded = match.groups()
    assert '"' not in fallback and "\\" not in fallback and "%" not in fallback
    assert unquote(encoded) == safe_filename(name)
    assert len(unquote(encoded)) <= 150
    assert not re.search(r"[\x00-\x1f\x7f/\\]", unquote(encoded))


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_the_content_disposition_header_of_a_hostile_name_is_one_safe_header(user_client, user, name):
    document = uploaded(user, b"Plain text.\n", name)
    response = user_client.get(original(document))
    assert response.status_code == 200
    assert_one_safe_header(response["Content-Disposition"], name)


# PostgreSQL stores neither a NUL nor a lone surrogate, so no original_name holds one; a name from elsewhere might.
@pytest.mark.parametrize("name", [*HOSTILE_NAMES, "nul\x00.txt", "lone\ud800surrogate.txt", "a" * 1000])
def test_content_disposition_makes_any_name_one_safe_header(name):
    assert_one_safe_header(content_disposition("attachment", name), name)


def test_content_disposition_keeps_a_readable_ascii_fallback():
    assert content_disposition("attachment", "Plan été.pdf") == (
        "attachment; filename=\"Plan _t_.pdf\"; filename*=UTF-8''Plan%20%C3%A9t%C3%A9.pdf"
    )


def test_a_document_written_here_downloads_as_its_latest_markdown(user_client, user):
    document = DocumentFactory(owner=user, title="Field notes / June", source=Document.Source.MANUAL)
    DocumentVersionFactory(document=document, number=1, content="First draft.")
    DocumentVersionFactory(document=document, number=2, content="# June\n\nSecond draft, é.")

    response = user_client.get(original(document))

    assert response.status_code == 200
    assert response.content == "# June\n\nSecond draft, é.".encode()
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert response["Content-Disposition"] == (
        "attachment; filename=\"Field notes _ June.md\"; filename*=UTF-8''Field%20notes%20_%20June.md"
    )
    assert_protected(response)
    page = page_of(user_client.get(reverse("documents:detail", args=[document.id])))
    assert "Download as Markdown" in page and "there is no uploaded original" in page
    assert "Download original" not in page


def test_a_document_with_neither_file_nor_text_is_a_404(user_client, user):
    document = DocumentFactory(owner=user, source=Document.Source.MANUAL)
    assert user_client.get(original(document)).status_code == 404
    assert "Download" not in page_of(user_client.get(reverse("documents:detail", args=[document.id])))


def test_a_file_missing_from_the_storage_is_a_404(user_client, user):
    document = uploaded(user, b"Soon gone.\n", "gone.txt")
    default_storage.delete(document.file.name)
    assert user_client.get(original(document)).status_code == 404


def test_the_detail_page_and_the_list_row_link_to_the_original(user_client, user):
    document = uploaded(user, NOTES_MD, "notes.md", "text/markdown", title="Notes")
    shared = uploaded(None, b"Handbook.\n", "handbook.txt", title="Handbook")
    written = DocumentFactory(owner=user, title="Written", source=Document.Source.MANUAL)

    page = page_of(user_client.get(reverse("documents:detail", args=[document.id])))
    link = f'<a class="button button-small button-secondary" href="{original(document)}" download>Download original</a>'
    assert link in page
    assert f"notes.md · {len(NOTES_MD)}\xa0bytes" in page

    page = page_of(user_client.get(reverse("documents:list")))
    assert f'href="{original(document)}" download aria-label="Download the original of Notes">Download</a>' in page
    assert f'href="{original(shared)}" download' in page
    assert original(written) not in page  # nothing uploaded: its Markdown is offered on its page
    assert "/media/" not in page


def test_downloading_through_the_asgi_server_streams_the_file_in_a_worker_thread(user):
    """Under ASGI the body is an async iterator: Django would otherwise read a synchronous file whole, warning."""
    data = bytes(range(256)) * 1024  # 256 KiB: several blocks
    document = uploaded(user, data, "blob.bin", "application/octet-stream")
    scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b""}
    response = stored_file_response(
        request=ASGIRequest(scope, io.BytesIO()), file=document.file, filename="blob.bin", mime_type=""
    )

    async def read() -> bytes:
        return b"".join([part async for part in response])

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "StreamingHttpResponse must consume synchronous iterators"
        assert asyncio.run(read()) == data
    response.close()


# --- 2. No public media route, no media URL -----------------------------------------------------------------------


@pytest.fixture
def debug_urlconf(settings):
    """The URLconf as it is built with DEBUG on (it used to add a static() route for MEDIA_URL then)."""
    import chatbot.urls

    settings.DEBUG = True
    importlib.reload(chatbot.urls)
    clear_url_caches()
    yield
    settings.DEBUG = False
    importlib.reload(chatbot.urls)
    clear_url_caches()


def test_media_paths_are_404_even_in_debug(debug_urlconf, user_client, user, client):
    document = uploaded(user, HOSTILE_HTML, "invoice.html", "text/html")
    path = f"/media/{document.file.name}"
    for visitor in (client, user_client):
        response = visitor.get(path)
        assert response.status_code == 404
        assert b"evil.example" not in body(response)


def test_stored_files_have_no_url(user):
    document = uploaded(user, b"text\n", "notes.txt")
    with pytest.raises(ValueError, match="no public URL"):
        document.file.url


# --- 3. The admin links files to views that check permissions -----------------------------------------------------


@pytest.mark.parametrize("kind", ["document", "attachment"])
def test_the_admin_change_page_links_the_file_to_a_staff_only_view(admin_client, client, user, kind):
    if kind == "document":
        obj = uploaded(user, HOSTILE_HTML, "invoice.html", "text/html")
        change, file_view = "admin:documents_document_change", "admin:documents_document_file"
    else:
        obj = AttachmentFactory(
            file=ContentFile(HOSTILE_HTML, name="invoice.html"), original_name="invoice.html", mime_type="text/html"
        )
        change, file_view = "admin:conversations_attachment_change", "admin:conversations_attachment_file"
    url = reverse(file_view, args=[obj.pk])

    page = page_of(admin_client.get(reverse(change, args=[obj.pk])))
    assert f'href="{url}"' in page
    assert "/media/" not in page

    response = admin_client.get(url)
    assert response.status_code == 200
    assert body(response) == HOSTILE_HTML
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == "attachment; filename=\"invoice.html\"; filename*=UTF-8''invoice.html"
    assert_protected(response)

    # Not staff (the owner included): the admin's login page, never the file.
    for visitor in (client, client_for(user)):
        response = visitor.get(url)
        assert response.status_code == 302 and response.url.startswith(reverse("admin:login"))


def test_the_admin_file_view_of_an_unknown_object_is_a_404(admin_client):
    url = reverse("admin:documents_document_file", args=["00000000-0000-0000-0000-000000000000"])
    assert admin_client.get(url).status_code == 404


# --- 4. Renaming --------------------------------------------------------------------------------------------------


def rename(client, document: Document, title: str, htmx: bool = False):
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(reverse("documents:rename", args=[document.id]), {"title": title}, headers=headers)


def test_the_owner_renames_from_the_detail_page_without_javascript(user_client, user):
    document = uploaded(user, NOTES_MD, "notes.md", title="notes")
    page = page_of(user_client.get(reverse("documents:detail", args=[document.id])))
    assert f'action="{reverse("documents:rename", args=[document.id])}"' in page
    assert 'name="title" data-limit="300" required' in page

    response = rename(user_client, document, "  Meeting   notes, June  ")

    assert response.status_code == 302 and response.url == reverse("documents:detail", args=[document.id])
    document.refresh_from_db()
    assert document.title == "Meeting notes, June"
    page = page_of(user_client.get(response.url))
    assert "Renamed to “Meeting notes, June”." in page
    assert "<h1>Meeting notes, June</h1>" in page


def test_renaming_with_htmx_swaps_the_heading_and_the_page_title(user_client, user):
    document = uploaded(user, NOTES_MD, "notes.md", title="notes")
    response = rename(user_client, document, "Meeting notes", htmx=True)
    assert response.status_code == 200
    page = page_of(response)
    assert page.startswith("<title>Meeting notes · Chatbot</title>")
    assert 'id="document-heading"' in page and "<h1>Meeting notes</h1>" in page
    assert '<p class="success" role="status">Renamed.</p>' in page
    assert "<html" not in page
    document.refresh_from_db()
    assert document.title == "Meeting notes"


def test_the_new_title_shows_in_the_list_the_passage_page_and_later_citations(user_client, user):
    document = uploaded(user, NOTES_MD, "notes.md", title="notes", chunk_count=1)
    chunk = ChunkFactory(document=document, ordinal=0, text="A paragraph about pgvector.", embedding=unit_vector(7))
    rename(user_client, document, "Vector notes")

    assert "<strong>Vector notes</strong>" in page_of(user_client.get(reverse("documents:list")))
    assert "Vector notes" in page_of(user_client.get(reverse("documents:chunk", args=[chunk.id])))
    sources = search(
        user=user, query="pgvector", vector=unit_vector(7), options=RetrievalOptions(similarity_threshold=0)
    )
    assert [(source.chunk_id, source.title) for source in sources] == [(chunk.id, "Vector notes")]


@pytest.mark.parametrize(
    ("title", "error"),
    [
        ("", "A title cannot be empty."),
        (" \t\n ", "A title cannot be empty."),
        ("\x00\x01\x7f", "A title cannot be empty."),
        ("x" * 301, "A title can be 300 characters long at most; this one has 301."),
    ],
    ids=["empty", "blank", "control-characters-only", "too-long"],
)
def test_an_invalid_title_is_refused_and_nothing_changes(user_client, user, title, error):
    document = uploaded(user, NOTES_MD, "notes.md", title="notes")

    response = rename(user_client, document, title)
    assert response.status_code == 400
    page = page_of(response)
    assert f'<p class="error" id="rename-error" role="alert">{error}</p>' in page
    assert '<details class="document-rename" open>' in page and "autofocus" in page
    assert "<h1>notes</h1>" in page  # the full page again, with the title unchanged

    response = rename(user_client, document, title, htmx=True)
    assert response.status_code == 400
    assert response["HX-Retarget"] == "#document-heading" and response["HX-Reswap"] == "outerHTML"
    assert error in page_of(response) and "<html" not in page_of(response)

    document.refresh_from_db()
    assert document.title == "notes"


def test_control_characters_and_line_breaks_are_cleaned_from_a_title(user_client, user):
    document = uploaded(user, NOTES_MD, "notes.md", title="notes")
    rename(user_client, document, "New\x00 title\r\nsecond\tline\x1b[31m")
    document.refresh_from_db()
    assert document.title == "New title second line[31m"


def test_a_title_of_exactly_the_maximum_length_is_kept(user_client, user):
    document = uploaded(user, NOTES_MD, "notes.md", title="notes")
    rename(user_client, document, "é" * 300)
    document.refresh_from_db()
    assert document.title == "é" * 300


def test_another_user_cannot_rename_and_gets_a_404(client, user, other):
    document = uploaded(user, NOTES_MD, "notes.md", title="My notes")
    for htmx in (False, True):
        response = rename(client_for(other), document, "Pwned", htmx=htmx)
        assert response.status_code == 404
    document.refresh_from_db()
    assert document.title == "My notes"


def test_nobody_renames_a_shared_library_document_here(user_client):
    handbook = uploaded(None, NOTES_MD, "handbook.md", title="Handbook")
    assert rename(user_client, handbook, "Vandalised").status_code == 404
    handbook.refresh_from_db()
    assert handbook.title == "Handbook"
    page = page_of(user_client.get(reverse("documents:detail", args=[handbook.id])))
    assert reverse("documents:rename", args=[handbook.id]) not in page and "Rename" not in page


def test_renaming_needs_a_post_with_a_csrf_token(user, db):
    document = uploaded(user, NOTES_MD, "notes.md", title="notes")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get(reverse("documents:rename", args=[document.id])).status_code == 405
    assert rename(client, document, "No token").status_code == 403
    document.refresh_from_db()
    assert document.title == "notes"


def test_anonymous_visitors_and_guests_cannot_rename(client, user):
    document = uploaded(user, NOTES_MD, "notes.md", title="notes")
    response = rename(client, document, "Anonymous")
    assert response.status_code == 302 and response.url.startswith(reverse("account_login"))
    response = rename(client_for(GuestFactory()), document, "Guest")
    assert response.status_code == 302 and response.url == reverse("account_signup")
    document.refresh_from_db()
    assert document.title == "notes"


def test_a_rename_marks_the_title_as_typed_and_keeps_the_rest_of_the_metadata(user_client, user):
    """Ingestion replaces a title the app chose with the file's own; one the user typed, even the same words, stays."""
    document = uploaded(user, NOTES_MD, "notes.md", title="notes", metadata={"format": "markdown", "title": "Notes"})
    rename(user_client, document, "notes")
    document.refresh_from_db()
    assert document.metadata == {"format": "markdown", "title": "Notes", "title_typed": True}


def test_the_detail_page_reads_an_uploaded_file_once_not_at_every_view(user_client, user):
    """A long PDF's or e-book's page parsed its file at every view (gnuplot's manual: 9 s each time). The text is
    kept in the cache after the first: the file changed under it (as nothing does) shows that it is not read
    again."""
    document = uploaded(user, b"# Field notes\n\nThe heron came back.\n", "notes.md", "text/markdown")
    detail = reverse("documents:detail", args=[document.id])
    assert "The heron came back." in page_of(user_client.get(detail))

    with default_storage.open(document.file.name, "wb") as handle:
        handle.write(b"# Field notes\n\nSomething else.\n")
    assert "The heron came back." in page_of(user_client.get(detail)), "from the cache"
    assert "Something else." not in page_of(user_client.get(detail))


def test_a_slow_ingestion_leaves_the_text_for_the_page(user, user_client, monkeypatch):
    """Ingestion has the file parsed already: when that was slow, the page's first view does not parse it again."""
    from documents import services

    monkeypatch.setattr(services, "EXTRACTED_TEXT_WARM_SECONDS", 0.0)  # every parse counts as slow here
    document = uploaded(user, b"# Field notes\n\nThe heron came back.\n", "notes.md", "text/markdown")
    assert services.document_ingest(document_id=document.id).status == Document.Status.READY
    default_storage.delete(document.file.name)
    default_storage.save(document.file.name, ContentFile(b"# Field notes\n\nSomething else.\n"))

    assert "The heron came back." in page_of(user_client.get(reverse("documents:detail", args=[document.id])))


def test_another_users_document_page_is_a_404_even_with_its_text_in_the_cache(user_client, user, other):
    document = uploaded(other, b"Their own notes.\n", "theirs.txt")
    from documents.services import document_extracted_text

    assert document_extracted_text(document) == "Their own notes."  # now in the cache
    response = user_client.get(reverse("documents:detail", args=[document.id]))
    assert response.status_code == 404 and "Their own notes." not in page_of(response)
