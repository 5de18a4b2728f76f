from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone

from accounts.models import Provider
from chatbot.db import choices_check, delete_file_after_commit


class ChatProvider(models.TextChoices):
    """Providers a conversation can run on: the key providers plus the built-in offline one."""

    OFFLINE = "offline", "Offline (no language model)"
    ANTHROPIC = Provider.ANTHROPIC.value, Provider.ANTHROPIC.label
    OPENAI = Provider.OPENAI.value, Provider.OPENAI.label
    GOOGLE = Provider.GOOGLE.value, Provider.GOOGLE.label
    XAI = Provider.XAI.value, Provider.XAI.label
    GROQ = Provider.GROQ.value, Provider.GROQ.label
    DEEPSEEK = Provider.DEEPSEEK.value, Provider.DEEPSEEK.label
    MISTRAL = Provider.MISTRAL.value, Provider.MISTRAL.label
    PERPLEXITY = Provider.PERPLEXITY.value, Provider.PERPLEXITY.label
    OLLAMA = Provider.OLLAMA.value, Provider.OLLAMA.label


class Project(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="projects")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # Added to the system prompt of every chat in the project (conversations/prompting.py, delimited).
    instructions = models.TextField(blank=True)
    # The project's knowledge: the owner's documents its chats search first (documents/retrieval.py). Many to many:
    # one document can serve several projects without a copy, and leaving a project does not delete it.
    documents = models.ManyToManyField(
        "documents.Document", blank=True, related_name="projects", db_table="project_documents"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "projects"
        indexes = [
            models.Index(fields=["user", "-created_at"], name="projects_user_created_idx"),
            models.Index(fields=["name"], name="projects_name_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class ConversationVisibility(models.TextChoices):
    PRIVATE = "private", "Private"
    PUBLIC = "public", "Public (anyone with the link)"


class Conversation(models.Model):
    Visibility = ConversationVisibility

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations")
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations")
    title = models.CharField(max_length=500, blank=True)
    # The user named it (renamed it): a generated title must never replace theirs.
    title_set_by_user = models.BooleanField(default=False)
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.PRIVATE)
    provider = models.CharField(max_length=20, choices=ChatProvider.choices, default=ChatProvider.OFFLINE)
    model = models.CharField(max_length=100, blank=True)
    system_prompt = models.TextField(blank=True)
    context_window_size = models.PositiveIntegerField(default=8192)
    retrieval_enabled = models.BooleanField(default=True)
    auto_approval = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # The tip of the branch on screen: the path from it to the root is what the model sees.
    active_leaf = models.ForeignKey("Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    pinned = models.BooleanField(default=False)
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "conversations"
        constraints = [
            choices_check("visibility", ConversationVisibility, "conversations_visibility_valid"),
            choices_check("provider", ChatProvider, "conversations_provider_valid"),
            models.CheckConstraint(
                condition=models.Q(context_window_size__gt=0), name="conversations_context_positive"
            ),
        ]
        indexes = [
            # Keyset pagination of a user's list, newest activity first.
            models.Index(fields=["user", "-updated_at", "-id"], name="conversations_user_recent_idx"),
            models.Index(fields=["-created_at"], name="conversations_created_idx"),
            models.Index(fields=["project"], name="conversations_project_idx"),
            models.Index(fields=["model"], name="conversations_model_idx"),
            models.Index(
                fields=["visibility"],
                name="conversations_public_idx",
                condition=models.Q(visibility="public"),
            ),
            GinIndex(fields=["metadata"], name="conversations_metadata_gin"),
        ]

    def __str__(self) -> str:
        return self.title or "New conversation"


class MessageRole(models.TextChoices):
    USER = "user", "User"
    ASSISTANT = "assistant", "Assistant"
    SYSTEM = "system", "System"
    TOOL = "tool", "Tool"


class MessageStatus(models.TextChoices):
    STREAMING = "streaming", "Streaming"
    COMPLETE = "complete", "Complete"
    CANCELLED = "cancelled", "Stopped"
    FAILED = "failed", "Failed"


class MessageReasoningEffort(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


class Message(models.Model):
    Role = MessageRole

    Status = MessageStatus

    ReasoningEffort = MessageReasoningEffort

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    # Regenerating or editing creates a sibling under the same parent: the conversation is a tree.
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    role = models.CharField(max_length=10, choices=Role.choices)
    content = models.TextField(blank=True)
    parts = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.COMPLETE)
    error = models.TextField(blank=True)
    provider = models.CharField(max_length=20, blank=True)
    model = models.CharField(max_length=100, blank=True)
    input_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    time_to_first_token_ms = models.PositiveIntegerField(null=True, blank=True)
    reasoning_effort = models.CharField(max_length=10, choices=ReasoningEffort.choices, blank=True)
    trace_id = models.CharField(max_length=100, blank=True)
    provider_metadata = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    search_vector = models.GeneratedField(
        expression=SearchVector("content", config="english"),
        output_field=SearchVectorField(),
        db_persist=True,
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "messages"
        constraints = [
            choices_check("role", MessageRole, "messages_role_valid"),
            choices_check("status", MessageStatus, "messages_status_valid"),
            choices_check(
                "reasoning_effort", MessageReasoningEffort, "messages_reasoning_effort_valid", allow_blank=True
            ),
        ]
        indexes = [
            models.Index(fields=["conversation", "created_at"], name="messages_conversation_created"),
            models.Index(fields=["role"], name="messages_role_idx"),
            models.Index(fields=["author"], name="messages_author_idx"),
            models.Index(fields=["parent"], name="messages_parent_idx"),
            models.Index(fields=["-created_at"], name="messages_created_idx"),
            models.Index(fields=["model"], name="messages_model_idx"),
            models.Index(fields=["status"], name="messages_streaming_idx", condition=models.Q(status="streaming")),
            GinIndex(fields=["metadata"], name="messages_metadata_gin"),
            GinIndex(fields=["search_vector"], name="messages_search_gin"),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:60]}"


class Vote(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="votes")
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="votes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="votes")
    is_upvoted = models.BooleanField(null=True, blank=True)
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "votes"
        constraints = [
            models.UniqueConstraint(fields=["message", "user"], name="votes_one_per_message_and_user"),
            models.CheckConstraint(
                condition=models.Q(rating__isnull=True) | models.Q(rating__gte=1, rating__lte=5),
                name="votes_rating_1_to_5",
            ),
        ]
        indexes = [
            models.Index(fields=["conversation"], name="votes_conversation_idx"),
            models.Index(fields=["user"], name="votes_user_idx"),
        ]

    def __str__(self) -> str:
        verdict = {True: "up", False: "down", None: "no vote"}[self.is_upvoted]
        return f"{verdict}" + (f", {self.rating}/5" if self.rating else "")

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if self.rating is not None and not 1 <= self.rating <= 5:
            raise ValidationError({"rating": "A rating is from 1 to 5."})
        if self.is_upvoted is None and self.rating is None and not self.comment:
            raise ValidationError("A vote needs a thumbs up or down, a rating or a comment.")


class StreamStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    COMPLETE = "complete", "Complete"
    CANCELLED = "cancelled", "Stopped"
    FAILED = "failed", "Failed"


class Stream(models.Model):
    """One generation of an assistant reply; its deltas live in a Redis stream keyed by this id."""

    Status = StreamStatus

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="streams")
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="streams")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "streams"
        constraints = [choices_check("status", StreamStatus, "streams_status_valid")]
        indexes = [
            models.Index(fields=["conversation", "created_at"], name="streams_conversation_idx"),
            models.Index(fields=["message"], name="streams_message_idx"),
            models.Index(fields=["created_at"], name="streams_active_idx", condition=models.Q(status="active")),
        ]

    def __str__(self) -> str:
        return f"stream {str(self.id)[:8]} ({self.status})"


def attachment_path(instance: Attachment, filename: str) -> str:
    return f"attachments/{instance.user_id}/{uuid.uuid4().hex}/{filename[-100:]}"


class Attachment(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="attachments")
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.CASCADE, related_name="attachments"
    )
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=attachment_path, max_length=500)
    original_name = models.CharField(max_length=255)
    mime_type = models.CharField(max_length=100, blank=True)
    size = models.PositiveBigIntegerField()
    content_hash = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the content, for deduplication.")
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "chat_attachments"
        indexes = [
            models.Index(fields=["user", "content_hash"], name="attachments_user_hash_idx"),
            models.Index(fields=["conversation"], name="attachments_conversation_idx"),
            models.Index(fields=["message"], name="attachments_message_idx"),
            models.Index(fields=["mime_type"], name="attachments_mime_idx"),
            models.Index(fields=["-created_at"], name="attachments_created_idx"),
        ]

    def __str__(self) -> str:
        return self.original_name


class ToolExecutionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    EXECUTING = "executing", "Executing"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class ToolExecution(models.Model):
    Status = ToolExecutionStatus

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="tool_executions")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="tool_executions")
    tool_name = models.CharField(max_length=100)
    parameters = models.JSONField(default=dict)
    result = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    approval_requested_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    executed_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    execution_time_ms = models.PositiveIntegerField(null=True, blank=True)
    cost = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "tool_executions"
        constraints = [choices_check("status", ToolExecutionStatus, "tool_executions_status_valid")]
        indexes = [
            models.Index(fields=["conversation", "created_at"], name="tool_exec_conversation_idx"),
            models.Index(fields=["message"], name="tool_exec_message_idx"),
            models.Index(fields=["status", "created_at"], name="tool_exec_status_created_idx"),
            models.Index(fields=["tool_name"], name="tool_exec_tool_name_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.tool_name} ({self.status})"


class ContextOptimizationTrigger(models.TextChoices):
    TOKEN_LIMIT = "token_limit", "Token limit"
    USER_REQUEST = "user_request", "User request"
    AUTO = "auto", "Automatic"


class ContextOptimizationKind(models.TextChoices):
    TRUNCATION = "truncation", "Truncation"
    SUMMARIZATION = "summarization", "Summarization"
    COMPRESSION = "compression", "Compression"


class ContextOptimization(models.Model):
    Trigger = ContextOptimizationTrigger

    Kind = ContextOptimizationKind

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="context_optimizations")
    trigger_reason = models.CharField(max_length=20, choices=Trigger.choices)
    optimization_type = models.CharField(max_length=20, choices=Kind.choices)
    tokens_before = models.PositiveIntegerField()
    tokens_after = models.PositiveIntegerField()
    summary = models.TextField(blank=True)
    affected_messages = models.JSONField(default=list, blank=True, help_text="Ids of the messages left out.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "context_optimizations"
        constraints = [
            choices_check("trigger_reason", ContextOptimizationTrigger, "context_opt_trigger_valid"),
            choices_check("optimization_type", ContextOptimizationKind, "context_opt_type_valid"),
        ]
        indexes = [models.Index(fields=["conversation", "created_at"], name="context_opt_conversation_idx")]

    def __str__(self) -> str:
        return f"{self.optimization_type}: {self.tokens_before} → {self.tokens_after} tokens"


class UsageLog(models.Model):
    """Tokens and cost per reply; kept (unlinked) when the conversation is deleted, for accounting."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="usage_logs")
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.SET_NULL, related_name="usage_logs"
    )
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="usage_logs")
    provider = models.CharField(max_length=20, choices=ChatProvider.choices)
    model = models.CharField(max_length=100)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    # Dollars, from the model catalogue's prices when the reply finished; null when its price is unknown. Six
    # places, not the seed's four: a short reply on a cheap model costs a few hundred millionths of a dollar.
    cost = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    # The user's own API key paid for it: not the operator's money, so not counted against a monthly budget.
    own_key = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "usage_logs"
        constraints = [choices_check("provider", ChatProvider, "usage_logs_provider_valid")]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="usage_logs_user_created_idx"),
            models.Index(fields=["-created_at"], name="usage_logs_created_idx"),
            models.Index(fields=["conversation"], name="usage_logs_conversation_idx"),
            models.Index(fields=["message"], name="usage_logs_message_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.model}: {self.input_tokens} in / {self.output_tokens} out"


class VoteDashboard(models.Model):
    """Not a table: the admin's votes dashboard (per model, per day, satisfaction, the worst-rated replies) hangs
    from it, so it is listed on the admin index and has a permission of its own to give to staff."""

    class Meta:
        managed = False
        default_permissions = ("view",)
        verbose_name = "votes dashboard"
        verbose_name_plural = "votes dashboard"

    def __str__(self) -> str:
        return "votes dashboard"


@receiver(post_delete, sender=Attachment)
def _delete_attachment_file(sender: type, instance: Attachment, **kwargs) -> None:
    delete_file_after_commit(instance.file)
