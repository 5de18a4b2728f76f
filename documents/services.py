"""Writes for documents: upload (deduplicated), ingestion (parse, chunk, embed, replace), versions, suggestions."""

from __future__ import annotations

import hashlib
import logging
import time
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils.text import get_valid_filename

from accounts.models import User
from chatbot.errors import UserFacingError
from chatbot.text import after_colon, clean_text, title_too_long
from documents.models import Chunk, Document, DocumentVersion, Suggestion

logger = logging.getLogger(__name__)

MAX_DOCUMENT_CHARACTERS = 2_000_000  # what the editor may save as one version
PROGRESS_INTERVAL = 0.25  # seconds between two progress UPDATEs of a document being embedded
# An uploaded file's text, as its page shows it, is its parse: seconds for a long PDF or e-book (gnuplot's 311-page
# manual 9 s), which the page paid on every view. Kept in the cache a while; ingestion puts it there when its parse
# was slow, as the page is often opened right after the upload.
EXTRACTED_TEXT_TTL_SECONDS = 6 * 3600
EXTRACTED_TEXT_WARM_SECONDS = 1.0


class UploadRejected(UserFacingError):
    pass


class RenameRejected(UserFacingError):
    pass


@dataclass(frozen=True)
class UploadResult:
    document: Document
    duplicate: bool


def _title_from(filename: str) -> str:
    stem = clean_text(filename).rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return " ".join(stem.replace("_", " ").replace("-", " ").split())[:300] or "Untitled"


def _title_is_automatic(document: Document) -> bool:
    """Whether the title is still one the app chose (the file name's, or the file's own from an earlier parse).

    A title the user typed, at upload or by renaming the document since, is theirs: ingestion never replaces it.
    """
    if document.source != Document.Source.UPLOAD or document.metadata.get("title_typed"):
        return False
    return document.title in {_title_from(document.original_name), document.metadata.get("title")}


# Browsers send a file name's double quote and line breaks percent-encoded in a form upload (the HTML standard's
# multipart encoding); nothing else in the name is encoded, so these three are decoded back.
_FORM_FILENAME_ESCAPES = {"%22": '"', "%0A": "\n", "%0D": "\r"}


def uploaded_name(filename: str) -> str:
    """The name a person gave the file, as a browser's form upload carries it: decoded and cleaned, on one line."""
    for escaped, char in _FORM_FILENAME_ESCAPES.items():
        filename = filename.replace(escaped, char).replace(escaped.lower(), char)
    # Composed (NFC), as people type: a Mac sends "résumé" as e + combining accent, which a search for it missed.
    return " ".join(unicodedata.normalize("NFC", clean_text(filename)).split())[:255] or "upload"


def upload_limit_display() -> str:
    """DOCUMENT_MAX_UPLOAD_BYTES for people: "20 MB", "1.5 MB", "100 bytes" (never "0 MB")."""
    limit = settings.DOCUMENT_MAX_UPLOAD_BYTES
    for unit, size in (("MB", 1024 * 1024), ("KB", 1024)):
        if limit >= size:
            return f"{limit / size:.1f}".removesuffix(".0") + f" {unit}"
    return f"{limit} byte{'s' if limit != 1 else ''}"


def text_limit_display() -> str:
    """The text a document may hold, for people: "5 million"."""
    from documents.parsing import MAX_TEXT_CHARACTERS

    return f"{MAX_TEXT_CHARACTERS / 1_000_000:g} million"


def document_upload(
    *, owner: User | None, filename: str, data: bytes, title: str = "", queue: bool = True
) -> UploadResult:
    """Store an upload and queue its ingestion; the same content again (same owner) is the same document.

    queue=False stores it without queueing: for a caller that ingests it itself (`manage.py ingest`), which would
    otherwise have every document embedded twice, once by it and once by a worker.
    """
    filename = uploaded_name(filename)
    if not data:
        raise UploadRejected(f"{filename}: the file is empty.")
    if len(data) > settings.DOCUMENT_MAX_UPLOAD_BYTES:
        raise UploadRejected(f"{filename}: the file is larger than the {upload_limit_display()} limit.")
    from documents.parsing import ParseError, sniff_type

    try:
        kind, mime_type = sniff_type(data, filename)
    except ParseError as exc:
        raise UploadRejected(after_colon(filename, exc.user_message)) from exc
    content_hash = hashlib.sha256(data).hexdigest()
    existing = Document.objects.filter(owner=owner, content_hash=content_hash).first()
    if existing is not None:
        return UploadResult(document=existing, duplicate=True)
    try:
        document = _store_upload(owner, filename, data, title, kind, mime_type, content_hash, queue=queue)
    except IntegrityError:
        # The same bytes uploaded twice at once (two tabs, a double drop): the other upload won the race.
        return UploadResult(document=Document.objects.get(owner=owner, content_hash=content_hash), duplicate=True)
    return UploadResult(document=document, duplicate=False)


def _store_upload(
    owner: User | None,
    filename: str,
    data: bytes,
    title: str,
    kind: str,
    mime_type: str,
    content_hash: str,
    *,
    queue: bool,
) -> Document:
    document = Document(
        owner=owner,
        # The file name's title stands in until ingestion reads the file's own (document_ingest).
        title=(clean_text(title).strip() or _title_from(filename))[:300],
        kind={"code": Document.Kind.CODE, "xlsx": Document.Kind.SHEET, "csv": Document.Kind.SHEET}.get(
            kind, Document.Kind.TEXT
        ),
        source=Document.Source.UPLOAD,
        original_name=filename[-255:],
        mime_type=mime_type,
        size=len(data),
        content_hash=content_hash,
        status=Document.Status.PENDING,
        metadata={"format": kind, "title_typed": True} if clean_text(title).strip() else {"format": kind},
    )
    # The storage keeps only letters, digits, "-", "_" and "." of a name: of "🙂" or "…" nothing, which it refuses
    # (SuspiciousFileOperation, a bare 400 after the request's earlier files were stored). The name shown is
    # original_name; the stored one only has to be valid.
    try:
        stored_name = get_valid_filename(filename[-100:])
    except SuspiciousFileOperation:
        stored_name = "upload"
    document.file.save(stored_name, ContentFile(data), save=False)
    try:
        with transaction.atomic():
            document.save()
            if queue:
                _queue_ingestion(document)
    except IntegrityError:
        document.file.delete(save=False)  # the row lost the race; its file must not linger
        raise
    return document


def _queue_ingestion(document: Document) -> None:
    from documents.tasks import ingest_document

    # After commit: the worker must find the row (and the file) when it starts.
    transaction.on_commit(lambda: ingest_document.delay(str(document.id)))


def document_retry(*, document: Document) -> Document:
    Document.objects.filter(id=document.id).update(status=Document.Status.PENDING, progress=0, error="")
    document.refresh_from_db()
    _queue_ingestion(document)
    return document


def documents_delete(*, owner: User, documents) -> int:
    """Delete those of `documents` (a queryset) that `owner` owns, with their passages and files; how many.

    The shared library's are never among them, whatever the queryset holds: only staff manage it, in the admin.
    """
    with transaction.atomic():
        _, by_model = documents.filter(owner=owner).delete()
    return by_model.get(Document._meta.label, 0)


def _set_progress(document_id: uuid.UUID, **fields) -> None:
    Document.objects.filter(id=document_id).update(**fields)


def _source_text(document: Document):
    """What to index: the latest version when the document was edited here, else the uploaded file; and whether it
    is the file."""
    from documents.parsing import parse_document

    latest = document.versions.order_by("-number").first()
    if latest is not None:
        return parse_document(latest.content.encode(), "document.md"), False
    return _parse_file(document), True


def _parse_file(document: Document):
    """The uploaded file, parsed (ParseError or OSError when it cannot be)."""
    from documents.parsing import parse_document

    with document.file.open("rb") as handle:
        data = handle.read()
    return parse_document(data, document.original_name or document.file.name)


def _known_embeddings(document: Document) -> dict[str, object]:
    """The document's current vectors by the text they embed, when its embedding model is still the one in use
    (a document indexed before the model was recorded, or by another model, has none to give)."""
    if document.metadata.get("embedding_model") != settings.EMBEDDING_MODEL:
        return {}
    known = {}
    for heading, text, vector in Chunk.objects.filter(document=document).values_list("heading", "text", "embedding"):
        known[f"{heading}\n\n{text}" if heading else text] = vector
    return known


def document_ingest(*, document_id: uuid.UUID, on_progress: Callable[[int, int], None] | None = None) -> Document:
    """Parse, chunk and embed a document, then replace its chunks in one transaction.

    Idempotent: running it twice leaves the same chunks. A document that cannot be parsed is marked failed
    with a reason a person can act on; nothing half-indexed is ever visible. on_progress(chunks embedded,
    chunks in the document) follows the embedding batch by batch (the ingest command's progress bar).
    """
    document = Document.objects.get(id=document_id)
    before = {"status": document.status, "progress": document.progress, "error": document.error}
    try:
        return _ingest(document, on_progress=on_progress)
    except KeyboardInterrupt:
        # Ctrl-C in `manage.py reindex` or `ingest`: the document goes back to what it was (its chunks are only
        # replaced in the last transaction), not "processing" for ever in its owner's list and in the metrics.
        Document.objects.filter(id=document.id, status=Document.Status.PROCESSING).update(**before)
        raise


def _ingest(document: Document, *, on_progress: Callable[[int, int], None] | None) -> Document:
    from documents.chunking import CHUNKER_VERSION, chunk_document
    from documents.embedding import embed_array
    from documents.parsing import ParseError

    _set_progress(document.id, status=Document.Status.PROCESSING, progress=5, error="")
    started = time.monotonic()
    try:
        parsed, from_file = _source_text(document)
    except ParseError as exc:
        document_fail(document_id=document.id, error=exc.user_message, permanent=True)
        document.refresh_from_db()
        return document
    if from_file and time.monotonic() - started >= EXTRACTED_TEXT_WARM_SECONDS:
        _remember_extracted_text(document.id, editable_text(parsed))
    drafts = chunk_document(parsed)
    if not drafts:
        document_fail(document_id=document.id, error="No text could be extracted.", permanent=True)
        document.refresh_from_db()
        return document
    _set_progress(document.id, progress=15)
    reported = {"progress": 15, "at": time.monotonic()}

    def embedded(count: int) -> None:
        progress = 15 + int(80 * count / len(drafts))
        # One small UPDATE per visible step, at most four a second: a step a batch cost 2 % of ingestion's time.
        if progress != reported["progress"] and time.monotonic() - reported["at"] >= PROGRESS_INTERVAL:
            _set_progress(document.id, progress=progress)
            reported.update(progress=progress, at=time.monotonic())
        if on_progress:
            on_progress(count, len(drafts))

    # Passages the document had already, word for word under the same heading, by the same model, keep their
    # vectors: a re-index after a chunker change, or an edit, embeds only what changed.
    known = _known_embeddings(document)
    missing = [draft.embedding_text for draft in drafts if draft.embedding_text not in known]
    reused = len(drafts) - len(missing)
    # The rest in one call: embedded in length-sorted micro-batches (embedding.py), the vectors kept as one
    # float32 array (1.5 KB a chunk), not as lists of Python floats (12 KB).
    fresh = iter(embed_array(missing, on_progress=lambda count: embedded(reused + count)))
    vectors = [known[draft.embedding_text] if draft.embedding_text in known else next(fresh) for draft in drafts]
    with transaction.atomic():
        locked = Document.objects.select_for_update().get(id=document.id)
        Chunk.objects.filter(document=locked).delete()
        Chunk.objects.bulk_create(
            [
                Chunk(
                    document=locked,
                    owner_id=locked.owner_id,
                    ordinal=draft.ordinal,
                    text=draft.text,
                    heading=draft.heading,
                    chapter=draft.chapter[:300],
                    section=draft.section[:300],
                    page=draft.page,
                    char_start=draft.char_start,
                    char_end=draft.char_end,
                    token_count=draft.token_count,
                    embedding=vector,
                )
                for draft, vector in zip(drafts, vectors, strict=True)
            ],
            batch_size=500,
        )
        # The file's own title (its <title>, H1, PDF or Word metadata) replaces the file name's; an edited
        # document is parsed from its Markdown, whose first heading is a chapter, not the title.
        # The chunker's version: `manage.py reindex` skips documents already chunked by the current one.
        # Indexed at last: a mark of the file's failure (document_fail) goes.
        metadata = {key: value for key, value in locked.metadata.items() if key != "failure"}
        metadata, title = {**metadata, "chunker": CHUNKER_VERSION, "embedding_model": settings.EMBEDDING_MODEL}, {}
        if not locked.versions.exists():
            # A re-index whose parser no longer finds a title (a heading it once took for one) goes back to the
            # file name's, as a first upload would.
            if _title_is_automatic(locked):
                title = {"title": parsed.title or _title_from(locked.original_name)}
            metadata.pop("title", None)
            if parsed.title:
                metadata["title"] = parsed.title
        Document.objects.filter(id=locked.id).update(
            status=Document.Status.READY, progress=100, error="", chunk_count=len(drafts), metadata=metadata, **title
        )
    document.refresh_from_db()
    return document


def document_fail(*, document_id: uuid.UUID, error: str, permanent: bool = False) -> None:
    """Mark a document failed, saying why. `permanent`: the file itself is the reason (it cannot be read, it is too
    long), so trying it again would fail the same way and no Retry is offered."""
    fields = {"status": Document.Status.FAILED, "error": error, "progress": 0}
    if permanent:
        metadata = Document.objects.filter(id=document_id).values_list("metadata", flat=True).first() or {}
        fields["metadata"] = {**metadata, "failure": "content"}
    _set_progress(document_id, **fields)


# --- Versions and suggestions ---------------------------------------------------------------------------------


def document_create(
    *,
    owner: User,
    title: str,
    content: str,
    source: str = Document.Source.MANUAL,
    created_by: str = DocumentVersion.Author.USER,
) -> Document:
    """A document written in the app (by the user, or by the assistant through a tool): version 1 is its content;
    it is embedded like an upload."""
    with transaction.atomic():
        document = Document.objects.create(
            owner=owner,
            title=clean_text(title).strip()[:300] or "Untitled",
            source=source,
            mime_type="text/markdown",
        )
        DocumentVersion.objects.create(
            document=document, number=1, content=clean_text(content), author=owner, created_by=created_by
        )
        _queue_ingestion(document)
    return document


def document_rename(*, document: Document, title: str) -> Document:
    """A new title, on one line; lists, passages and the sources of later answers read it from the row."""
    title = " ".join(clean_text(title).split())
    limit = Document._meta.get_field("title").max_length
    if not title:
        raise RenameRejected("A title cannot be empty.")
    too_long = title_too_long(title, limit=limit)
    if too_long:
        raise RenameRejected(too_long)
    with transaction.atomic():
        # Under the row lock ingestion takes to write metadata: neither write may undo the other.
        locked = Document.objects.select_for_update().get(id=document.id)
        locked.title = title
        # A title the user typed is theirs: ingestion only replaces one the app chose (from the file).
        locked.metadata = {**locked.metadata, "title_typed": True}
        locked.save(update_fields=["title", "metadata", "updated_at"])
    document.title, document.metadata = locked.title, locked.metadata
    return document


def editable_text(parsed) -> str:
    """A parsed file as the Markdown the editor shows: its text with the headings put back.

    ParsedDocument.text has no headings (they become chunk chapter/section); an edited document is re-indexed
    from its latest version as Markdown, so without them the first edit would silently drop every chapter and
    section the passages are cited under.
    """
    parts: list[str] = []
    chapter = section = ""
    for part in parsed.sections:
        if part.chapter != chapter or (part.section == "" and section != ""):
            if part.chapter:
                parts.append(f"# {part.chapter}")
            chapter, section = part.chapter, ""
        if part.section != section:
            parts.append(f"## {part.section}")
            section = part.section
        parts.append(part.text)
    return "\n\n".join(parts)


def document_extracted_text(document: Document) -> str:
    """The editable text of an uploaded file ("" when there is no file or it cannot be read), from the cache when
    it was read lately (see EXTRACTED_TEXT_TTL_SECONDS)."""
    if not document.file:
        return ""
    from documents.parsing import ParseError

    cached = _cache_call(cache.get, _extracted_text_key(document.id))
    if cached is not None:
        return cached
    try:
        text = editable_text(_parse_file(document))
    except (ParseError, OSError):
        return ""
    _remember_extracted_text(document.id, text)
    return text


def _remember_extracted_text(document_id: uuid.UUID, text: str) -> None:
    _cache_call(cache.set, _extracted_text_key(document_id), text, EXTRACTED_TEXT_TTL_SECONDS)


def _extracted_text_key(document_id: uuid.UUID) -> str:
    from documents.chunking import CHUNKER_VERSION

    return f"document-text:{document_id}:{CHUNKER_VERSION}"  # a new parser reads the file anew


def _cache_call(method, *args):
    """A cache read or write that never fails its caller: without Redis the text is parsed, as before."""
    try:
        return method(*args)
    except Exception:
        logger.warning("the cache of extracted document text is unavailable", exc_info=True)
        return None


def _first_version_from_file(document: Document) -> None:
    """Uploaded documents get a version 1 (their extracted text) the first time someone edits them."""
    if document.versions.exists() or not document.file:
        return
    DocumentVersion.objects.create(
        document=document,
        number=1,
        content=document_extracted_text(document),
        created_by=DocumentVersion.Author.USER,
        author=document.owner,
    )


def document_save_version(
    *, document: Document, content: str, author: User | None, created_by: str = DocumentVersion.Author.USER
) -> DocumentVersion:
    """Every save is a new version (history is never rewritten); the document is then re-embedded."""
    with transaction.atomic():
        document = Document.objects.select_for_update().get(id=document.id)
        _first_version_from_file(document)
        number = (document.versions.aggregate(last=Max("number"))["last"] or 0) + 1
        version = DocumentVersion.objects.create(
            document=document, number=number, content=clean_text(content), author=author, created_by=created_by
        )
        Document.objects.filter(id=document.id).update(status=Document.Status.PENDING, progress=0, error="")
        _queue_ingestion(document)
    return version


def document_restore_version(*, version: DocumentVersion, author: User) -> DocumentVersion:
    return document_save_version(document=version.document, content=version.content, author=author)


def suggestions_create(*, version: DocumentVersion, user: User, items: list[dict]) -> list[Suggestion]:
    """Store suggestions whose original text really occurs in the version (others cannot be applied).

    The items come from a model's output: any field may be missing, not a string, or hold a NUL.
    """

    def text(item: dict, name: str) -> str:
        value = item.get(name) if isinstance(item, dict) else None
        return clean_text(value) if isinstance(value, str) else ""

    valid = [
        Suggestion(version=version, user=user, original_text=original, suggested_text=suggested, description=about)
        for original, suggested, about in (
            (text(item, "original_text"), text(item, "suggested_text"), text(item, "description")[:1000])
            for item in items
        )
        if original and suggested and original in version.content
    ]
    return Suggestion.objects.bulk_create(valid)


def suggestion_resolve(*, suggestion: Suggestion, accept: bool, user: User) -> DocumentVersion | None:
    """Accepting applies the change as a new version; either way the suggestion is resolved."""
    with transaction.atomic():
        suggestion = Suggestion.objects.select_for_update().select_related("version__document").get(id=suggestion.id)
        if suggestion.is_resolved:
            return None
        new_version = None
        if accept:
            document = suggestion.version.document
            latest = document.versions.order_by("-number").first()
            base = latest.content if latest else suggestion.version.content
            if suggestion.original_text not in base:
                raise ValueError("The text this suggestion changes is no longer in the document.")
            content = base.replace(suggestion.original_text, suggestion.suggested_text, 1)
            new_version = document_save_version(
                document=document, content=content, author=user, created_by=DocumentVersion.Author.ASSISTANT
            )
        suggestion.is_resolved = True
        suggestion.accepted = accept
        suggestion.save(update_fields=["is_resolved", "accepted"])
    return new_version
