"""`manage.py reindex`: re-chunks the documents an older chunker indexed, with progress, and resumes when re-run."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from documents.chunking import CHUNKER_VERSION
from documents.models import Chunk, Document
from documents.services import document_create, document_ingest
from tests.factories import DocumentFactory, UserFactory

pytestmark = pytest.mark.django_db

BODY = "The north field drains slowly after rain and needs deeper ditches before the autumn sowing. " * 4


def ingested(owner, title: str) -> Document:
    document = document_create(owner=owner, title=title, content=f"# {title}\n\n## Drainage\n\n{BODY}")
    return document_ingest(document_id=document.id)


def as_if_indexed_by(document: Document, version: int | None) -> None:
    """What an older release left behind: its chunker's version (or none recorded) and passages without headings."""
    metadata = {key: value for key, value in document.metadata.items() if key != "chunker"}
    if version is not None:
        metadata["chunker"] = version
    Document.objects.filter(id=document.id).update(metadata=metadata)
    Chunk.objects.filter(document=document).update(heading="")


def chunk_ids(document: Document) -> set:
    return set(Chunk.objects.filter(document=document).values_list("id", flat=True))


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("reindex", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_ingestion_records_the_chunker_version_and_the_heading_path():
    document = ingested(UserFactory(), "Field notes")
    assert document.metadata["chunker"] == CHUNKER_VERSION
    headings = set(Chunk.objects.filter(document=document).values_list("heading", flat=True))
    assert headings == {"Field notes › Drainage"}


def test_reindex_redoes_only_what_an_older_chunker_indexed_and_a_rerun_resumes():
    owner = UserFactory()
    current, older, unrecorded = (ingested(owner, title) for title in ("Current", "Older", "Unrecorded"))
    as_if_indexed_by(older, CHUNKER_VERSION - 1)
    as_if_indexed_by(unrecorded, None)  # ingested before versions were recorded
    before = {document.id: chunk_ids(document) for document in (current, older, unrecorded)}

    output = run()
    assert "1 of 3 document(s) already indexed by chunker" in output
    assert "2/2" in output and "reindexed 2 document(s), 0 failed" in output
    assert chunk_ids(current) == before[current.id]  # untouched
    for document in (older, unrecorded):
        document.refresh_from_db()
        assert document.metadata["chunker"] == CHUNKER_VERSION and document.status == Document.Status.READY
        assert chunk_ids(document).isdisjoint(before[document.id])
        assert not Chunk.objects.filter(document=document, heading="").exists()

    # Interrupted or finished, a second run only does what is left: here, nothing.
    after = {document.id: chunk_ids(document) for document in (current, older, unrecorded)}
    output = run()
    assert "3 of 3 document(s) already indexed by chunker" in output and "reindexed 0 document(s)" in output
    assert {document.id: chunk_ids(document) for document in (current, older, unrecorded)} == after


def test_after_the_embedding_model_changes_a_plain_run_redoes_its_documents_and_resumes(settings):
    # An operator's walk: `reindex` after changing EMBEDDING_MODEL said every document was up to date (it looked at
    # the chunker only), and an interrupted `reindex --all` could only be started again from the first document.
    owner = UserFactory()
    first, second, unrecorded = (ingested(owner, title) for title in ("First", "Second", "Unrecorded"))
    metadata = {key: value for key, value in unrecorded.metadata.items() if key != "embedding_model"}
    Document.objects.filter(id=unrecorded.id).update(metadata=metadata)  # indexed before the model was recorded
    settings.EMBEDDING_MODEL = "another-model"  # the same vectors come out: only the recorded name differs
    Document.objects.filter(id=second.id).update(metadata={**second.metadata, "embedding_model": "another-model"})

    output = run()
    assert "2 of 3 document(s) already indexed by chunker" in output and "and another-model" in output
    assert "reindexed 1 document(s), 0 failed" in output
    first.refresh_from_db()
    assert first.metadata["embedding_model"] == "another-model"
    assert "1 of 3" not in run() and "3 of 3 document(s) already indexed" in run()


def test_reindex_all_redoes_every_document():
    document = ingested(UserFactory(), "Current")
    before = chunk_ids(document)
    output = run("--all")
    assert "reindexed 1 document(s), 0 failed" in output
    assert chunk_ids(document).isdisjoint(before)


def test_a_document_that_cannot_be_read_does_not_stop_the_others():
    owner = UserFactory()
    lost = DocumentFactory(owner=owner, metadata={})  # an upload whose file is gone: nothing to read
    older = ingested(owner, "Older")
    as_if_indexed_by(older, CHUNKER_VERSION - 1)
    output = run()
    assert "reindexed 1 document(s), 1 failed" in output
    older.refresh_from_db()
    assert older.metadata["chunker"] == CHUNKER_VERSION
    lost.refresh_from_db()
    assert "chunker" not in lost.metadata  # tried again by the next run


def test_passages_already_embedded_keep_their_vectors_and_only_what_changed_is_embedded(monkeypatch):
    from documents import embedding
    from documents.services import document_save_version

    embedded: list[str] = []
    real = embedding.embed_array

    def counting(texts, **kwargs):
        embedded.extend(texts)
        return real(texts, **kwargs)

    monkeypatch.setattr(embedding, "embed_array", counting)
    owner = UserFactory()
    text = "drains slowly after rain and needs deeper ditches before the autumn sowing, says the survey"
    sections = "".join(f"## Field {n}\n\nField {n} {text}; ditch number {n}. {BODY[:200]}\n\n" for n in range(6))
    document = document_create(owner=owner, title="Fields", content=f"# Fields\n\n{sections}")
    document = document_ingest(document_id=document.id)
    first = len(embedded)
    assert first == document.chunk_count == 6 and document.metadata["embedding_model"]
    vectors = dict(Chunk.objects.filter(document=document).values_list("section", "embedding"))

    # A re-index (a newer chunker that cuts this document the same way) embeds nothing again.
    embedded.clear()
    document_ingest(document_id=document.id)
    assert embedded == []
    again = dict(Chunk.objects.filter(document=document).values_list("section", "embedding"))
    assert all((again[section] == vectors[section]).all() for section in vectors)

    # An edit of one section embeds that section's passage alone, and the document is searched by the new text.
    document_save_version(
        document=document, content=f"# Fields\n\n{sections}".replace("number 3", "number 33"), author=owner
    )
    document_ingest(document_id=document.id)
    assert len(embedded) == 1 and embedded[0].startswith(f"Fields › Field 3\n\nField 3 {text}; ditch number 33.")

    # Another embedding model (recorded per document): everything is embedded anew.
    embedded.clear()
    Document.objects.filter(id=document.id).update(metadata={**document.metadata, "embedding_model": "another/model"})
    document_ingest(document_id=document.id)
    assert len(embedded) == 6


def ctrl_c_at_the_second_embedding(monkeypatch) -> None:
    """A real SIGINT, sent as the second document is embedded: Python raises KeyboardInterrupt there."""
    import os
    import signal

    from documents import embedding

    real, calls = embedding.embed_array, []

    def embed_then_interrupt(texts, **kwargs):
        calls.append(texts)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return real(texts, **kwargs)

    monkeypatch.setattr(embedding, "embed_array", embed_then_interrupt)


def test_ctrl_c_leaves_no_document_processing_and_says_how_to_continue(monkeypatch, settings):
    # An operator's walk: Ctrl-C printed a traceback and left the document in hand "processing" (at 42%) for ever.
    owner = UserFactory()
    documents = [ingested(owner, title) for title in ("First", "Second", "Third")]
    settings.EMBEDDING_MODEL = "another-model"  # every document is out of date, and none has vectors to keep
    ctrl_c_at_the_second_embedding(monkeypatch)

    with pytest.raises(
        CommandError, match=r"interrupted after 1 of 3 document\(s\); `manage.py reindex` continues"
    ) as stop:
        run()
    assert stop.value.returncode == 130
    statuses = list(Document.objects.order_by("created_at").values_list("status", "metadata__embedding_model"))
    assert statuses == [("ready", "another-model"), ("ready", "all-MiniLM-L6-v2"), ("ready", "all-MiniLM-L6-v2")]

    monkeypatch.undo()
    settings.EMBEDDING_MODEL = "another-model"
    output = run()
    assert "1 of 3 document(s) already indexed" in output and "reindexed 2 document(s), 0 failed" in output
    assert {document.id for document in documents} == set(
        Document.objects.filter(metadata__embedding_model="another-model").values_list("id", flat=True)
    )


def test_ctrl_c_during_ingest_leaves_the_file_to_the_next_run(monkeypatch, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in ("a", "b", "c"):
        (folder / f"{name}.md").write_text(f"# Notes {name}\n\n{name} {BODY}")
    ctrl_c_at_the_second_embedding(monkeypatch)

    with pytest.raises(CommandError, match="interrupted after 1 of 3 files") as stop:
        call_command("ingest", str(folder), stdout=io.StringIO(), stderr=io.StringIO())
    assert stop.value.returncode == 130
    assert Document.objects.filter(status=Document.Status.PROCESSING).count() == 0

    monkeypatch.undo()
    settings.MEDIA_ROOT = tmp_path / "media"
    out = io.StringIO()
    call_command("ingest", str(folder), stdout=out, stderr=io.StringIO())
    assert "added 2, already there 1, failed 0" in out.getvalue()
    assert Document.objects.filter(status=Document.Status.READY).count() == 3


def test_the_progress_bar_writes_a_line_a_unit_to_a_file_and_redraws_one_on_a_terminal():
    from documents.progress import ProgressBar

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    logged, terminal = io.StringIO(), Terminal()
    for stream in (logged, terminal):
        bar = ProgressBar(3, label="ingest", stream=stream, unit="files")
        for done in (0.25, 0.5, 1, 1.5, 2):
            bar.update(done, note="notes.md")
        bar.advance(note="last.md")
        bar.close()
    assert "\r" not in logged.getvalue()
    lines = logged.getvalue().splitlines()
    assert [line.split("] ")[1].split(" ")[0] for line in lines] == ["0/3", "1/3", "2/3", "3/3"]
    # A unit done in a millisecond is no rate ("2524.1/s" for a file refused before any embedding).
    assert all("(starting)" in line for line in lines)
    assert terminal.getvalue().count("\r") == 6 and terminal.getvalue().endswith("\n")
    assert ProgressBar(1, stream=terminal).line_break == "\n" and ProgressBar(1, stream=logged).line_break == ""
