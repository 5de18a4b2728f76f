"""Ingestion through a real Celery worker and the real embedding model; a hostile file harms nothing."""

from __future__ import annotations

import io
import json
import time
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from documents.models import Chunk, Document
from documents.services import document_upload
from tests.factories import UserFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def wait_until_done(document_id, timeout: float = 120) -> Document:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        document = Document.objects.get(id=document_id)
        if document.status in {"ready", "failed"}:
            return document
        time.sleep(0.2)
    raise AssertionError(f"document {document_id} still {document.status} after {timeout} s")


def zip_bomb_docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            block = b"\0" * (1 << 20)
            for _ in range(200):  # 200 MB of zeros, about 200 KB compressed
                member.write(block)
    return buffer.getvalue()


def test_uploads_are_ingested_by_a_real_worker_and_bad_files_fail_with_a_reason(client, celery_worker_process):
    user = UserFactory()
    client.force_login(user)
    files = [
        SimpleUploadedFile(
            "handbook.md", b"# Handbook\n\n## Returns\n\n" + b"Returns are accepted within 30 days. " * 60
        ),
        SimpleUploadedFile("bomb.docx", zip_bomb_docx()),
        SimpleUploadedFile("blank.txt", b"   \n\n   \n"),
        SimpleUploadedFile("notes.txt", b"Plain notes about the warehouse opening hours: 8 to 18 on weekdays."),
    ]
    response = client.post(reverse("documents:upload"), {"files": files}, follow=True)
    assert response.status_code == 200
    documents = {d.original_name: d for d in Document.objects.filter(owner=user)}
    assert set(documents) == {"handbook.md", "bomb.docx", "blank.txt", "notes.txt"}

    handbook = wait_until_done(documents["handbook.md"].id)
    assert handbook.status == "ready", handbook.error
    assert handbook.progress == 100 and handbook.chunk_count >= 2
    chunks = list(Chunk.objects.filter(document=handbook).order_by("ordinal"))
    assert len(chunks) == handbook.chunk_count and all(c.owner_id == user.id for c in chunks)
    assert chunks[0].chapter == "Handbook" and chunks[0].section == "Returns"
    assert len(chunks[0].embedding) == 384

    bomb = wait_until_done(documents["bomb.docx"].id)
    assert bomb.status == "failed" and "zip bomb" in bomb.error
    assert not Chunk.objects.filter(document=bomb).exists(), "nothing half-indexed"
    blank = wait_until_done(documents["blank.txt"].id)
    assert blank.status == "failed" and "No text could be extracted" in blank.error

    notes = wait_until_done(documents["notes.txt"].id)
    assert notes.status == "ready", "the worker is unharmed by the bad files before it"
    assert celery_worker_process.poll() is None

    # Idempotent: ingesting again replaces the chunks, it does not add to them.
    from documents.tasks import ingest_document

    ingest_document.delay(str(handbook.id)).get(timeout=60)
    assert Chunk.objects.filter(document=handbook).count() == handbook.chunk_count

    page = client.get(reverse("documents:list")).content.decode()
    assert "zip bomb" in page and "Ready" in page
    # Both failures are the files' own (a bomb, no text): trying again would fail the same way, so no Retry.
    assert bomb.metadata["failure"] == blank.metadata["failure"] == "content"
    assert ">Retry</button>" not in page
    assert "5 million characters of text" in page, "the limit a text file meets is said before uploading"


def queued_ingestions() -> list[str]:
    """The document ids of the ingestion tasks waiting in the broker's default queue (no worker is running)."""
    from chatbot.celery import app

    with app.connection_for_read() as connection:
        messages = connection.default_channel.client.lrange("celery", 0, -1)
    found = []
    for raw in messages:
        headers = json.loads(raw).get("headers", {})
        if headers.get("task") == "documents.tasks.ingest_document":
            found.append(headers.get("argsrepr", ""))
    return found


def test_the_ingest_command_embeds_each_file_once_and_queues_nothing(tmp_path):
    folder = tmp_path / "corpus"  # not tmp_path itself: the uploads' media folder is in it
    (folder / "guide").mkdir(parents=True)
    (folder / "guide" / "ovens.md").write_text("# Ovens\n\n## Steam\n\n" + "Steam the deck oven for crust. " * 80)
    (folder / "notes.txt").write_text("Opening hours of the warehouse: 8 to 18 on weekdays.")
    (folder / "ignored.bin").write_bytes(b"\0\1")
    # An earlier run stopped after storing this file, before embedding it: the next run must finish it.
    interrupted = document_upload(
        owner=None, filename="later.md", data=(folder / "guide" / "ovens.md").read_bytes() + b"\n\nMore.", queue=False
    ).document
    (folder / "later.md").write_bytes(interrupted.file.open("rb").read())
    assert interrupted.status == "pending"
    before = queued_ingestions()

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()  # the bar redrawn in place; to a file, a line a file (tests/test_reindex.py)
    call_command("ingest", str(folder), stdout=out, stderr=io.StringIO())

    documents = Document.objects.filter(owner=None)
    assert documents.count() == 3 and all(d.status == "ready" for d in documents)
    total = Chunk.objects.filter(owner=None).count()
    assert total == sum(d.chunk_count for d in documents) > 3
    # Embedded here, and nothing queued for a worker to embed a second time (it was, once per file).
    assert queued_ingestions() == before
    output = out.getvalue()
    # The bar: its total known up front (3 files), moving within a file as chunks are embedded, ending at 3/3.
    frames = [frame for frame in output.split("\r") if frame.startswith("ingest [")]
    assert frames and all("/3 files" in frame for frame in frames)
    assert frames[-1].startswith("ingest [" + "#" * 30 + "] 3/3 files")
    assert f"{total} chunks" in frames[-1]
    assert f"added 3, already there 0, failed 0; {total} chunks embedded" in output

    out = io.StringIO()
    call_command("ingest", str(folder), stdout=out, stderr=io.StringIO())  # again: nothing new to embed
    assert "added 0, already there 3, failed 0; 0 chunks embedded" in out.getvalue()
    assert Chunk.objects.filter(owner=None).count() == total


def test_the_ingest_command_takes_every_supported_format_and_leaves_out_sphinx_source_copies(tmp_path):
    from tests.test_parsing_epub import BOOK, epub
    from tests.test_parsing_slides_sheets import deck_bytes, workbook_bytes

    folder = tmp_path / "corpus"
    (folder / "_sources").mkdir(parents=True)
    (folder / "guide.rst").write_text("Guide\n=====\n\nSetup\n-----\n\nRun ``make run`` first.\n")
    (folder / "_sources" / "guide.rst.txt").write_text("Guide\n=====\n\nA copy of the page's source.\n")
    (folder / "orchard.xlsx").write_bytes(workbook_bytes())
    (folder / "review.pptx").write_bytes(deck_bytes())
    (folder / "book.epub").write_bytes(epub(BOOK))
    (folder / "trees.csv").write_text("Variety,Yield\nBramley,40\n")

    out = io.StringIO()
    call_command("ingest", str(folder), stdout=out, stderr=io.StringIO())
    assert "added 5, already there 0, failed 0" in out.getvalue()
    documents = {d.original_name: d for d in Document.objects.filter(owner=None)}
    assert set(documents) == {"guide.rst", "orchard.xlsx", "review.pptx", "book.epub", "trees.csv"}
    assert all(d.status == "ready" for d in documents.values())
    assert documents["orchard.xlsx"].kind == documents["trees.csv"].kind == "sheet"
    labels = set(Chunk.objects.filter(document=documents["guide.rst"]).values_list("heading", flat=True))
    assert labels == {"Guide › Setup"}
    assert Chunk.objects.filter(document=documents["trees.csv"], text="Variety: Bramley; Yield: 40").exists()
