from __future__ import annotations

import contextlib
import uuid

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from accounts.admin import ReadOnlyAdmin
from catalog import selectors
from catalog.charts import bar_chart
from catalog.models import ChatModel, UsageDashboard
from catalog.templatetags.usage import format_tokens, format_usd


@admin.register(ChatModel)
class ChatModelAdmin(admin.ModelAdmin):
    list_display = (
        "display_name", "provider", "model_id", "context_window", "input_price", "output_price", "supports_vision",
        "supports_documents", "supports_tools", "supports_reasoning", "enabled",
    )  # fmt: skip
    list_display_links = ("display_name",)
    list_editable = ("enabled",)
    list_filter = (
        "provider",
        "enabled",
        "supports_vision",
        "supports_documents",
        "supports_tools",
        "supports_reasoning",
    )
    search_fields = ("display_name", "model_id")
    ordering = ("provider", "position", "display_name")
    readonly_fields = ("created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("provider", "model_id", "display_name", "enabled", "position")}),
        ("Limits and prices", {
            "fields": ("context_window", "input_price", "output_price"),
            "description": "Prices are US dollars per million tokens, as the provider lists them.",
        }),
        ("Long prompts", {
            "fields": ("long_context_threshold", "long_input_price", "long_output_price"),
            "description": "For providers that bill a whole request at higher prices past a prompt size.",
            "classes": ("collapse",),
        }),
        ("Capabilities", {"fields": ("supports_vision", "supports_documents", "supports_tools", "supports_reasoning")}),
        (None, {"fields": ("created_at", "updated_at")}),
    )  # fmt: skip
    list_per_page = 100


@admin.register(UsageDashboard)
class UsageDashboardAdmin(ReadOnlyAdmin):
    """Tokens and cost per day, per model and per user, and the top spenders, for 7, 30 or 90 days; `?user=`
    narrows it to one user. Staff with the dashboard's view permission (superusers) only."""

    def get_urls(self) -> list:
        from django.urls import path

        return [path("", self.admin_site.admin_view(self.changelist_view), name="catalog_usagedashboard_changelist")]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        from django.core.exceptions import PermissionDenied

        from accounts.models import User

        if not self.has_view_permission(request):
            raise PermissionDenied
        days = selectors.usage_period(request.GET.get("days"))
        user = None
        with contextlib.suppress(ValueError):  # no user, or not an id: everyone's usage
            user = User.objects.filter(id=uuid.UUID(request.GET.get("user", ""))).first()
        user_id = user.id if user is not None else None
        by_day = selectors.usage_by_day(user_id=user_id, days=days)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Usage of {user}" if user else "Usage dashboard",
            "opts": self.model._meta,
            "days": days,
            "time_zone": timezone.get_current_timezone_name(),
            "periods": selectors.PERIODS,
            "chosen_user": user,
            "totals": selectors.usage_totals(user_id=user_id, days=days),
            "by_day": list(reversed(by_day)),
            "cost_chart": bar_chart(
                title=f"Cost per day, last {days} days",
                points=[(day.day, float(day.cost or 0)) for day in by_day],
                format_value=format_usd,
            ),
            "token_chart": bar_chart(
                title=f"Tokens per day, last {days} days",
                points=[(day.day, day.tokens) for day in by_day],
                format_value=format_tokens,
            ),
            "by_model": selectors.usage_by_model(user_id=user_id, days=days),
            "spenders": [] if user else selectors.top_spenders(days=days),
            "month_spend": selectors.month_spend(user_id=user_id) if user else None,
            "logs_url": reverse("admin:conversations_usagelog_changelist")
            + ("?" + urlencode({"q": str(user_id)}) if user else ""),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/catalog/usage_dashboard.html", context)
