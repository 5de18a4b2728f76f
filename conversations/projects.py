"""Projects (issue 16, seed 002): a user's chats grouped under a name, with the project's own instructions (added to
the system prompt of its chats, conversations/prompting.py) and its own documents (searched first by its chats,
documents/retrieval.py). Services for the writes, selectors for the reads; every lookup scoped to the owner."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, F, Q, QuerySet, Window
from django.db.models.functions import RowNumber
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.models import User
from chatbot.text import clean_text, has_visible_text
from conversations.models import Conversation, Project
from documents.models import Document

MAX_NAME_LENGTH = Project._meta.get_field("name").max_length
MAX_DESCRIPTION_LENGTH = 2_000
MAX_INSTRUCTIONS_LENGTH = 10_000  # as a conversation's own system prompt
MAX_PROJECTS = 500  # a sanity cap on what the sidebar and the menus list, not a product limit
SIDEBAR_CHATS = 5  # each project's most recent chats in the sidebar; the project's page lists them all


# Selectors


def project_list(*, user: User) -> list[Project]:
    """The user's projects, by name, each with `.chat_count` (its chats not archived)."""
    return list(
        Project.objects.filter(user=user)
        .annotate(chat_count=Count("conversations", filter=Q(conversations__archived_at__isnull=True)))
        .order_by("name", "id")[:MAX_PROJECTS]
    )


def project_choices(*, user: User) -> list[tuple[uuid.UUID, str]]:
    """(id, name) of the user's projects, for a chat's "Move to project" menu."""
    return list(Project.objects.filter(user=user).order_by("name", "id").values_list("id", "name")[:MAX_PROJECTS])


def project_get(*, user: User, project_id: uuid.UUID | str) -> Project:
    """One of the user's projects; 404 for anyone else's (it looks exactly like a missing one) or a malformed id."""
    try:
        project_id = uuid.UUID(str(project_id))
    except ValueError:
        raise Http404 from None
    return get_object_or_404(Project, id=project_id, user=user)


def project_conversations(*, project: Project, archived: bool = False) -> QuerySet[Conversation]:
    """The project's chats (archived ones apart), most recently active first."""
    return Conversation.objects.filter(
        user_id=project.user_id, project=project, archived_at__isnull=not archived
    ).order_by("-updated_at", "-id")


def project_documents(*, project: Project) -> QuerySet[Document]:
    """The project's documents (its knowledge), by title; only the owner's own, whatever the table holds."""
    return project.documents.filter(owner_id=project.user_id).order_by("title", "id")


def addable_documents(*, project: Project) -> QuerySet[Document]:
    """The owner's documents not yet in the project, by title; not those that failed (they have nothing to search:
    fixed and ingested again, they are offered)."""
    return (
        Document.objects.filter(owner_id=project.user_id)
        .exclude(projects=project)
        .exclude(status=Document.Status.FAILED)
        .order_by("title", "id")
        .only("id", "title", "status")
    )


def project_document_ids(*, conversation: Conversation) -> list[uuid.UUID]:
    """The documents a chat searches first: its project's, the owner's own (documents/retrieval.py)."""
    if conversation.project_id is None:
        return []
    return list(
        Document.objects.filter(projects=conversation.project_id, owner_id=conversation.user_id).values_list(
            "id", flat=True
        )
    )


@dataclass
class SidebarProject:
    project: Project
    conversations: list[Conversation]
    more: int  # chats of the project not listed in the sidebar (on its page)


def sidebar_projects(*, user: User, limit: int = SIDEBAR_CHATS) -> list[SidebarProject]:
    """The sidebar's Projects group: each project with its `limit` most recent chats that are neither pinned (the
    Pinned group lists those) nor archived. Two queries, however many projects there are."""
    projects = project_list(user=user)
    if not projects:
        return []
    ranked = (
        Conversation.objects.filter(user=user, project__isnull=False, pinned=False, archived_at__isnull=True)
        .annotate(
            place=Window(RowNumber(), partition_by=[F("project_id")], order_by=[F("updated_at").desc(), F("id").desc()])
        )
        .filter(place__lte=limit)
        .order_by("project_id", "place")
    )
    chats: dict[uuid.UUID, list[Conversation]] = {}
    for conversation in ranked:
        chats.setdefault(conversation.project_id, []).append(conversation)
    return [
        SidebarProject(
            project=project,
            conversations=chats.get(project.id, []),
            more=max(project.chat_count - len(chats.get(project.id, [])), 0),
        )
        for project in projects
    ]


# Services


def _clean_fields(*, name: str, description: str, instructions: str) -> tuple[str, str, str]:
    """The fields as saved (control characters removed, the name on one line), or ValidationError naming each
    problem: refused, never cut, as a title is."""
    name = " ".join(clean_text(name).split())
    description = clean_text(description).strip()
    instructions = clean_text(instructions).strip()
    errors: dict[str, str] = {}
    if not name or not has_visible_text(name):
        errors["name"] = "A project needs a name."
    elif len(name) > MAX_NAME_LENGTH:
        errors["name"] = f"A name can be {MAX_NAME_LENGTH} characters long at most; this one has {len(name):,}."
    if len(description) > MAX_DESCRIPTION_LENGTH:
        errors["description"] = f"A description can be {MAX_DESCRIPTION_LENGTH:,} characters long at most."
    if len(instructions) > MAX_INSTRUCTIONS_LENGTH:
        errors["instructions"] = f"Instructions can be {MAX_INSTRUCTIONS_LENGTH:,} characters long at most."
    if errors:
        raise ValidationError(errors)
    return name, description, instructions


def project_create(*, user: User, name: str, description: str = "", instructions: str = "") -> Project:
    name, description, instructions = _clean_fields(name=name, description=description, instructions=instructions)
    if Project.objects.filter(user=user).count() >= MAX_PROJECTS:
        raise ValidationError({"name": f"You can have {MAX_PROJECTS} projects at most."})
    return Project.objects.create(user=user, name=name, description=description, instructions=instructions)


def project_update(*, project: Project, name: str, description: str, instructions: str) -> Project:
    """Rename the project, describe it, change its instructions (the next reply of its chats follows them)."""
    project.name, project.description, project.instructions = _clean_fields(
        name=name, description=description, instructions=instructions
    )
    project.save(update_fields=["name", "description", "instructions", "updated_at"])
    return project


@transaction.atomic
def project_delete(*, project: Project, with_chats: bool) -> int:
    """Delete a project. With its chats: they are deleted too (archived ones included); without: they move out of
    it and stay in the user's chats. Its documents are never deleted, only unlinked. Returns the chats deleted."""
    conversations = Conversation.objects.filter(user_id=project.user_id, project=project)
    deleted = 0
    if with_chats:
        from conversations.services import conversations_delete

        deleted = conversations_delete(conversations=conversations)
    else:
        conversations.update(project=None)  # not updated_at: moving out is no activity in the chat
    project.delete()
    return deleted


def conversation_set_project(*, conversation: Conversation, project: Project | None) -> Conversation:
    """Move a chat into `project` (the same owner's: the caller looked it up scoped to the owner) or out of any
    (None). Its place in the recent list does not change: moving is no activity in it."""
    if project is not None and project.user_id != conversation.user_id:
        raise PermissionError("a chat can only move into a project of its owner")
    conversation.project = project
    conversation.save(update_fields=["project"])
    return conversation


def project_add_documents(*, project: Project, document_ids: list[uuid.UUID | str]) -> int:
    """Add the owner's documents among `document_ids` to the project; others' ids are ignored. Returns how many."""
    documents = list(Document.objects.filter(owner_id=project.user_id, id__in=document_ids).exclude(projects=project))
    project.documents.add(*documents)
    if documents:
        Project.objects.filter(id=project.id).update(updated_at=timezone.now())
    return len(documents)


def project_remove_document(*, project: Project, document: Document) -> None:
    """Take a document out of the project (the document itself stays)."""
    project.documents.remove(document)
