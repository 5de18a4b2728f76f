from __future__ import annotations

from allauth.account.decorators import reauthentication_required
from allauth.account.mixins import RedirectAuthenticatedUserMixin
from allauth.account.views import SignupView as AllauthSignupView
from allauth.decorators import rate_limit
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from accounts import selectors, services
from accounts.decorators import registered_required
from accounts.forms import (
    DeleteAccountForm,
    PreferencesForm,
    ProviderKeyForm,
    RetrievalSettingsForm,
)
from accounts.models import Preferences, ProviderKey
from accounts.services import ClientInfo
from chatbot.llm.catalog import PROVIDERS
from chatbot.netpolicy import user_base_urls_allowed
from chatbot.ratelimit import hit


def _settings_form(request: HttpRequest, *, form_class, instance, title: str, section: str) -> HttpResponse:
    form = form_class(request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"{title} saved.")
        return redirect(request.path)
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "title": title, "section": section}
    return render(request, "accounts/settings_form.html", context, status=status)


@login_required
def preferences(request: HttpRequest) -> HttpResponse:
    """Preferences, with the models' part (the default model, the models hidden from the composer's menu) drawn
    from the models the user can use."""
    instance = services.preferences_get(user=request.user)
    form = PreferencesForm(request.POST or None, instance=instance, user=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Preferences saved.")
        return redirect(request.path)
    context = {"form": form, "title": "Preferences", "section": "preferences"}
    return render(request, "accounts/preferences.html", context, status=400 if form.errors else 200)


@registered_required
def retrieval_settings(request: HttpRequest) -> HttpResponse:
    instance = services.retrieval_settings_get(user=request.user)
    return _settings_form(
        request, form_class=RetrievalSettingsForm, instance=instance, title="Document search", section="retrieval"
    )


@registered_required
def auto_approval_settings(request: HttpRequest) -> HttpResponse:
    # Settings → Tools lives with the tools (chatbot/tools/views.py): its per-tool choices come from the registry.
    from chatbot.tools.views import tools_settings

    return tools_settings(request)


@require_POST
def theme(request: HttpRequest) -> HttpResponse:
    """Remember the theme picked with the header toggle (signed-in users; others keep it in the browser)."""
    value = request.POST.get("theme", "")
    if value not in Preferences.Theme.values:
        return HttpResponse("Unknown theme.", status=400)
    if request.user.is_authenticated:
        Preferences.objects.update_or_create(user=request.user, defaults={"theme": value})
    return HttpResponse(status=204)


# --- API keys ---------------------------------------------------------------------------------------------


@registered_required
def key_list(request: HttpRequest) -> HttpResponse:
    form = ProviderKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        base_url = form.cleaned_data.get("base_url")
        config = {"base_url": base_url} if base_url else {}
        key = services.provider_key_save(
            user=request.user,
            provider=form.cleaned_data["provider"],
            api_key=form.cleaned_data["api_key"],
            config=config,
            client=ClientInfo.from_request(request),
        )
        label = f"{key.get_provider_display()} key ending in …{key.key_hint}" if key.key_hint else "Ollama server"
        messages.success(request, f"{label} saved.")
        if base_url:
            # A custom endpoint is tested at once: what it answers, and the models it lists (offered from then on).
            ok, message = services.provider_key_test(key=key, client=ClientInfo.from_request(request))
            (messages.success if ok else messages.error)(request, f"{base_url}: {message}")
        return redirect("accounts:keys")
    keys = selectors.provider_keys_checked(user=request.user)  # each with its failed test, if that is the latest word
    context = {
        "form": form,
        "keys": keys,
        "section": "keys",
        "base_urls_allowed": user_base_urls_allowed(),
        "operator_providers": [spec.label for spec in PROVIDERS.values() if spec.operator_configured],
    }
    return render(request, "accounts/keys.html", context, status=400 if form.errors else 200)


def _own_key(request: HttpRequest, key_id) -> ProviderKey:
    return get_object_or_404(ProviderKey.objects.select_related("user"), id=key_id, user=request.user)


@registered_required
@require_POST
def key_test(request: HttpRequest, key_id) -> HttpResponse:
    key = _own_key(request, key_id)
    allowed, retry_after = hit(scope="key-test", key=str(request.user.id), limit=10, window_seconds=60)
    if not allowed:
        ok, message = False, f"Too many tests; try again in {retry_after} s."
    else:
        ok, message = services.provider_key_test(key=key, client=ClientInfo.from_request(request))
    if request.htmx:
        # The key's status follows (out of band): a failed test says so there, a successful one clears an earlier
        # failure (one refused for too many tries is not in the audit log, and changes nothing).
        key.failed_test = selectors.provider_key_failed_test(key=key)
        return render(request, "accounts/partials/key_test_result.html", {"ok": ok, "message": message, "key": key})
    (messages.success if ok else messages.error)(request, message)
    return redirect("accounts:keys")


@registered_required
@require_POST
def key_toggle(request: HttpRequest, key_id) -> HttpResponse:
    key = _own_key(request, key_id)
    services.provider_key_set_active(key=key, active=not key.is_active, client=ClientInfo.from_request(request))
    messages.success(request, f"{key.get_provider_display()} key {'activated' if key.is_active else 'deactivated'}.")
    return redirect("accounts:keys")


@registered_required
@require_POST
def key_delete(request: HttpRequest, key_id) -> HttpResponse:
    key = _own_key(request, key_id)
    services.provider_key_delete(key=key, client=ClientInfo.from_request(request))
    messages.success(request, f"{key.get_provider_display()} key deleted.")
    return redirect("accounts:keys")


@registered_required
def audit_log(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.audit_log_list(user=request.user), 50).get_page(request.GET.get("page"))
    return render(request, "accounts/audit_log.html", {"page": page, "section": "audit"})


# --- Usage -----------------------------------------------------------------------------------------------------


def _usage_context(request: HttpRequest, days: int) -> dict:
    from django.utils import timezone

    from catalog import selectors as usage
    from catalog.charts import bar_chart
    from catalog.templatetags.usage import format_tokens, format_usd

    by_day = usage.usage_by_day(user_id=request.user.id, days=days)
    budget = request.user.monthly_budget
    spent = usage.month_spend(user_id=request.user.id) if budget is not None else None
    return {
        "section": "usage",
        "days": days,
        "periods": usage.PERIODS,
        "totals": usage.usage_totals(user_id=request.user.id, days=days),
        "by_day": list(reversed(by_day)),  # the table: newest first
        "by_model": usage.usage_by_model(user_id=request.user.id, days=days),
        "token_chart": bar_chart(
            title=f"Tokens per day, last {days} days",
            points=[(day.day, day.tokens) for day in by_day],
            format_value=format_tokens,
            narrow=True,
        ),
        "cost_chart": bar_chart(
            title=f"Cost per day, last {days} days",
            points=[(day.day, float(day.cost or 0)) for day in by_day],
            format_value=format_usd,
            narrow=True,
        ),
        "budget": budget,
        "month_spend": spent,
        "budget_used_percent": min(100, int(spent * 100 / budget)) if budget else (100 if budget == 0 else None),
        "budget_renews": usage.next_month_start(),
        "time_zone": timezone.get_current_timezone_name(),
    }


@registered_required
def usage(request: HttpRequest) -> HttpResponse:
    """The user's own tokens and cost per day (chart and table) and per model, for 7, 30 or 90 days."""
    from catalog.selectors import usage_period

    return render(request, "accounts/usage.html", _usage_context(request, usage_period(request.GET.get("days"))))


CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value) -> str:
    """A cell a spreadsheet shows as text: a model name from a user's own endpoint could start with "=" and be run
    as a formula (CSV injection); such text gets a leading apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(CSV_FORMULA_START) else text


@registered_required
def usage_csv(request: HttpRequest) -> HttpResponse:
    """The same period as a CSV file: one row per day and model used that day."""
    import csv

    from django.utils import timezone

    from catalog.selectors import usage_by_day_and_model, usage_period

    days = usage_period(request.GET.get("days"))
    rows = usage_by_day_and_model(user_id=request.user.id, days=days)
    filename = f"usage-{timezone.localdate():%Y-%m-%d}-last-{days}-days.csv"
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    writer = csv.writer(response)
    writer.writerow(["date", "provider", "model", "requests", "input_tokens", "output_tokens", "cost_usd"])
    for row in rows:
        cost = "" if row["total_cost"] is None else f"{row['total_cost']:.6f}"
        writer.writerow(
            [
                row["day"].isoformat(), _csv_cell(row["provider"]), _csv_cell(row["model"]), row["replies"],
                row["total_input"] or 0, row["total_output"] or 0, cost,
            ]
        )  # fmt: skip
    return response


# --- Sessions -------------------------------------------------------------------------------------------------


@registered_required
def session_list(request: HttpRequest) -> HttpResponse:
    sessions = list(selectors.session_list(user=request.user))
    for session in sessions:
        session.device = selectors.describe_user_agent(session.user_agent)
        session.is_current = session.session_key == request.session.session_key
    return render(request, "accounts/sessions.html", {"sessions": sessions, "section": "sessions"})


@registered_required
@require_POST
def session_revoke(request: HttpRequest, session_key: str) -> HttpResponse:
    if session_key == request.session.session_key:
        logout(request)
        return redirect("account_login")
    if not services.session_revoke(user=request.user, session_key=session_key):
        return HttpResponse("No such session.", status=404)
    messages.success(request, "That device has been signed out.")
    return redirect("accounts:sessions")


@registered_required
@require_POST
def sessions_revoke_others(request: HttpRequest) -> HttpResponse:
    count = services.sessions_revoke_others(user=request.user, current_session_key=request.session.session_key)
    messages.success(request, f"Signed out {count} other session{'s' if count != 1 else ''}.")
    return redirect("accounts:sessions")


# --- Guests and account deletion ------------------------------------------------------------------------------


@require_POST
def guest_start(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        guest = services.guest_create()
        login(request, guest, backend="django.contrib.auth.backends.ModelBackend")
        messages.info(
            request,
            f"You are chatting as a guest ({settings.GUEST_DAILY_MESSAGE_LIMIT} "
            f"message{'s' if settings.GUEST_DAILY_MESSAGE_LIMIT != 1 else ''} a day). "
            "Sign up any time to keep your conversations.",
        )
    return redirect("home")


class SignupView(AllauthSignupView):
    """allauth's sign-up, open to guests: allauth sends every signed-in visitor away from it, but a guest who
    signs up becomes the new account, conversations and all (AccountAdapter.new_user)."""

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.user.is_authenticated and request.user.is_guest:
            return self._dispatch_for_guest(request, *args, **kwargs)
        return super().dispatch(request, *args, **kwargs)

    @method_decorator(rate_limit(action="signup"))
    @method_decorator(sensitive_post_parameters("password1", "password2"))
    @method_decorator(never_cache)
    def _dispatch_for_guest(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        # allauth's own decorators, then everything after RedirectAuthenticatedUserMixin.
        return super(RedirectAuthenticatedUserMixin, self).dispatch(request, *args, **kwargs)


signup = SignupView.as_view()


@registered_required
@reauthentication_required
def delete_account(request: HttpRequest) -> HttpResponse:
    form = DeleteAccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = request.user
        logout(request)
        services.user_delete(user=user)
        messages.success(request, "Your account and everything in it have been deleted.")
        return redirect("home")
    return render(
        request, "accounts/delete_account.html", {"form": form, "section": "delete"}, status=400 if form.errors else 200
    )
