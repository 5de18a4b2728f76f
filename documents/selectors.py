"""Reads of documents, versions and suggestions, scoped to what a user may see."""

from __future__ import annotations

import uuid

from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404

from accounts.models import User
from documents.models import Document, DocumentVersion, Suggestion


def readable_documents(*, user: User) -> QuerySet[Document]:
    """The user's own documents and the shared knowledge base."""
    return Document.objects.filter(Q(owner=user) | Q(owner__isnull=True))


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
