"""Reads for the chat workspace: the sidebar (pinned chats, then recent ones in day buckets, a page at a time, each
with its last message as a preview when the user wants it), the archived chats, and the preferences that shape the
chat page. Always scoped to the owner."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.contrib.postgres.search import SearchQuery
from django.db import connection
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Left
from django.utils import formats, timezone

from accounts.models import Preferences, User
from chatbot.markdown import plain_text
from conversations import selectors
from conversations.models import ChatProvider, Conversation, Message

PAGE_SIZE = 50
MAX_PINNED = 100  # pinned chats are listed whole, above the pages: a sanity cap, not a page
PREVIEW_LENGTH = 120
# Enough of a long message's start to make a preview from, without reading the whole of it from the database.
_PREVIEW_SOURCE_LENGTH = 1000


@dataclass(frozen=True)
class WorkspacePreferences:
    """The preferences the chat page reads, with the model's defaults for a user who never saved any."""

    layout: str = Preferences._meta.get_field("layout").default
    conversation_previews: bool = Preferences._meta.get_field("conversation_previews").default
    prompt_suggestions: bool = Preferences._meta.get_field("prompt_suggestions").default

    @property
    def fullscreen(self) -> bool:
        return self.layout == Preferences.Layout.FULLSCREEN


def workspace_preferences(*, user: User) -> WorkspacePreferences:
    """The row the page's other parts read too (accounts.selectors.preferences_of); no row created."""
    from accounts.selectors import preferences_of

    row = preferences_of(user)
    if row is None:
        return WorkspacePreferences()
    return WorkspacePreferences(
        layout=row.layout, conversation_previews=row.conversation_previews, prompt_suggestions=row.prompt_suggestions
    )


@dataclass
class SidebarGroup:
    key: str
    label: str
    conversations: list[Conversation] = field(default_factory=list)
    # The first group of a "Show older" page that goes on with the last group already on screen: its chats are
    # appended to that group's list instead of repeating its heading.
    continued: bool = False


@dataclass(frozen=True)
class Sidebar:
    pinned: list[Conversation]
    groups: list[SidebarGroup]
    next_cursor: str | None
    first_page: bool

    @property
    def empty(self) -> bool:
        return self.first_page and not self.pinned and not any(group.conversations for group in self.groups)


def day_bucket(*, moment: dt.datetime, today: dt.date) -> tuple[str, str]:
    """The group a chat last active at `moment` is listed under: (key, heading). Days are the server's
    (TIME_ZONE): the user's own time zone is not known."""
    day = timezone.localdate(moment)
    age = (today - day).days
    if age <= 0:
        return "today", "Today"
    if age == 1:
        return "yesterday", "Yesterday"
    if age <= 7:
        return "previous-7-days", "Previous 7 days"
    if age <= 30:
        return "previous-30-days", "Previous 30 days"
    return f"month-{day:%Y-%m}", formats.date_format(day, "F Y")


def _previews(conversation_ids: list) -> dict:
    """Each conversation's last message with text, as plain text (a reply's Markdown left out): one query for
    all of them (DISTINCT ON), however many are listed. The offline assistant's replies are passed over: each
    starts with the same notice (no model), so every chat's preview was one sentence; the question before it
    says what the chat is about."""
    if not conversation_ids:
        return {}
    rows = (
        _with_text(Message.objects.filter(conversation_id__in=conversation_ids))
        .order_by("conversation_id", "-created_at", "-id")
        .distinct("conversation_id")
        .values_list("conversation_id", "role", Left("content", _PREVIEW_SOURCE_LENGTH))
    )
    return {conversation_id: _preview_of(role, content) for conversation_id, role, content in rows}


def _with_text(messages):
    """The messages a preview may come from: with text, and not the offline assistant's (see _previews)."""
    return messages.exclude(content="").exclude(role=Message.Role.ASSISTANT, provider=ChatProvider.OFFLINE)


def _preview_of(role: str, content: str) -> str:
    """A message's start as a preview: plain text (a reply's Markdown left out), cut at a word."""
    text = _reply_plain_text(content) if role == Message.Role.ASSISTANT else " ".join(content.split())
    if len(text) > PREVIEW_LENGTH:
        text = text[:PREVIEW_LENGTH].rsplit(" ", 1)[0] + "…"
    return text


# Markdown's parse costs about a millisecond per 500 characters, paid per listed chat and per finished reply (its
# done event brings the preview): a reply's first 400 characters nearly always read as more than a preview's words.
_PREVIEW_PARSE_LENGTH = 400


def _reply_plain_text(content: str) -> str:
    """A reply's start as plain text, enough for a preview: its first _PREVIEW_PARSE_LENGTH characters, or the
    whole source read when those gave fewer words than a preview holds (a start of links or markup)."""
    if len(content) > _PREVIEW_PARSE_LENGTH:
        text = plain_text(content[:_PREVIEW_PARSE_LENGTH])
        if len(text) > PREVIEW_LENGTH:
            return text
    return plain_text(content)


def _unless_the_title(preview: str, title: str) -> str:
    """No preview that only repeats the title: a chat titled by its question's first words (offline, or before its
    title is written) previewed that same question, the same words twice."""
    words = " ".join(title.removesuffix("…").split()).casefold()
    return "" if words and " ".join(preview.split()).casefold().startswith(words) else preview


# conversation_preview runs for every finished reply: one fixed statement, as Django's ORM spent about 0.9 ms building
# and compiling the same query each time (of 2.8 ms in all, at load 4; bench/chat_latency.py's burst profile put
# the preview at 4.3 % of a worker's interpreter time). The conditions are _with_text's and the sidebar's.
_PREVIEW_SQL = """
    SELECT m.role, LEFT(m.content, %s), c.title, p.conversation_previews
    FROM messages m
    JOIN conversations c ON c.id = m.conversation_id AND c.archived_at IS NULL
    LEFT JOIN user_preferences p ON p.user_id = c.user_id
    WHERE m.conversation_id = %s AND m.content <> ''
      AND NOT (m.role = %s AND m.provider = %s)
    ORDER BY m.created_at DESC, m.id DESC
    LIMIT 1
"""


def conversation_preview(*, conversation_id) -> str | None:
    """A chat's preview as its sidebar entry shows it (sidebar_page), for the entry on screen once a reply has
    finished: "" for none, None to leave the entry as it is: its owner does not show previews, the chat is not
    listed (archived), or it has no message with text. One query, as it runs for every finished reply."""
    with connection.cursor() as cursor:
        cursor.execute(
            _PREVIEW_SQL, [_PREVIEW_SOURCE_LENGTH, conversation_id, Message.Role.ASSISTANT, ChatProvider.OFFLINE]
        )
        row = cursor.fetchone()
    if row is None:
        return None
    role, content, title, wanted = row  # wanted None: no preferences saved, the default
    if not (WorkspacePreferences.conversation_previews if wanted is None else wanted):
        return None
    return _unless_the_title(_preview_of(role, content), str(Conversation(title=title)))


def sidebar_page(
    *,
    user: User,
    cursor: str | None = None,
    previews: bool = False,
    limit: int = PAGE_SIZE,
    now=None,
    also: Iterable[Conversation] = (),
) -> Sidebar:
    """The sidebar's first page (cursor None: the pinned chats, then the most recent others outside projects in day
    buckets) or a later one (only the next recent ones). Archived chats are not listed; keyset-paginated like
    selectors.conversation_list. With `previews`, each chat gets `.preview`, its last message's start, and so do
    the chats of `also` (those listed under their project), in the same query."""
    # A project's chats are listed under it (sidebar_projects.html), not again among the recent ones.
    page = selectors.conversation_list(user=user, cursor=cursor, limit=limit, pinned=False, in_project=False)
    position = selectors._decode_cursor(cursor) if cursor else None
    first_page = position is None  # an invalid cursor starts from the top, as conversation_list does
    pinned = (
        list(
            Conversation.objects.filter(user=user, pinned=True, archived_at__isnull=True)
            .select_related("project")
            .order_by("-updated_at", "-id")[:MAX_PINNED]
        )
        if first_page
        else []
    )
    today = timezone.localdate(now or timezone.now())
    groups: list[SidebarGroup] = []
    for conversation in page.conversations:
        key, label = day_bucket(moment=conversation.updated_at, today=today)
        if not groups or groups[-1].key != key:
            groups.append(SidebarGroup(key=key, label=label))
        groups[-1].conversations.append(conversation)
    if groups and position is not None:
        groups[0].continued = day_bucket(moment=position[0], today=today)[0] == groups[0].key
    if previews:
        listed = [*pinned, *page.conversations, *also]
        texts = _previews([c.id for c in listed])
        for conversation in listed:
            conversation.preview = _unless_the_title(texts.get(conversation.id, ""), str(conversation))
    return Sidebar(pinned=pinned, groups=groups, next_cursor=page.next_cursor, first_page=first_page)


def archived_list(
    *, user: User, query: str = "", cursor: str | None = None, limit: int = PAGE_SIZE
) -> selectors.ConversationPage:
    """The user's archived chats, most recently active first, keyset-paginated; `query` keeps those whose title
    holds it or whose messages match it (full text, as the search page)."""
    queryset = Conversation.objects.filter(user=user, archived_at__isnull=False)
    if query:
        search = SearchQuery(query, search_type="websearch", config="english")
        matching = Message.objects.filter(conversation=OuterRef("pk"), search_vector=search)
        queryset = queryset.filter(Q(title__icontains=query) | Q(Exists(matching)))
    return selectors.keyset_page(queryset, cursor=cursor, limit=limit)
