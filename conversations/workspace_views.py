"""The chat workspace's own pages and actions (issue 16): pin and archive, the Archived page, the layout switch."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import Resolver404, resolve, reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from accounts.models import Preferences
from chatbot.redirects import next_url
from chatbot.text import clean_text
from conversations import selectors, services, sidebar


def _conversation_on_screen(request: HttpRequest) -> uuid.UUID | None:
    """The conversation of the page that sent an htmx request (its address, HX-Current-URL), if it is one."""
    from urllib.parse import urlsplit

    if not request.htmx or not request.htmx.current_url:
        return None
    try:
        match = resolve(urlsplit(request.htmx.current_url).path)
    except (Resolver404, ValueError):  # ValueError: not a URL at all ("http://[", an unclosed IPv6 host)
        return None
    return match.kwargs.get("conversation_id") if match.view_name == "conversations:detail" else None


def sidebar_context(request: HttpRequest, *, cursor: str | None = None) -> dict:
    """What the sidebar's partials need: a page of it, in the user's preferences."""
    from conversations.projects import sidebar_projects

    preferences = sidebar.workspace_preferences(user=request.user)
    # The Projects group (each project with its latest chats), and the projects each chat's menu can move it to.
    in_projects = sidebar_projects(user=request.user)
    page = sidebar.sidebar_page(
        user=request.user,
        cursor=cursor,
        previews=preferences.conversation_previews,
        also=[chat for entry in in_projects for chat in entry.conversations] if cursor is None else (),
    )
    return {"sidebar": page, "workspace": preferences, "sidebar_projects": in_projects}


def _sidebar_response(request: HttpRequest) -> HttpResponse:
    """The sidebar's first page, redrawn after a chat in it changed place (pinned, archived…)."""
    context = sidebar_context(request)
    on_screen = _conversation_on_screen(request)
    if on_screen is None:
        return render(request, "conversations/partials/sidebar_groups.html", context)
    conversation = selectors.conversation_get(user=request.user, conversation_id=on_screen)
    context["conversation"] = conversation
    response = render(request, "conversations/partials/sidebar_groups.html", context)
    # The chat on screen: its header's Pin and Archive (and the notice that it is archived) say what a pin or an
    # archive from the sidebar or from the header made it.
    for template in ("chat_pin.html", "chat_archive.html", "chat_archived_notice.html"):
        response.content += render_to_string(
            f"conversations/partials/{template}", {"conversation": conversation, "oob": True}, request=request
        ).encode()
    return response


def _flag(request: HttpRequest, name: str) -> bool:
    return request.POST.get(name, "") in {"1", "on", "true"}


@login_required
@require_POST
def conversation_pin(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    """Pin (pinned=1) or unpin (pinned=0) one of the user's chats; another user's is a 404."""
    conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
    services.conversation_set_pinned(conversation=conversation, pinned=_flag(request, "pinned"))
    if request.htmx:
        return _sidebar_response(request)
    return redirect(next_url(request, reverse("conversations:detail", args=[conversation.id])))


@login_required
@require_POST
def conversation_archive(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    """Archive (archived=1) or restore (archived=0) one of the user's chats; another user's is a 404."""
    conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
    archived = _flag(request, "archived")
    services.conversation_set_archived(conversation=conversation, archived=archived)
    # Archived from its own header, the chat on screen stays there, archived (the header offers Restore); from the
    # sidebar's menu, it leaves for a new chat, as after deleting it. Any other chat: the sidebar shows the change.
    from_header = request.htmx and request.htmx.trigger == "chat-archive-form"
    if request.htmx and (from_header or not (archived and _conversation_on_screen(request) == conversation.id)):
        return _sidebar_response(request)  # the list and the header show the change: no notice to carry elsewhere
    name = conversation.title or "The chat"
    if archived:
        messages.success(request, f"“{name}” was archived: it is on the Archived chats page.")
    else:
        messages.success(request, f"“{name}” was restored to your chats.")
    if request.htmx:
        # The chat on screen left the sidebar: a new chat takes its place, as after deleting it.
        return HttpResponseClientRedirect(reverse("conversations:index"))
    if archived:
        return redirect(next_url(request, reverse("conversations:index")))
    return redirect(next_url(request, reverse("conversations:detail", args=[conversation.id])))


@login_required
@require_GET
def archived_list(request: HttpRequest) -> HttpResponse:
    """The user's archived chats, searchable, each restorable (and deletable); a page at a time."""
    query = clean_text(request.GET.get("q", "")).strip()[:200]
    page = sidebar.archived_list(user=request.user, query=query, cursor=request.GET.get("cursor"))
    context = {"page": page, "query": query}
    template = (
        "conversations/partials/archived_items.html"
        if request.htmx and not request.htmx.boosted
        else "conversations/archived.html"
    )
    return render(request, template, context)


@login_required
@require_POST
def layout_switch(request: HttpRequest) -> HttpResponse:
    """The chat page's layout from the page itself: the sidebar kept open, or full screen (the sidebar behind a
    button). The same preference as on the settings page."""
    value = request.POST.get("layout", "")
    if value not in Preferences.Layout.values:
        return HttpResponse("Unknown layout.", status=400, content_type="text/plain; charset=utf-8")
    Preferences.objects.update_or_create(user=request.user, defaults={"layout": value})
    return redirect(next_url(request, reverse("conversations:index")))
