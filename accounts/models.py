from __future__ import annotations

import uuid
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.contrib.sessions.base_session import AbstractBaseSession
from django.db import models
from django.db.models.functions import Lower
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone

from chatbot.db import choices_check, delete_file_after_commit


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str | None, password: str | None, **extra_fields) -> User:
        email = self.normalize_email(email).lower() if email else None
        user = self.model(email=email, **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str | None = None, password: str | None = None, **extra_fields) -> User:
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email: str, password: str | None = None, **extra_fields) -> User:
        extra_fields["is_staff"] = True
        extra_fields["is_superuser"] = True
        return self._create_user(email, password, **extra_fields)

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(email__iexact=username)


class User(AbstractBaseUser, PermissionsMixin):
    """A person, or a guest who has not signed up yet (is_guest, no email)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField("email address", max_length=254, unique=True, null=True, blank=True)
    display_name = models.CharField(max_length=150, blank=True)
    profile_image = models.URLField(max_length=500, blank=True)
    is_guest = models.BooleanField(default=False)
    is_staff = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    last_active_at = models.DateTimeField(null=True, blank=True)
    daily_message_count = models.PositiveIntegerField(default=0)
    daily_message_reset_on = models.DateField(null=True, blank=True)
    favorite_models = models.JSONField(default=list, blank=True)
    # Set by an admin: past it in a calendar month (UTC), replies on models the operator pays for are refused.
    monthly_budget = models.DecimalField(
        max_digits=10, decimal_places=2, null=True, blank=True,
        help_text="US dollars a month of replies on the operator's keys. Empty: no limit. The offline assistant, "
        "free models and the user's own keys are not counted.",
    )  # fmt: skip
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        db_table = "users"
        constraints = [
            models.UniqueConstraint(Lower("email"), name="users_email_lower_uniq"),
            models.CheckConstraint(
                condition=models.Q(is_guest=True) | models.Q(email__isnull=False),
                name="users_registered_has_email",
            ),
            models.CheckConstraint(
                condition=models.Q(monthly_budget__gte=0) | models.Q(monthly_budget__isnull=True),
                name="users_monthly_budget_not_negative",
            ),
        ]
        indexes = [
            models.Index(fields=["last_active_at"], name="users_last_active_idx"),
            models.Index(fields=["is_guest", "last_active_at"], name="users_guest_active_idx"),
            models.Index(fields=["display_name"], name="users_display_name_idx"),
        ]

    def __str__(self) -> str:
        return self.email or f"guest {str(self.id)[:8]}"

    def save(self, *args, **kwargs) -> None:
        if self.email:
            self.email = self.email.strip().lower()
        super().save(*args, **kwargs)

    def get_full_name(self) -> str:
        return self.display_name or self.email or "Guest"

    def get_short_name(self) -> str:
        return self.get_full_name()


class Session(AbstractBaseSession):
    """Django's session store, with who, from where and when, so a user can list and revoke devices."""

    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.CASCADE, related_name="sessions")
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "sessions"
        indexes = [
            models.Index(fields=["user", "last_seen_at"], name="sessions_user_seen_idx"),
            models.Index(fields=["expire_date"], name="sessions_expire_idx"),
        ]

    @classmethod
    def get_session_store_class(cls) -> type:
        from accounts.sessions import SessionStore

        return SessionStore

    def __str__(self) -> str:
        return f"session of {self.user_id or 'anonymous'} from {self.ip or 'unknown'}"


class Provider(models.TextChoices):
    """LLM providers a user can hold a key for (seed 002's provider enum)."""

    ANTHROPIC = "anthropic", "Anthropic"
    OPENAI = "openai", "OpenAI"
    GOOGLE = "google", "Google"
    XAI = "xai", "xAI"
    GROQ = "groq", "Groq"
    DEEPSEEK = "deepseek", "DeepSeek"
    MISTRAL = "mistral", "Mistral"
    PERPLEXITY = "perplexity", "Perplexity"
    OLLAMA = "ollama", "Ollama"


class PreferencesTheme(models.TextChoices):
    SYSTEM = "system", "Follow the system"
    LIGHT = "light", "Light"
    DARK = "dark", "Dark"


class PreferencesLayout(models.TextChoices):
    SIDEBAR = "sidebar", "Sidebar"
    FULLSCREEN = "fullscreen", "Full screen"


# A system prompt's length, in a conversation's settings and as the default for new ones (Preferences).
MAX_SYSTEM_PROMPT_LENGTH = 10_000


class Preferences(models.Model):
    Theme = PreferencesTheme

    Layout = PreferencesLayout

    user = models.OneToOneField(User, primary_key=True, on_delete=models.CASCADE, related_name="preferences")
    theme = models.CharField(max_length=10, choices=Theme.choices, default=Theme.SYSTEM)
    email_notifications = models.BooleanField(default=True)
    layout = models.CharField(max_length=12, choices=Layout.choices, default=Layout.SIDEBAR)
    prompt_suggestions = models.BooleanField(default=True)
    show_tool_invocations = models.BooleanField(default=True)
    conversation_previews = models.BooleanField(default=True)
    multi_model_enabled = models.BooleanField(default=False)
    hidden_models = models.JSONField(default=list, blank=True)
    default_model = models.CharField(max_length=100, blank=True)
    default_system_prompt = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "user_preferences"
        verbose_name_plural = "preferences"
        constraints = [
            choices_check("theme", PreferencesTheme, "user_preferences_theme_valid"),
            choices_check("layout", PreferencesLayout, "user_preferences_layout_valid"),
        ]

    def __str__(self) -> str:
        return f"preferences of {self.user}"


class RetrievalSettings(models.Model):
    user = models.OneToOneField(User, primary_key=True, on_delete=models.CASCADE, related_name="retrieval_settings")
    enabled = models.BooleanField(default=True)
    max_results = models.PositiveSmallIntegerField(default=5)
    similarity_threshold = models.FloatField(default=0.25)
    preferred_sources = models.JSONField(default=list, blank=True)
    excluded_sources = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "user_retrieval_settings"
        verbose_name_plural = "retrieval settings"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(max_results__gte=1, max_results__lte=50), name="retrieval_max_results_range"
            ),
            models.CheckConstraint(
                condition=models.Q(similarity_threshold__gte=0, similarity_threshold__lte=1),
                name="retrieval_threshold_range",
            ),
        ]

    def __str__(self) -> str:
        return f"retrieval settings of {self.user}"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        errors = {}
        if not 1 <= (self.max_results or 0) <= 50:
            errors["max_results"] = "Between 1 and 50 passages."
        if not 0 <= (self.similarity_threshold if self.similarity_threshold is not None else -1) <= 1:
            errors["similarity_threshold"] = "A similarity between 0 and 1."
        if errors:
            raise ValidationError(errors)


class ProviderKey(models.Model):
    """A user's API key for one provider, encrypted at rest (MultiFernet); only a hint is ever shown."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="provider_keys")
    provider = models.CharField(max_length=20, choices=Provider.choices)
    encrypted_key = models.TextField(editable=False)
    key_hint = models.CharField(max_length=8, blank=True, help_text="The last four characters, for recognition.")
    config = models.JSONField(
        default=dict,
        blank=True,
        help_text="Non-secret settings: base_url, and the models that endpoint listed when the key was tested.",
    )
    is_active = models.BooleanField(default=True)
    is_default = models.BooleanField(default=False)
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "user_keys"
        constraints = [
            models.UniqueConstraint(fields=["user", "provider"], name="user_keys_one_per_provider"),
            choices_check("provider", Provider, "user_keys_provider_valid"),
        ]
        indexes = [models.Index(fields=["provider"], name="user_keys_provider_idx")]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} key …{self.key_hint} of {self.user}"


class KeyAuditLogAction(models.TextChoices):
    CREATE = "create", "Created"
    UPDATE = "update", "Replaced"
    DELETE = "delete", "Deleted"
    ACTIVATE = "activate", "Activated"
    DEACTIVATE = "deactivate", "Deactivated"
    TEST = "test", "Tested"
    USE = "use", "Used by a chat"
    DECRYPT_FAILURE = "decrypt_failure", "Could not be decrypted"
    ROTATE = "rotate", "Re-encrypted"


class KeyAuditLog(models.Model):
    """Append-only trail of everything done with a user's API keys."""

    Action = KeyAuditLogAction

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="key_audit_logs")
    provider = models.CharField(max_length=20, choices=Provider.choices)
    action = models.CharField(max_length=20, choices=Action.choices)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    success = models.BooleanField(default=True)
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "api_key_audit_log"
        ordering = ["-created_at"]
        constraints = [
            choices_check("provider", Provider, "key_audit_provider_valid"),
            choices_check("action", KeyAuditLogAction, "key_audit_action_valid"),
        ]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="key_audit_user_created_idx"),
            models.Index(fields=["provider"], name="key_audit_provider_idx"),
            models.Index(fields=["action"], name="key_audit_action_idx"),
            models.Index(fields=["success"], name="key_audit_success_idx"),
            models.Index(fields=["-created_at"], name="key_audit_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.provider} key ({'ok' if self.success else 'failed'})"


class AutoApprovalSettings(models.Model):
    """Which tool calls run without asking (seed 004)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="auto_approval_settings")
    read_only_operations = models.BooleanField(default=False)
    low_risk_operations = models.BooleanField(default=False)
    specific_tools = models.JSONField(default=dict, blank=True)
    max_cost_per_tool = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("1.00"))
    max_cost_per_hour = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("10.00"))
    require_approval_for_new_tools = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "auto_approval_settings"
        verbose_name_plural = "auto-approval settings"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(max_cost_per_tool__gte=0, max_cost_per_hour__gte=0),
                name="auto_approval_costs_not_negative",
            )
        ]

    def __str__(self) -> str:
        return f"auto-approval of {self.user}"


class Feedback(models.Model):
    """General feedback about the application (seed 002)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="feedback")
    message = models.TextField()
    # The page the form was opened from (a path on this site), so a report about "this page" can be found.
    page = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "feedback"
        verbose_name_plural = "feedback"
        indexes = [models.Index(fields=["-created_at"], name="feedback_created_idx")]

    def __str__(self) -> str:
        return self.message[:60]


def data_export_path(instance: DataExport, filename: str) -> str:
    return f"exports/{instance.user_id}/{uuid.uuid4().hex}/{filename[-100:]}"


class DataExportStatus(models.TextChoices):
    PENDING = "pending", "Waiting"
    RUNNING = "running", "Being built"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class DataExport(models.Model):
    """A zip of everything a user owns, built by a Celery job; downloadable by its owner until `expires_at`, then
    deleted by the cleanup job (with its file)."""

    Status = DataExportStatus

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="data_exports")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    progress = models.PositiveSmallIntegerField(default=0)
    file = models.FileField(upload_to=data_export_path, max_length=500, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "data_exports"
        constraints = [
            choices_check("status", DataExportStatus, "data_exports_status_valid"),
            models.CheckConstraint(condition=models.Q(progress__lte=100), name="data_exports_progress_percent"),
        ]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="data_exports_user_created_idx"),
            models.Index(fields=["expires_at"], name="data_exports_expires_idx"),
        ]

    def __str__(self) -> str:
        return f"export of {self.user} ({self.status})"


@receiver(post_delete, sender=DataExport)
def _delete_export_file(sender: type, instance: DataExport, **kwargs) -> None:
    delete_file_after_commit(instance.file)
