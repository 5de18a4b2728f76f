from __future__ import annotations

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.text import Truncator

from accounts.admin import BigTableAdmin, IdOrFullTextSearchMixin
from chatbot.downloads import StoredFileAdminMixin
from documents.models import Chunk, Document, DocumentVersion, Suggestion

SHARED = "Shared"
# Enough of an embedding to tell two apart at a glance; the full vector is hundreds of numbers.
EMBEDDING_PREVIEW_DIMENSIONS = 5


class LibraryFilter(admin.SimpleListFilter):
    """Shared knowledge base (no owner) or a user's own documents; never lists the owners themselves."""

    title = "library"
    parameter_name = "library"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("shared", SHARED), ("personal", "A user's own")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() in {"shared", "personal"}:
            return queryset.filter(owner__isnull=self.value() == "shared")
        return queryset


def _owner_or_shared(obj: Document | Chunk) -> str:
    return str(obj.owner) if obj.owner_id else SHARED


class DocumentVersionInline(admin.TabularInline):
    model = DocumentVersion
    fields = ("number", "created_by", "author", "content_preview", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[DocumentVersion]:
        return super().get_queryset(request).select_related("author")

    @admin.display(description="content")
    def content_preview(self, obj: DocumentVersion) -> str:
        return Truncator(obj.content).chars(120)


@admin.register(Document)
class DocumentAdmin(StoredFileAdminMixin, IdOrFullTextSearchMixin, admin.ModelAdmin):
    autocomplete_fields = ("owner",)
    inlines = (DocumentVersionInline,)
    readonly_fields = ("size", "content_hash", "chunk_count", "chunks_link", "created_at", "updated_at")
    list_display = ("title", "owner_display", "kind", "source", "status", "progress", "chunk_count", "created_at")
    list_select_related = ("owner",)
    list_filter = ("status", "kind", "source", LibraryFilter)
    search_fields = ("title", "original_name", "owner__email", "=content_hash")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    list_per_page = 50

    actions = ("reindex_documents",)

    @admin.display(description="owner", ordering="owner__email")
    def owner_display(self, obj: Document) -> str:
        return _owner_or_shared(obj)

    def save_model(self, request, obj: Document, form, change: bool) -> None:
        """A file added or replaced here (staff filling the shared library) is ingested like an upload."""
        new_file = "file" in form.changed_data and obj.file
        if new_file:
            import hashlib

            data = obj.file.read()
            obj.file.seek(0)
            obj.size = len(data)
            obj.content_hash = hashlib.sha256(data).hexdigest()
            obj.original_name = obj.original_name or obj.file.name.rsplit("/", 1)[-1]
            obj.status, obj.progress, obj.error = Document.Status.PENDING, 0, ""
        super().save_model(request, obj, form, change)
        if new_file:
            from documents.services import document_retry

            document_retry(document=obj)

    @admin.action(description="Re-index the selected documents")
    def reindex_documents(self, request, queryset) -> None:
        from documents.services import document_retry

        for document in queryset:
            document_retry(document=document)
        self.message_user(request, f"{queryset.count()} document(s) queued for re-indexing.")

    # Chunks are far too many for an inline; link to the changelist filtered on this document instead.
    @admin.display(description="chunks")
    def chunks_link(self, obj: Document) -> str:
        if obj.pk is None:
            return "-"
        url = reverse("admin:documents_chunk_changelist") + "?" + urlencode({"document": obj.pk})
        return format_html('<a href="{}">{} chunks</a>', url, obj.chunk_count)


@admin.register(DocumentVersion)
class DocumentVersionAdmin(IdOrFullTextSearchMixin, admin.ModelAdmin):
    id_search_fields = ("document_id",)
    search_fields = ("document__title",)
    autocomplete_fields = ("document", "author")
    readonly_fields = ("created_at",)
    list_display = ("__str__", "document", "number", "created_by", "author", "created_at")
    list_select_related = ("document", "author")
    list_filter = ("created_by",)
    ordering = ("-created_at",)
    list_per_page = 50


@admin.register(Suggestion)
class SuggestionAdmin(admin.ModelAdmin):
    autocomplete_fields = ("user",)
    raw_id_fields = ("version",)
    readonly_fields = ("created_at",)
    list_display = ("__str__", "version", "user", "is_resolved", "accepted", "created_at")
    # The version's name includes its document's title.
    list_select_related = ("version__document", "user")
    list_filter = ("is_resolved", "accepted")
    search_fields = ("description", "original_text", "suggested_text", "user__email")
    ordering = ("-created_at",)
    list_per_page = 50


@admin.register(Chunk)
class ChunkAdmin(IdOrFullTextSearchMixin, BigTableAdmin):
    id_search_fields = ("document_id",)
    full_text_field = "search_vector"
    search_fields = ("search_vector",)
    search_help_text = "Words of the passage (full-text search), or a chunk or document id."
    fields = (
        "document",
        "owner",
        "ordinal",
        "chapter",
        "section",
        "text",
        "char_start",
        "char_end",
        "token_count",
        "embedding_preview",
        "created_at",
    )
    # The embedding is written by the ingestion pipeline from the text: editing either here would leave the
    # other stale, so only the headings are editable. The vector itself never reaches a form.
    exclude = ("embedding", "search_vector")
    readonly_fields = (
        "document",
        "owner",
        "ordinal",
        "text",
        "char_start",
        "char_end",
        "token_count",
        "embedding_preview",
        "created_at",
    )
    list_display = ("__str__", "owner_display", "chapter", "section", "text_preview", "token_count")
    list_select_related = ("document", "owner")
    list_filter = (LibraryFilter,)
    ordering = ("document", "ordinal")

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A chunk without its embedding cannot be stored; chunks come from processing a document.
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Chunk]:
        # A page of 50 vectors is ~75 KB of floats nobody looks at; the change page loads its own on demand.
        return super().get_queryset(request).defer("embedding", "search_vector")

    @admin.display(description="owner")
    def owner_display(self, obj: Chunk) -> str:
        return _owner_or_shared(obj)

    @admin.display(description="text")
    def text_preview(self, obj: Chunk) -> str:
        return Truncator(obj.text).chars(80)

    @admin.display(description="embedding")
    def embedding_preview(self, obj: Chunk) -> str:
        if obj.pk is None or obj.embedding is None:
            return "-"
        head = ", ".join(f"{value:.4f}" for value in obj.embedding[:EMBEDDING_PREVIEW_DIMENSIONS])
        return f"[{head}, …] ({len(obj.embedding)} dimensions)"
