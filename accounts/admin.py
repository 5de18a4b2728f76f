from __future__ import annotations

import uuid

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.contrib.postgres.search import SearchQuery
from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.text import Truncator

from accounts.models import (
    AutoApprovalSettings,
    DataExport,
    Feedback,
    KeyAuditLog,
    Preferences,
    ProviderKey,
    RetrievalSettings,
    Session,
    User,
)


def _normalized_email(value: str | None) -> str | None:
    # User.save() lower-cases too, but the case-insensitive unique constraint is validated before save().
    return value.strip().lower() if value else None


class UserCreationAdminForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Nullable on the model for guests; an account made by staff is a registered one.
        self.fields["email"].required = True

    def clean_email(self) -> str | None:
        return _normalized_email(self.cleaned_data.get("email"))


class UserChangeAdminForm(UserChangeForm):
    class Meta:
        model = User
        exclude = ("profile_image",)  # read by nothing: not offered (fieldsets below)

    def clean_email(self) -> str | None:
        return _normalized_email(self.cleaned_data.get("email"))


class BigTableAdmin(admin.ModelAdmin):
    """For tables that grow to millions of rows: no second count of the whole table, no facet counts."""

    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50


class ReadOnlyAdmin(admin.ModelAdmin):
    """An append-only trail: viewable, never added, edited or deleted from the admin."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class IdOrFullTextSearchMixin:
    """Search big tables through their indexes: a pasted UUID matches ids, other words the tsvector column.

    The default admin search is `icontains` on every search field, a sequential scan on tables of millions of
    rows. search_fields must still be set, since the admin shows the search box (and allows autocomplete) only
    then, but it is not used to build the query.
    """

    # Foreign-key columns a pasted UUID also matches, besides the primary key.
    id_search_fields: tuple[str, ...] = ()
    # A GeneratedField tsvector built with config="english"; None falls back to the default search.
    full_text_field: str | None = None

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            value = uuid.UUID(term)
        except ValueError:
            if self.full_text_field is None:
                return super().get_search_results(request, queryset, search_term)
            query = SearchQuery(term, config="english", search_type="websearch")
            return queryset.filter(**{self.full_text_field: query}), False
        matches = Q(pk=value)
        for field in self.id_search_fields:
            matches |= Q(**{field: value})
        return queryset.filter(matches), False


class PerUserSettingsAdmin(admin.ModelAdmin):
    """One row per user: the user is chosen when adding, and fixed afterwards (it is the row's identity)."""

    autocomplete_fields = ("user",)
    list_select_related = ("user",)
    search_fields = ("user__email", "user__display_name")
    list_per_page = 50

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> tuple[str, ...]:
        readonly = tuple(super().get_readonly_fields(request, obj))
        return (*readonly, "user") if obj is not None else readonly


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserChangeAdminForm
    add_form = UserCreationAdminForm
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        # Not profile_image: nothing shows it.
        ("Profile", {"fields": ("display_name", "is_guest", "favorite_models")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Usage", {"fields": ("monthly_budget", "usage_dashboard", "daily_message_count", "daily_message_reset_on")}),
        ("Important dates", {"fields": ("last_login", "last_active_at", "created_at", "updated_at")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "usable_password", "password1", "password2")}),)
    readonly_fields = ("last_login", "last_active_at", "created_at", "updated_at", "usage_dashboard")
    list_display = ("email_or_guest", "display_name", "is_guest", "is_staff", "last_active_at")
    list_filter = ("is_guest", "is_staff", "is_superuser", "is_active")
    search_fields = ("email", "display_name")
    ordering = ("-created_at",)
    # Guests make this table large.
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50

    @admin.display(description="email", ordering="email")
    def email_or_guest(self, obj: User) -> str:
        return str(obj)

    @admin.display(description="usage")
    def usage_dashboard(self, obj: User) -> str:
        if obj.pk is None:
            return "-"
        url = reverse("admin:catalog_usagedashboard_changelist") + "?" + urlencode({"user": obj.pk})
        return format_html('<a href="{}">Tokens and cost of this user</a>', url)

    def get_deleted_objects(self, objs, request: HttpRequest) -> tuple:
        """What deleting users takes with them, as a count of each kind of row.

        Django's own page listed every row, each linked: for a user with 5,000 messages and 3,000 passages it took
        3-6 s and weighed 1.2 MB, on the confirmation and again on the deletion. Their append-only trails (usage,
        key audit, data exports) may not be deleted one by one here, and Django refused the whole deletion for that
        ("your account doesn't have permission to delete ... usage log"), so no user who had ever chatted could be
        deleted from the admin; they go with their account, as when the user deletes it in Settings. Nothing
        refers to a user's rows with PROTECT, so nothing is ever protected."""
        from chatbot.cleanup import owned_counts
        from conversations.models import UsageLog

        users = list(objs)
        trails = {UsageLog, KeyAuditLog, DataExport}
        counts = {str(User._meta.verbose_name_plural): len(users)}
        perms_needed = set()
        rows = owned_counts([user.pk for user in users])
        for model, count in sorted(rows.items(), key=lambda item: str(item[0]._meta.verbose_name_plural)):
            counts[str(model._meta.verbose_name_plural)] = count
            model_admin = self.admin_site._registry.get(model)
            if model_admin and model not in trails and not model_admin.has_delete_permission(request):
                perms_needed.add(str(model._meta.verbose_name))
        listed = [
            format_html('User: <a href="{}">{}</a>', reverse("admin:accounts_user_change", args=[user.pk]), user)
            for user in users
        ]
        listed += [f"{count:,} {name}" for name, count in list(counts.items())[1:]]
        return listed, counts, perms_needed, []


@admin.register(Session)
class SessionAdmin(BigTableAdmin):
    # session_data (the signed session payload) is never shown; deleting a row signs that device out.
    fields = ("user", "ip", "user_agent", "created_at", "last_seen_at", "expire_date")
    readonly_fields = fields
    list_display = ("__str__", "user", "ip", "user_agent_short", "created_at", "last_seen_at", "expire_date")
    list_select_related = ("user",)
    search_fields = ("user__email", "=ip")
    # Indexed, unlike last_seen_at alone; a signed-in session is saved (its expiry pushed back) every few
    # minutes of activity, so this is also most recently seen first.
    ordering = ("-expire_date",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    @admin.display(description="browser")
    def user_agent_short(self, obj: Session) -> str:
        return Truncator(obj.user_agent).chars(60)


@admin.register(Preferences)
class PreferencesAdmin(PerUserSettingsAdmin):
    list_display = ("__str__", "theme", "layout", "default_model", "multi_model_enabled", "updated_at")
    list_filter = ("theme", "layout", "multi_model_enabled")


@admin.register(RetrievalSettings)
class RetrievalSettingsAdmin(PerUserSettingsAdmin):
    list_display = ("__str__", "enabled", "max_results", "similarity_threshold", "updated_at")
    list_filter = ("enabled",)


@admin.register(AutoApprovalSettings)
class AutoApprovalSettingsAdmin(PerUserSettingsAdmin):
    list_display = (
        "__str__",
        "read_only_operations",
        "low_risk_operations",
        "max_cost_per_tool",
        "max_cost_per_hour",
        "updated_at",
    )
    list_filter = ("read_only_operations", "low_risk_operations", "require_approval_for_new_tools")


@admin.register(ProviderKey)
class ProviderKeyAdmin(admin.ModelAdmin):
    # Keys are encrypted by the app from what the user typed; the admin can only switch them on and off.
    # `is_default` is not offered: nothing reads it (a new chat's model is the user's default model preference).
    fields = ("user", "provider", "key_hint", "config", "is_active", "last_used_at", "created_at")
    exclude = ("encrypted_key",)
    readonly_fields = ("user", "provider", "key_hint", "last_used_at", "created_at")
    list_display = ("__str__", "provider", "user", "key_hint", "is_active", "last_used_at")
    list_select_related = ("user",)
    list_filter = ("provider", "is_active")
    search_fields = ("user__email", "key_hint")
    ordering = ("-created_at",)
    list_per_page = 50

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(KeyAuditLog)
class KeyAuditLogAdmin(ReadOnlyAdmin, BigTableAdmin):
    list_display = ("__str__", "user", "provider", "action", "success", "ip", "created_at")
    list_select_related = ("user",)
    list_filter = ("action", "provider", "success")
    search_fields = ("user__email", "=ip")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin):
    """What users wrote: read (and deletable, for spam), never rewritten or invented by staff."""

    autocomplete_fields = ("user",)
    list_display = ("__str__", "user", "page", "created_at")
    list_select_related = ("user",)
    search_fields = ("message", "user__email")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    list_per_page = 50

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(DataExport)
class DataExportAdmin(ReadOnlyAdmin):
    """Users' full exports, while they last (24 hours): their state only; the zip is its owner's to download."""

    list_display = ("__str__", "user", "status", "progress", "size", "created_at", "expires_at")
    list_select_related = ("user",)
    list_filter = ("status",)
    search_fields = ("user__email",)
    exclude = ("file",)
    ordering = ("-created_at",)
    list_per_page = 50
