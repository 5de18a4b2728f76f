from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode

from accounts.admin import BigTableAdmin, IdOrFullTextSearchMixin, ReadOnlyAdmin
from chatbot.downloads import StoredFileAdminMixin
from conversations.models import (
    Attachment,
    ContextOptimization,
    Conversation,
    Message,
    Project,
    Stream,
    ToolExecution,
    UsageLog,
    Vote,
    VoteDashboard,
)


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    autocomplete_fields = ("user",)
    list_display = ("__str__", "user", "created_at", "updated_at")
    list_select_related = ("user",)
    search_fields = ("name", "user__email")
    ordering = ("-created_at",)
    list_per_page = 50


@admin.register(Conversation)
class ConversationAdmin(IdOrFullTextSearchMixin, BigTableAdmin):
    autocomplete_fields = ("user", "project")
    raw_id_fields = ("active_leaf",)
    readonly_fields = ("messages_link", "created_at", "updated_at")
    list_display = ("__str__", "user", "project", "provider", "model", "visibility", "pinned", "updated_at")
    list_select_related = ("user", "project")
    list_filter = ("visibility", "provider", "pinned", ("archived_at", admin.EmptyFieldListFilter))
    search_fields = ("title", "user__email")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)

    # Messages are far too many for an inline; link to the changelist filtered on this conversation instead.
    @admin.display(description="messages")
    def messages_link(self, obj: Conversation) -> str:
        if obj.pk is None:
            return "-"
        url = reverse("admin:conversations_message_changelist") + "?" + urlencode({"conversation": obj.pk})
        return format_html('<a href="{}">{} messages</a>', url, obj.messages.count())


@admin.register(Message)
class MessageAdmin(IdOrFullTextSearchMixin, BigTableAdmin):
    id_search_fields = ("conversation_id",)
    full_text_field = "search_vector"
    search_fields = ("search_vector",)
    search_help_text = "Words of the content (full-text search), or a message or conversation id."
    autocomplete_fields = ("conversation", "author")
    raw_id_fields = ("parent",)
    exclude = ("search_vector",)
    readonly_fields = ("created_at", "updated_at")
    list_display = ("__str__", "conversation", "author", "status", "model", "output_tokens", "created_at")
    list_select_related = ("conversation", "author")
    list_filter = ("role", "status")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Message]:
        # The tsvector is as large as the content and nothing here displays it.
        return super().get_queryset(request).defer("search_vector")


@admin.register(Vote)
class VoteAdmin(IdOrFullTextSearchMixin, BigTableAdmin):
    id_search_fields = ("message_id", "conversation_id")
    search_fields = ("comment", "user__email")
    autocomplete_fields = ("conversation", "user")
    raw_id_fields = ("message",)
    readonly_fields = ("created_at", "updated_at")
    list_display = ("__str__", "message", "conversation", "user", "created_at")
    list_select_related = ("message", "conversation", "user")
    list_filter = ("is_upvoted", "rating")
    ordering = ("-created_at",)

    # The user's own words and verdict: staff read them (and may delete one), never rewrite or invent one.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Vote | None = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Vote]:
        # Applies where the message is joined (the changelist's list_select_related); ignored elsewhere. Adding
        # select_related() here instead would make the changelist skip list_select_related altogether.
        return super().get_queryset(request).defer("message__search_vector")


@admin.register(Stream)
class StreamAdmin(IdOrFullTextSearchMixin, BigTableAdmin):
    id_search_fields = ("message_id", "conversation_id")
    search_fields = ("conversation__title",)
    search_help_text = "A stream, message or conversation id, or words of the conversation title."
    autocomplete_fields = ("conversation",)
    raw_id_fields = ("message",)
    list_display = ("__str__", "conversation", "message", "status", "created_at", "finished_at")
    list_select_related = ("conversation", "message")
    list_filter = ("status",)
    ordering = ("-created_at",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Stream]:
        # Applies where the message is joined (the changelist's list_select_related); ignored elsewhere. Adding
        # select_related() here instead would make the changelist skip list_select_related altogether.
        return super().get_queryset(request).defer("message__search_vector")


@admin.register(Attachment)
class AttachmentAdmin(StoredFileAdminMixin, IdOrFullTextSearchMixin, BigTableAdmin):
    id_search_fields = ("conversation_id", "message_id")
    search_fields = ("original_name", "user__email", "=content_hash")
    autocomplete_fields = ("user", "conversation")
    raw_id_fields = ("message",)
    list_display = ("__str__", "user", "conversation", "mime_type", "file_size", "created_at")
    list_select_related = ("user", "conversation")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)

    @admin.display(description="size", ordering="size")
    def file_size(self, obj: Attachment) -> str:
        return filesizeformat(obj.size)


@admin.register(ToolExecution)
class ToolExecutionAdmin(IdOrFullTextSearchMixin, BigTableAdmin):
    id_search_fields = ("message_id", "conversation_id")
    search_fields = ("^tool_name",)
    autocomplete_fields = ("conversation",)
    raw_id_fields = ("message",)
    readonly_fields = ("created_at",)
    list_display = ("__str__", "conversation", "status", "execution_time_ms", "cost", "created_at")
    list_select_related = ("conversation",)
    list_filter = ("status",)
    ordering = ("-created_at",)


@admin.register(ContextOptimization)
class ContextOptimizationAdmin(IdOrFullTextSearchMixin, admin.ModelAdmin):
    id_search_fields = ("conversation_id",)
    search_fields = ("conversation__title", "summary")
    autocomplete_fields = ("conversation",)
    list_display = ("__str__", "conversation", "trigger_reason", "optimization_type", "created_at")
    list_select_related = ("conversation",)
    list_filter = ("trigger_reason", "optimization_type")
    ordering = ("-created_at",)
    list_per_page = 50


@admin.register(UsageLog)
class UsageLogAdmin(IdOrFullTextSearchMixin, ReadOnlyAdmin, BigTableAdmin):
    id_search_fields = ("conversation_id", "message_id", "user_id")
    search_fields = ("user__email",)
    search_help_text = "A user's email, or a user, conversation or message id."
    list_display = ("__str__", "user", "provider", "conversation", "cost", "own_key", "created_at")
    list_select_related = ("user", "conversation")
    list_filter = ("provider", "own_key")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)


@admin.register(VoteDashboard)
class VoteDashboardAdmin(ReadOnlyAdmin):
    """Thumbs up and down per model and per day, the satisfaction rate and the worst-rated replies (linked to their
    conversation), for 7, 30 or 90 days. Staff with the dashboard's view permission (superusers) only."""

    def get_urls(self) -> list:
        from django.urls import path

        view = self.admin_site.admin_view(self.changelist_view)
        return [path("", view, name="conversations_votedashboard_changelist")]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        from django.core.exceptions import PermissionDenied

        from accounts.models import Feedback
        from catalog.selectors import PERIODS, usage_period
        from conversations import votes

        if not self.has_view_permission(request):
            raise PermissionDenied
        days = usage_period(request.GET.get("days"))
        by_day = votes.votes_by_day(days=days)
        context = {
            **self.admin_site.each_context(request),
            "title": "Votes dashboard",
            "opts": self.model._meta,
            "days": days,
            "periods": PERIODS,
            "time_zone": timezone.get_current_timezone_name(),
            "totals": votes.vote_totals(days=days),
            "by_model": votes.votes_by_model(days=days),
            "by_day": by_day,
            "feedback": Feedback.objects.select_related("user").order_by("-created_at")[:10],
            "worst": votes.worst_rated_replies(days=days),
            "votes_url": reverse("admin:conversations_vote_changelist"),
            "feedback_url": reverse("admin:accounts_feedback_changelist"),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/conversations/vote_dashboard.html", context)
