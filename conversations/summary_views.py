"""The "Summarise now" action (conversations/summaries.py)."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.services import ClientInfo
from conversations import selectors
from conversations.summaries import summarise_now
from conversations.templatetags.summaries import marker_context


@login_required
@require_POST
def conversation_summarise(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    """Fold the branch on screen's older turns into its summary now (owner only: 404 for anyone else)."""
    from conversations.generation import resolve_provider

    conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
    thread = selectors.conversation_thread(conversation=conversation)
    provider, name, error, key = resolve_provider(conversation=conversation, client=ClientInfo.from_request(request))
    notice = summarise_now(
        conversation=conversation,
        history=[item.message for item in thread],
        provider=provider if error is None else None,
        provider_name=name,
        key=key,
    )
    if not request.htmx:
        if notice:
            messages.info(request, notice)
        return redirect("conversations:detail", conversation.id)
    context = marker_context(conversation=conversation, thread=thread, notice=notice or "Summarised.")
    return render(request, "conversations/partials/summary_marker.html", context)
