"""Reads of documents, versions and suggestions, scoped to what a user may see."""

from __future__ import annotations

import itertools
import uuid

from django.db.models import Count, Q, QuerySet
from django.shortcuts import get_object_or_404

from accounts.models import User
from documents.chunking import continuation, follows
from documents.models import Chunk, Document, DocumentVersion, Suggestion


def readable_documents(*, user: User) -> QuerySet[Document]:
    """The user's own documents and the shared knowledge base."""
    return Document.objects.filter(Q(owner=user) | Q(owner__isnull=True))


def document_list(*, user: User, query: str = "") -> QuerySet[Document]:
    """The documents page's list, newest first: the user's and the shared library's, those whose title or file name
    has `query` (any case) when there is one."""
    documents = readable_documents(user=user)
    if query:
        documents = documents.filter(Q(title__icontains=query) | Q(original_name__icontains=query))
    return documents.order_by("-created_at", "-id")


def documents_indexed_as_configured() -> Q:
    """Ready documents whose passages this release would cut and embed the same way: chunked by the current chunker
    and embedded by EMBEDDING_MODEL. Containment, not key lookups: a document without the keys (older releases)
    must not match, where NOT (metadata->'chunker' = ...) would be NULL. A document indexed before the model was
    recorded is taken to be the configured model's (it was the only one); another model's vectors are not
    comparable with the questions' and are redone."""
    from django.conf import settings

    from documents.chunking import CHUNKER_VERSION

    same_model = Q(metadata__contains={"embedding_model": settings.EMBEDDING_MODEL}) | ~Q(
        metadata__has_key="embedding_model"
    )
    return Q(status=Document.Status.READY, metadata__contains={"chunker": CHUNKER_VERSION}) & same_model


def indexing_counts(*, user: User) -> dict[str, int]:
    """How many of the documents the list shows are ready, processing, waiting and failed, and all of them."""
    rows = readable_documents(user=user).order_by().values("status").annotate(count=Count("id"))
    counts = {row["status"]: row["count"] for row in rows}
    status = Document.Status
    found = {
        "ready": counts.get(status.READY, 0),
        "processing": counts.get(status.PROCESSING, 0),
        "waiting": counts.get(status.PENDING, 0),
        "failed": counts.get(status.FAILED, 0),
    }
    return {**found, "total": sum(found.values()), "done": found["ready"] + found["failed"]}


def waiting_poll_seconds(*, user: User) -> int:
    """How often a waiting row of the documents list asks for its status: every second for a few, less often for
    many, so that all of them together ask about four times a second. A folder of 200 pages polled every second,
    row by row, sent the web process 70 requests a second for minutes; a processing row still asks every second.
    """
    return poll_seconds(waiting=readable_documents(user=user).filter(status=Document.Status.PENDING).count())


def poll_seconds(*, waiting: int) -> int:
    """waiting_poll_seconds for a count already known (the list's indexing_counts has it)."""
    return max(1, -(-waiting // 4))


def document_get(*, user: User, document_id: uuid.UUID | str, editable: bool = False) -> Document:
    """A document the user may read (or, with editable, change: only their own); 404 otherwise."""
    queryset = Document.objects.filter(owner=user) if editable else readable_documents(user=user)
    return get_object_or_404(queryset, id=document_id)


def cited_document(*, user: User, chunk_id: uuid.UUID) -> Document | None:
    """The readable document that one of the user's answers cited `chunk_id` from (the passage may be gone)."""
    from conversations.models import Message

    sources = (
        Message.objects.filter(conversation__user=user, metadata__sources__contains=[{"chunk_id": str(chunk_id)}])
        .values_list("metadata__sources", flat=True)
        .first()
    )
    document_id = next(
        (source.get("document_id") for source in sources or () if source.get("chunk_id") == str(chunk_id)), None
    )
    if not document_id:
        return None
    return readable_documents(user=user).filter(id=document_id).first()


def document_versions(*, user: User, document_id: uuid.UUID | str) -> QuerySet[DocumentVersion]:
    """Every version of a readable document, oldest first (404 for a document the user may not read)."""
    document = document_get(user=user, document_id=document_id)
    return DocumentVersion.objects.filter(document=document).order_by("number")


def version_suggestions(
    *, user: User, version_id: uuid.UUID | str, unresolved_only: bool = False
) -> QuerySet[Suggestion]:
    """Suggestions on one version of the user's own document."""
    version = get_object_or_404(DocumentVersion, id=version_id, document__owner=user)
    queryset = Suggestion.objects.filter(version=version).order_by("created_at")
    return queryset.filter(is_resolved=False) if unresolved_only else queryset


def passage_in_context(*, chunk: Chunk, span: int = 1) -> list[tuple[str, bool]]:
    """A cited passage (`span` consecutive chunks from `chunk`) between the text just before and after it, as
    (text, cited) pieces: the cited chunks as one text (each overlap once, as the citation quoted it), the chunk
    before up to where the passage starts, the one after from where it ends. Chunks whose offsets do not say how
    they follow each other (older rows) are shown whole, each its own piece."""
    last = chunk.ordinal + span - 1
    chunks = list(
        Chunk.objects.filter(document_id=chunk.document_id, ordinal__range=(chunk.ordinal - 1, last + 1))
        .order_by("ordinal")
        .only("ordinal", "text", "char_start", "char_end")
    )
    cited = [each for each in chunks if chunk.ordinal <= each.ordinal <= last]
    before = [each for each in chunks if each.ordinal < chunk.ordinal]
    after = [each for each in chunks if each.ordinal > last]
    places = [(each.char_start, each.char_end) for each in chunks]
    if not all(follows(a, b) for a, b in itertools.pairwise(places)):
        pieces = [(each.text, False) for each in before]
        pieces += [("\n".join(each.text for each in cited), True)] + [(each.text, False) for each in after]
        return pieces
    text = cited[0].text
    for previous, each in itertools.pairwise(cited):
        text += continuation(each.text, start=each.char_start, previous_end=previous.char_end)
    start, end = cited[0].char_start, cited[-1].char_end
    pieces = [(each.text[: max(start - each.char_start, 0)].rstrip(), False) for each in before]
    pieces.append((text, True))
    pieces += [(each.text[max(end - each.char_start, 0) :].lstrip(), False) for each in after]
    return [(piece, is_cited) for piece, is_cited in pieces if piece]
