"""Projects' pages and actions (issue 16): the Projects page (list, create), each project's page (its chats, its
documents, its instructions; rename, describe), deleting one (asked: with or without its chats), its documents
added and removed, and a chat moved into or out of a project (the chat's menus and the sidebar's drag and drop).
Every lookup is scoped to the owner: another user's project or chat is a 404."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from chatbot.redirects import next_url
from conversations import projects, selectors
from conversations.workspace_views import _conversation_on_screen, _sidebar_response
from documents.selectors import document_get


def _fields(request: HttpRequest) -> dict[str, str]:
    return {name: request.POST.get(name, "") for name in ("name", "description", "instructions")}


def _errors(error: ValidationError) -> dict[str, str]:
    return {field: " ".join(problems) for field, problems in error.message_dict.items()}


@login_required
@require_http_methods(["GET", "POST"])
def project_list(request: HttpRequest) -> HttpResponse:
    """The user's projects, and the form creating one (POST: to its page; refused: the form again, with why)."""
    values, errors = {"name": "", "description": "", "instructions": ""}, {}
    if request.method == "POST":
        values = _fields(request)
        try:
            project = projects.project_create(user=request.user, **values)
        except ValidationError as error:
            errors = _errors(error)
        else:
            messages.success(request, f"Project “{project.name}” created.")
            return redirect("conversations:project", project.id)
    context = {"projects": projects.project_list(user=request.user), "values": values, "errors": errors}
    return render(request, "conversations/projects.html", context, status=400 if errors else 200)


def _project_context(request: HttpRequest, project, *, values=None, errors=None) -> dict:
    return {
        "project": project,
        "conversations": list(projects.project_conversations(project=project)[:200]),
        "archived_count": projects.project_conversations(project=project, archived=True).count(),
        "documents": list(projects.project_documents(project=project)),
        "addable": list(projects.addable_documents(project=project)[:500]),
        "values": values
        or {"name": project.name, "description": project.description, "instructions": project.instructions},
        "errors": errors or {},
    }


@login_required
@require_GET
def project_detail(request: HttpRequest, project_id: uuid.UUID) -> HttpResponse:
    """A project's page: a new chat in it, its chats, its documents, its name, description and instructions."""
    project = projects.project_get(user=request.user, project_id=project_id)
    return render(request, "conversations/project.html", _project_context(request, project))


@login_required
@require_POST
def project_edit(request: HttpRequest, project_id: uuid.UUID) -> HttpResponse:
    """Rename the project, describe it, change its instructions."""
    project = projects.project_get(user=request.user, project_id=project_id)
    values = _fields(request)
    try:
        projects.project_update(project=project, **values)
    except ValidationError as error:
        project.refresh_from_db()
        context = _project_context(request, project, values=values, errors=_errors(error))
        return render(request, "conversations/project.html", context, status=400)
    messages.success(request, "Project saved.")
    return redirect("conversations:project", project.id)


@login_required
@require_http_methods(["GET", "POST"])
def project_delete(request: HttpRequest, project_id: uuid.UUID) -> HttpResponse:
    """GET: the question (with its chats, or moving them out); POST: the answer. Without script either way. A
    project without chats is only confirmed: there is nothing to choose."""
    project = projects.project_get(user=request.user, project_id=project_id)
    context = {"project": project, "chat_count": projects.project_conversations(project=project).count()}
    context["archived_count"] = projects.project_conversations(project=project, archived=True).count()
    if request.method == "GET":
        return render(request, "conversations/project_delete.html", context)
    chats = request.POST.get("chats", "")
    if chats not in {"delete", "keep"}:
        if context["chat_count"] or context["archived_count"]:
            context["error"] = "Choose what happens to the project's chats."
            return render(request, "conversations/project_delete.html", context, status=400)
        chats = "keep"  # nothing to keep; and a chat moved in since the page was shown is kept, never deleted unasked
    name = project.name
    deleted = projects.project_delete(project=project, with_chats=chats == "delete")
    if chats == "delete":
        messages.success(request, f"Project “{name}” and its {deleted} chat{'s' if deleted != 1 else ''} deleted.")
    elif context["chat_count"] or context["archived_count"]:
        messages.success(request, f"Project “{name}” deleted; its chats are in your chats.")
    else:
        messages.success(request, f"Project “{name}” deleted.")
    return redirect("conversations:projects")


@login_required
@require_POST
def project_documents_add(request: HttpRequest, project_id: uuid.UUID) -> HttpResponse:
    """Add some of the user's documents to the project (ids not theirs are ignored)."""
    project = projects.project_get(user=request.user, project_id=project_id)
    ids = []
    for value in request.POST.getlist("document")[:500]:
        try:
            ids.append(uuid.UUID(value))
        except ValueError:
            continue
    added = projects.project_add_documents(project=project, document_ids=ids)
    if added:
        messages.success(request, f"{added} document{'s' if added != 1 else ''} added to the project.")
    else:
        messages.error(request, "Choose at least one of your documents to add.")
    return redirect(reverse("conversations:project", args=[project.id]) + "#project-documents")


@login_required
@require_POST
def project_document_remove(request: HttpRequest, project_id: uuid.UUID, document_id: uuid.UUID) -> HttpResponse:
    """Take a document out of the project; the document itself stays in the user's documents."""
    project = projects.project_get(user=request.user, project_id=project_id)
    document = document_get(user=request.user, document_id=document_id, editable=True)
    projects.project_remove_document(project=project, document=document)
    messages.success(request, f"“{document.title}” removed from the project (it is still in your documents).")
    return redirect(reverse("conversations:project", args=[project.id]) + "#project-documents")


@login_required
@require_POST
def conversation_move(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    """Move one of the user's chats into one of their projects (project=<id>) or out of any (project empty).
    Another user's chat or project is a 404. htmx (the sidebar's menu, drag and drop): the sidebar redrawn."""
    conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
    value = request.POST.get("project", "")
    project = projects.project_get(user=request.user, project_id=value) if value else None
    projects.conversation_set_project(conversation=conversation, project=project)
    if request.htmx:
        response = _sidebar_response(request)
        if _conversation_on_screen(request) == conversation.id:
            # The chat on screen moved: its header says where it is now, as a reload would.
            context = {"conversation": conversation, "sidebar_projects": projects.sidebar_projects(user=request.user)}
            response.write(render_to_string("conversations/partials/chat_project_update.html", context, request))
        return response
    name = conversation.title or "The chat"
    if project is None:
        messages.success(request, f"“{name}” is no longer in a project.")
    else:
        messages.success(request, f"“{name}” moved to the project “{project.name}”.")
    return redirect(next_url(request, reverse("conversations:detail", args=[conversation.id])))
