"""Pages and actions of tools: Settings → Tools, approving or denying a call, and the activity page."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts import services as account_services
from accounts.decorators import registered_required
from accounts.services import ClientInfo
from chatbot.tools import mcp
from chatbot.tools.forms import ToolSettingsForm
from chatbot.tools.registry import available_tools
from conversations.models import ToolExecution

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


@require_POST
async def tool_decide(request: HttpRequest, execution_id: uuid.UUID) -> HttpResponse:
    """Approve, approve always, or deny a call: its owner only (404 for anyone else). Answering the round's last
    open call resumes the reply, in this process, whichever process started it."""
    from chatbot.db import in_thread
    from chatbot.tools.selectors import tool_execution_get
    from chatbot.tools.waiting import APPROVE, APPROVE_ALWAYS, DENY, ArgumentsChanged, answer, card_html
    from conversations.generation import start_generation

    user = await request.auser()
    if not user.is_authenticated:
        raise Http404
    decision = request.POST.get("decision", "")
    expected = request.POST.get("arguments_hash", "")

    conversation_id = None

    def save() -> uuid.UUID | None:
        nonlocal conversation_id
        execution = tool_execution_get(user=user, execution_id=execution_id)
        conversation_id = execution.conversation_id
        if decision not in (APPROVE, APPROVE_ALWAYS, DENY):
            raise ValueError("Unknown decision.")
        return answer(user=user, execution=execution, decision=decision, expected_hash=expected)

    def back_to_chat(error: str = "") -> HttpResponse:
        # Without JavaScript the card's form posted the page away: back to the chat, at the card.
        if error:
            messages.error(request, error)
        return redirect(reverse("conversations:detail", args=[conversation_id]) + f"#tool-{execution_id}")

    try:
        stream_id = await in_thread(save)
    except ValueError:
        error = "Approve, approve always or deny."
        return back_to_chat(error) if not request.htmx else HttpResponse(error, status=400)
    except ArgumentsChanged:
        error = "These are not the arguments of this call any more: reload the page."
        return back_to_chat(error) if not request.htmx else HttpResponse(error, status=409)
    if stream_id is not None:
        start_generation(stream_id, ClientInfo.from_request(request))
    if not request.htmx:
        return back_to_chat()
    html = await in_thread(
        lambda: card_html(execution=ToolExecution.objects.select_related("conversation").get(id=execution_id))
    )
    return HttpResponse(html)


@registered_required
def conversation_tools(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    """The chat's own tool choices: its owner only (404 for anyone else). Loaded into the chat's settings panel
    when opened (listing MCP servers' tools may take a moment, not paid on every chat page), a page of its own
    without JavaScript; saving goes back to the chat."""
    from chatbot.tools.overrides import ConversationToolsForm, conversation_tools_set
    from conversations import selectors as conversation_selectors

    conversation = conversation_selectors.conversation_get(user=request.user, conversation_id=conversation_id)
    tools = available_tools()
    form = ConversationToolsForm(
        request.POST or None,
        tools=tools,
        overrides=conversation.auto_approval,
        user_tools=account_services.auto_approval_settings_get(user=request.user).specific_tools,
        auto_id="chat-tools-%s",  # ids apart from the chat page's own fields
    )
    saved = False
    if request.method == "POST" and form.is_valid():
        conversation_tools_set(conversation=conversation, choices=form.choices(), tools=tools)
        if not request.htmx:
            messages.success(request, "Tools in this chat saved.")
            return redirect("conversations:detail", conversation.id)
        saved = True
    context = {"conversation": conversation, "form": form, "saved": saved}
    template = "conversations/partials/chat_tools.html" if request.htmx else "conversations/chat_tools.html"
    return render(request, template, context, status=400 if form.errors else 200)
