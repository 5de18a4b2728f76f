"""Uploaded files through the real upload view and ingestion (parse, chunk, embed, store): the document's own title
replaces the file name's unless the user chose one, passages cite their PDF page, and hostile bytes in a file
(NUL, bare CR, control characters) end in a clean, ready document rather than a 500 or a stuck ingestion.
"""

from __future__ import annotations

import io
import zipfile
from types import SimpleNamespace

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from chatbot.llm.offline import offline_reply
from chatbot.text import has_unsafe_characters
from conversations.prompting import system_with_sources
from documents import retrieval
from documents.models import Chunk, Document
from documents.retrieval import RetrievalOptions, retrieve
from documents.services import document_ingest, document_rename, document_save_version, document_upload
from tests.factories import ConversationFactory, MessageFactory, UserFactory
from tests.test_parsing import FONT_REPORT, HOSTILE_FILES, make_docx, make_pdf, rewrite_pdf

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def upload(client, django_capture_on_commit_callbacks, name: str, data: bytes) -> Document:
    """Through the upload view (no broker: the queued task is captured), then ingested right here."""
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(reverse("documents:upload"), {"files": [SimpleUploadedFile(name, data)]})
    assert response.status_code == 302
    document = Document.objects.filter(original_name=name.replace("\x00", "")).latest("created_at")
    return document_ingest(document_id=document.id)


def ingest(user, name: str, data: bytes, *, title: str = "") -> Document:
    result = document_upload(owner=user, filename=name, data=data, title=title)
    return document_ingest(document_id=result.document.id)


def test_a_pdf_gets_its_own_title_and_each_passage_cites_its_page(
    user_client, user, django_capture_on_commit_callbacks
):
    document = upload(user_client, django_capture_on_commit_callbacks, "scan-0001.pdf", make_pdf(FONT_REPORT))
    assert document.status == "ready", document.error
    assert document.title == "Soil Survey of the North Field", "not the file name's 'scan 0001'"
    chunks = list(Chunk.objects.filter(document=document).order_by("ordinal"))
    # Each page's short sections run together (chunking's minimum size, never across a page), the passage naming
    # the first and its heading path the others.
    assert [(c.chapter, c.section, c.page) for c in chunks] == [
        ("Soil Survey of the North Field", "", 1),
        ("1 Introduction", "", 2),
        ("2 Methods", "", 3),
        ("2 Methods", "2.1 Sampling", 4),
    ]
    assert chunks[0].heading == "Soil Survey of the North Field, 1 Introduction"
    assert chunks[2].heading == "Soil Survey of the North Field › 2 Methods, 2.1 Sampling"
    page = user_client.get(reverse("documents:list")).content.decode()
    assert "Soil Survey of the North Field" in page

    # A cited passage carries its page: in the reply's saved sources and on the passage's own page.
    retrieval._count_cache.clear()
    options = RetrievalOptions(legs=frozenset({"text"}), include_shared=False)
    found = retrieve(user=user, query="dried at 40 degrees", options=options)
    assert found and found[0].page == 4 and found[0].as_metadata()["page"] == 4
    passage = user_client.get(reverse("documents:chunk", args=[found[0].chunk_id])).content.decode()
    assert "2.1 Sampling · page 4" in passage
    assert 'from="Soil Survey of the North Field > 2 Methods > 2.1 Sampling > page 4"' in system_with_sources("", found)
    assert "*Soil Survey of the North Field › 2 Methods › 2.1 Sampling, page 4*" in offline_reply(
        SimpleNamespace(sources=found[:1])
    )
    reply = MessageFactory(
        conversation=ConversationFactory(user=user), role="assistant", content="Dried at 40 °C [1].",
        metadata={"sources": [found[0].as_metadata()]},
    )  # fmt: skip
    chat = user_client.get(reverse("conversations:detail", args=[reply.conversation_id])).content.decode()
    assert "2.1 Sampling, page 4" in chat, "the reply's Sources list names the page"


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        (
            "export-17.html",
            b"<html><head><title>Travel Guide</title></head><body><h1>Lisbon</h1>x</body></html>",
            "Travel Guide",
        ),
        ("export-18.html", b"<html><body><h1>Lisbon Trams</h1><p>x</p></body></html>", "Lisbon Trams"),
        ("readme.md", b"Intro.\n\n# Project Atlas\n\nAbout it.", "Project Atlas"),
        ("field_notes-2024.txt", b"Plain notes with no title of their own.", "field notes 2024"),
        ("letter.docx", make_docx(core_title="Letter to the Board"), "Letter to the Board"),
    ],
    ids=["html-title", "html-h1", "markdown-h1", "text-file-name", "docx-core-title"],
)
def test_an_upload_is_titled_by_its_own_title_else_its_file_name(name, data, expected):
    document = ingest(UserFactory(), name, data)
    assert document.status == "ready", document.error
    assert document.title == expected


def test_a_title_the_user_chose_is_never_replaced():
    user = UserFactory()
    data = b"# Project Atlas\n\nAbout it."
    typed = ingest(user, "readme.md", data, title="My own name")
    assert typed.title == "My own name"

    renamed = ingest(user, "other.md", data + b" More.")
    assert renamed.title == "Project Atlas"
    document_rename(document=renamed, title="Renamed by me")
    assert document_ingest(document_id=renamed.id).title == "Renamed by me", "a retry keeps the new name"


def test_a_new_title_in_the_file_is_taken_again_but_not_an_edited_documents_first_chapter():
    user = UserFactory()
    pdf = rewrite_pdf(make_pdf(FONT_REPORT), lambda writer: writer.add_metadata({"/Title": "Soil Survey 2024"}))
    document = ingest(user, "survey.pdf", pdf)
    assert document.title == "Soil Survey 2024"
    # Once edited, the document is indexed from its Markdown, whose first "# " is the first chapter.
    document_save_version(document=document, content="# 1 Introduction\n\nRewritten.", author=user)
    assert document_ingest(document_id=document.id).title == "Soil Survey 2024"


def test_a_title_an_older_parser_found_goes_back_to_the_file_names_when_the_file_no_longer_has_one():
    """A heading an earlier parser took for the title ("Introduction") is not kept by a re-index that finds none."""
    user = UserFactory()
    document = ingest(user, "field-notes_2024.txt", b"Plain notes about the survey, with no title of their own.")
    assert document.title == "field notes 2024"
    Document.objects.filter(id=document.id).update(
        title="Introduction", metadata={**document.metadata, "title": "Introduction"}
    )  # as an older parser left it
    reindexed = document_ingest(document_id=document.id)
    assert reindexed.title == "field notes 2024"
    assert "title" not in reindexed.metadata


@pytest.mark.parametrize("name", [*HOSTILE_FILES, "nul\x00name.txt"])
def test_files_with_hostile_bytes_are_ingested_clean(user_client, django_capture_on_commit_callbacks, name):
    data = HOSTILE_FILES.get(name, b"Notes with a NUL\x00 in them. " * 10)
    document = upload(user_client, django_capture_on_commit_callbacks, name, data)
    assert document.status == "ready", document.error
    strings = [document.title, document.original_name]
    for chunk in Chunk.objects.filter(document=document):
        strings += [chunk.text, chunk.chapter, chunk.section]
    assert len(strings) > 2
    for string in strings:
        assert not has_unsafe_characters(string) and "\r" not in string, repr(string)
    assert user_client.get(reverse("documents:list")).status_code == 200
    assert user_client.get(reverse("documents:detail", args=[document.id])).status_code == 200


def test_the_hostile_pdf_keeps_its_cleaned_title(user_client, django_capture_on_commit_callbacks):
    document = upload(user_client, django_capture_on_commit_callbacks, "scan.pdf", HOSTILE_FILES["scan.pdf"])
    assert document.title == "Annual Report"
    assert list(Chunk.objects.filter(document=document).values_list("chapter", "page")) == [("Chapter One", 1)]


def test_a_docx_that_cannot_be_read_fails_with_a_reason_not_a_crash():
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(make_docx(title="X")), "r") as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "word/document.xml":
                data = data.replace(b"Text.", b"Te\x00xt.")
            target.writestr(info, data)
    document = ingest(UserFactory(), "bad.docx", out.getvalue())
    assert document.status == "failed" and document.error == "This Word document could not be read; it may be damaged."
