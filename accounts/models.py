from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.contrib.sessions.base_session import AbstractBaseSession
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone


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
