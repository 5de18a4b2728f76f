"""Reads of conversations and messages (seed 001's common queries), always scoped to their owner."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
import uuid
from dataclasses import dataclass

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.db import connection
from django.db.models import (
    Case,
    Count,
    F,
    Max,
    Min,
    Prefetch,
    Q,
    QuerySet,
    Value,
    When,
    Window,
    prefetch_related_objects,
)
from django.db.models.functions import RowNumber
from django.shortcuts import get_object_or_404

from accounts.models import User
from chatbot.markdown import plain_text
from conversations.models import Attachment, Conversation, Message, Vote


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
    pinned: bool | None = None,
    in_project: bool | None = None,
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
    if pinned is not None:  # the sidebar lists pinned chats apart, above the pages of the others
        queryset = queryset.filter(pinned=pinned)
    if in_project is not None:  # the sidebar lists a project's chats under it, not among the recent ones
        queryset = queryset.filter(project__isnull=not in_project)
    return keyset_page(queryset, cursor=cursor, limit=limit)


def keyset_page(queryset: QuerySet[Conversation], *, cursor: str | None, limit: int) -> ConversationPage:
    """One page of conversations, newest activity first, after `cursor` (an invalid one starts from the top).

    Keyset, not OFFSET: a chat moving to the top while someone scrolls neither repeats nor skips a row.
    """
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


def _in_period(
    queryset: QuerySet, field: str, *, since: dt.date | None = None, until: dt.date | None = None
) -> QuerySet:
    """Rows whose `field` falls between the two days, both included (days of TIME_ZONE)."""
    if since:
        queryset = queryset.filter(**{f"{field}__date__gte": since})
    if until:
        queryset = queryset.filter(**{f"{field}__date__lte": until})
    return queryset


def message_search(
    *,
    user: User,
    query: str,
    limit: int = 20,
    role: str | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    project_id: uuid.UUID | None = None,
) -> QuerySet[Message]:
    """Full-text search of the user's messages, best match first (uses the GIN index on search_vector); `since`
    and `until` (days, both included) and `project_id` narrow it.

    One message per turn: a question and its replies (a Retry adds a sibling reply, often word for word the same)
    would otherwise all be listed for one exchange. The question stands for its turn when it matches: the user
    searches with the words they wrote, and a reply that repeats them more often (one quoting passages, the offline
    assistant's) ranked above the question, which was then found only through it. Otherwise the best reply stands,
    the newest on a tie.
    """
    search = SearchQuery(query, search_type="websearch", config="english")
    queryset = Message.objects.filter(conversation__user=user, search_vector=search)
    if role:
        queryset = queryset.filter(role=role)
    queryset = _in_period(queryset, "created_at", since=since, until=until)
    if project_id is not None:
        queryset = queryset.filter(conversation__project_id=project_id)
    # A reply belongs to the turn of the question it answers; a question (or a first message) starts one.
    turn = Case(When(Q(role=Message.Role.USER) | Q(parent__isnull=True), then=F("id")), default=F("parent_id"))
    question_first = Case(When(role=Message.Role.USER, then=Value(0)), default=Value(1))
    best_of_each_turn = (
        queryset.annotate(rank=SearchRank(F("search_vector"), search))
        .annotate(
            place_in_turn=Window(
                RowNumber(),
                partition_by=[turn],
                order_by=[question_first, F("rank").desc(), F("created_at").desc()],
            )
        )
        .filter(place_in_turn=1)
        .values("id")
    )
    return (
        Message.objects.filter(id__in=best_of_each_turn)
        .annotate(rank=SearchRank(F("search_vector"), search))
        .select_related("conversation")
        .defer("search_vector")
        .order_by("-rank", "-created_at")[:limit]
    )


@dataclass(frozen=True)
class Fragment:
    """A piece of a search snippet; `match` pieces are the words the query found (the page marks them)."""

    text: str
    match: bool = False


@dataclass(frozen=True)
class MessageHit:
    message: Message
    snippet: list[Fragment]


@dataclass(frozen=True)
class ConversationHit:
    conversation: Conversation
    title: list[Fragment]


@dataclass(frozen=True)
class SearchResults:
    conversations: list[ConversationHit]
    messages: list[MessageHit]


SNIPPET_LENGTH = 240
_WORD = re.compile(r"\w+")


def _matching_words(*, query: str, texts: list[str]) -> set[str]:
    """The words of `texts` that the query matches, lower-cased: judged by PostgreSQL's own stemming (one query),
    so "jumping" marks "jumped" exactly when the search found it."""
    words = sorted({word.lower() for text in texts for word in _WORD.findall(text)})
    if not words:
        return set()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT word FROM unnest(%s::text[]) AS word
            WHERE tsvector_to_array(to_tsvector('english', word))
                  && tsvector_to_array(to_tsvector('english', %s))
            """,
            [words, query],
        )
        return {row[0] for row in cursor.fetchall()}


def _fragments(text: str, matches: set[str]) -> list[Fragment]:
    pieces: list[Fragment] = []
    position = 0
    for word in _WORD.finditer(text):
        if word.group().lower() in matches:
            if word.start() > position:
                pieces.append(Fragment(text[position : word.start()]))
            pieces.append(Fragment(word.group(), match=True))
            position = word.end()
    if position < len(text):
        pieces.append(Fragment(text[position:]))
    return pieces


def _snippet(text: str, matches: set[str], length: int = SNIPPET_LENGTH) -> list[Fragment]:
    """About `length` characters of `text` around its first match, cut at spaces, marked where it was cut."""
    first = next((word.start() for word in _WORD.finditer(text) if word.group().lower() in matches), 0)
    start = max(0, min(first - length // 2, len(text) - length))
    end = min(len(text), start + length)
    if start > 0:
        space = text.find(" ", start, first)
        start = space + 1 if space != -1 else start
    if end < len(text):
        space = text.rfind(" ", max(first, start), end)
        end = space if space > first else end
    pieces = _fragments(text[start:end], matches)
    if start > 0:
        pieces.insert(0, Fragment("… "))
    if end < len(text):
        pieces.append(Fragment(" …"))
    return pieces


def conversation_search(
    *,
    user: User,
    query: str,
    limit: int = 30,
    role: str | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    project_id: uuid.UUID | None = None,
) -> SearchResults:
    """The user's conversations whose title matches, and their messages that do (one per turn), as plain-text
    snippets around the first match with the matching words marked. Replies are Markdown: their syntax is
    left out of the snippet, as the reader never sees it. Filters: a role (messages only: a title has none),
    a period (a message's time; a conversation's last activity) and a project."""
    search = SearchQuery(query, search_type="websearch", config="english")
    title_vector = SearchVector("title", config="english")
    conversations = []
    if not role:
        titles = Conversation.objects.filter(user=user)
        titles = _in_period(titles, "updated_at", since=since, until=until)
        if project_id is not None:
            titles = titles.filter(project_id=project_id)
        conversations = list(
            titles.annotate(title_vector=title_vector)
            .filter(title_vector=search)
            .annotate(rank=SearchRank(title_vector, search))
            .order_by("-rank", "-updated_at")[:limit]
        )
    messages = list(
        message_search(user=user, query=query, limit=limit, role=role, since=since, until=until, project_id=project_id)
    )
    texts = {
        message.id: plain_text(message.content) if message.role == Message.Role.ASSISTANT else message.content
        for message in messages
    }
    matches = _matching_words(query=query, texts=[*texts.values(), *(c.title for c in conversations)])
    return SearchResults(
        conversations=[ConversationHit(conversation=c, title=_fragments(c.title, matches)) for c in conversations],
        messages=[MessageHit(message=m, snippet=_snippet(" ".join(texts[m.id].split()), matches)) for m in messages],
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
    # The files shown under each question, in one query for the branch (partials/attachment_list.html).
    prefetch_related_objects(path, Prefetch("attachments", queryset=Attachment.objects.order_by("created_at", "id")))
    return [ThreadItem(message=m, siblings=[s.id for s in children.get(m.parent_id, [])]) for m in path]


def message_path(*, leaf_id: uuid.UUID) -> list[Message]:
    """The messages from the root down to `leaf_id`, root first: one branch, whatever else the tree holds.

    For a prompt: only the columns it reads, and none of the other branches' rows; `has_attachments` on each and
    `conversation_summarised` (whether the conversation has any summary), so that a branch without files, or a
    conversation never summarised, costs no query to find out (prompt_attachments, summaries.plan_context).
    """
    return list(
        Message.objects.raw(
            """
            WITH RECURSIVE path AS (
                SELECT id, parent_id, 0 AS depth FROM messages WHERE id = %(leaf)s
                UNION ALL
                SELECT m.id, m.parent_id, path.depth + 1 FROM messages m JOIN path ON m.id = path.parent_id
            ),
            summarised AS (
                SELECT EXISTS (
                    SELECT 1 FROM context_optimizations o JOIN messages leaf ON leaf.conversation_id = o.conversation_id
                    WHERE leaf.id = %(leaf)s AND o.optimization_type = 'summarization'
                ) AS any
            )
            SELECT m.id, m.conversation_id, m.parent_id, m.role, m.content, m.status, m.created_at,
                   m.role = 'user' AND EXISTS (SELECT 1 FROM chat_attachments a WHERE a.message_id = m.id)
                       AS has_attachments,
                   summarised.any AS conversation_summarised
            FROM path JOIN messages m ON m.id = path.id CROSS JOIN summarised
            ORDER BY path.depth DESC
            """,
            {"leaf": leaf_id},
        )
    )
