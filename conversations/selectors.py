"""Reads of conversations and messages (seed 001's common queries), always scoped to their owner."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import uuid
from dataclasses import dataclass

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db.models import Count, F, Max, Min, Prefetch, Q, QuerySet
from django.shortcuts import get_object_or_404

from accounts.models import User
from conversations.models import Conversation, Message, Vote


@dataclass(frozen=True)
class ConversationPage:
    conversations: list[Conversation]
    next_cursor: str | None


def _encode_cursor(conversation: Conversation) -> str:
    raw = f"{conversation.updated_at.isoformat()}|{conversation.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[dt.datetime, uuid.UUID] | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, identifier = raw.split("|", 1)
        return dt.datetime.fromisoformat(stamp), uuid.UUID(identifier)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None


def conversation_list(
    *,
    user: User,
    cursor: str | None = None,
    limit: int = 50,
    project_id: uuid.UUID | None = None,
    include_archived: bool = False,
) -> ConversationPage:
    """A user's conversations, most recently active first, a page at a time.

    Keyset pagination on (updated_at, id): each page costs the same however deep the history goes,
    where OFFSET would read and discard every earlier row. An invalid cursor starts from the top.
    """
    queryset = Conversation.objects.filter(user=user).select_related("project")
    if not include_archived:
        queryset = queryset.filter(archived_at__isnull=True)
    if project_id is not None:
        queryset = queryset.filter(project_id=project_id)
    position = _decode_cursor(cursor) if cursor else None
    if position:
        updated_at, identifier = position
        queryset = queryset.filter(Q(updated_at__lt=updated_at) | Q(updated_at=updated_at, id__lt=identifier))
    rows = list(queryset.order_by("-updated_at", "-id")[: limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]
    return ConversationPage(conversations=rows, next_cursor=_encode_cursor(rows[-1]) if has_more and rows else None)


def conversation_get(*, user: User, conversation_id: uuid.UUID | str) -> Conversation:
    """One of the user's conversations; 404 for anyone else's."""
    return get_object_or_404(Conversation.objects.select_related("project"), id=conversation_id, user=user)


def conversation_with_messages(*, user: User, conversation_id: uuid.UUID | str) -> Conversation:
    """A conversation and all its messages (oldest first) in two queries, whatever their number."""
    messages = Message.objects.order_by("created_at", "id").defer("search_vector")
    return get_object_or_404(
        Conversation.objects.select_related("project").prefetch_related(Prefetch("messages", queryset=messages)),
        id=conversation_id,
        user=user,
    )


def recent_messages(*, conversation: Conversation, limit: int = 10) -> list[Message]:
    """The last `limit` messages of a conversation, returned oldest first (ready to display or prompt)."""
    newest_first = Message.objects.filter(conversation=conversation).order_by("-created_at", "-id")[:limit]
    return list(reversed(newest_first.defer("search_vector")))


def message_search(*, user: User, query: str, limit: int = 20, role: str | None = None) -> QuerySet[Message]:
    """Full-text search of the user's messages, best match first (uses the GIN index on search_vector)."""
    search = SearchQuery(query, search_type="websearch", config="english")
    queryset = Message.objects.filter(conversation__user=user, search_vector=search)
    if role:
        queryset = queryset.filter(role=role)
    return (
        queryset.annotate(rank=SearchRank(F("search_vector"), search))
        .select_related("conversation")
        .defer("search_vector")
        .order_by("-rank", "-created_at")[:limit]
    )


def conversation_statistics(*, user: User) -> QuerySet[Conversation]:
    """Per conversation of the user: message count, first and last message time (one grouped query)."""
    return (
        Conversation.objects.filter(user=user)
        .annotate(
            message_count=Count("messages"),
            first_message_at=Min("messages__created_at"),
            last_message_at=Max("messages__created_at"),
        )
        .order_by("-updated_at")
    )


def conversation_votes(*, user: User, conversation_id: uuid.UUID | str) -> QuerySet[Vote]:
    """The user's votes in one of their conversations (404 when the conversation is not theirs)."""
    conversation = conversation_get(user=user, conversation_id=conversation_id)
    return Vote.objects.filter(conversation=conversation, user=user).order_by("created_at")


@dataclass(frozen=True)
class ThreadItem:
    """A message on the branch on screen, with its place among its siblings (for the ‹ 2/3 › arrows)."""

    message: Message
    siblings: list[uuid.UUID]

    @property
    def position(self) -> int:
        return self.siblings.index(self.message.id) + 1

    @property
    def previous_sibling(self) -> uuid.UUID | None:
        index = self.siblings.index(self.message.id)
        return self.siblings[index - 1] if index > 0 else None

    @property
    def next_sibling(self) -> uuid.UUID | None:
        index = self.siblings.index(self.message.id)
        return self.siblings[index + 1] if index + 1 < len(self.siblings) else None


def conversation_thread(*, conversation: Conversation, messages: list[Message] | None = None) -> list[ThreadItem]:
    """The branch ending at the conversation's active leaf, root first (the newest branch if none is set)."""
    if messages is None:
        messages = list(
            Message.objects.filter(conversation=conversation).order_by("created_at", "id").defer("search_vector")
        )
    by_id = {message.id: message for message in messages}
    children: dict[uuid.UUID | None, list[Message]] = {}
    for message in messages:  # already in creation order
        children.setdefault(message.parent_id, []).append(message)
    leaf_id = conversation.active_leaf_id if conversation.active_leaf_id in by_id else None
    if leaf_id is None and messages:
        node = children.get(None, [None])[-1]
        while node is not None and children.get(node.id):
            node = children[node.id][-1]
        leaf_id = node.id if node else None
    path: list[Message] = []
    while leaf_id is not None:
        message = by_id[leaf_id]
        path.append(message)
        leaf_id = message.parent_id
    path.reverse()
    return [ThreadItem(message=m, siblings=[s.id for s in children.get(m.parent_id, [])]) for m in path]


def message_path(*, leaf_id: uuid.UUID) -> list[Message]:
    """The messages from the root down to `leaf_id`, root first: one branch, whatever else the tree holds.

    For a prompt: only the columns it reads, and none of the other branches' rows.
    """
    return list(
        Message.objects.raw(
            """
            WITH RECURSIVE path AS (
                SELECT id, parent_id, 0 AS depth FROM messages WHERE id = %s
                UNION ALL
                SELECT m.id, m.parent_id, path.depth + 1 FROM messages m JOIN path ON m.id = path.parent_id
            )
            SELECT m.id, m.conversation_id, m.parent_id, m.role, m.content, m.status, m.created_at
            FROM path JOIN messages m ON m.id = path.id
            ORDER BY path.depth DESC
            """,
            [leaf_id],
        )
    )
