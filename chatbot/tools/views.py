"""Pages and actions of tools: Settings → Tools, approving or denying a call, and the activity page."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from accounts import services as account_services
from accounts.decorators import registered_required
from chatbot.tools import mcp
from chatbot.tools.forms import ToolSettingsForm
from chatbot.tools.registry import available_tools

APPROVAL_TIMEOUT_MINUTES = 10


@registered_required
def tools_settings(request: HttpRequest) -> HttpResponse:
    """The auto-approval rules and a choice per tool (built-ins and the reachable MCP servers' tools)."""
    instance = account_services.auto_approval_settings_get(user=request.user)
    form = ToolSettingsForm(request.POST or None, instance=instance, tools=available_tools())
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Tool approval saved.")
        return redirect(request.path)
    context = {
        "form": form,
        "title": "Tool approval",
        "section": "tools",
        "servers": mcp.server_statuses(),
        "approval_minutes": APPROVAL_TIMEOUT_MINUTES,
    }
    return render(request, "accounts/tools.html", context, status=400 if form.errors else 200)


@registered_required
def tool_activity(request: HttpRequest) -> HttpResponse:
    """The user's tool calls, newest first, with their status, timing and cost."""
    from django.core.paginator import Paginator

    from chatbot.tools.selectors import tool_execution_list

    page = Paginator(tool_execution_list(user=request.user), 50).get_page(request.GET.get("page"))
    return render(request, "accounts/tools_activity.html", {"page": page, "section": "tool_activity"})
