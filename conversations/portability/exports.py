"""A conversation as JSON (every branch, sources with their passages' ids, model, usage, votes) and as Markdown.

The JSON is this app's own import format (conversations/portability/imports.py reads it back): a document with a
`format` and `version`, and a list of conversations whose messages are listed parents first, each naming its parent
by id. The Markdown is for people: the branch that was on screen, then every other branch from where it forks.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterable
from urllib.parse import quote

from django.db.models import Prefetch
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from accounts.models import User
from conversations.models import Attachment, Conversation, Message, UsageLog, Vote
from conversations.reasoning import thinking_of
from conversations.selectors import conversation_thread

FORMAT = "chatbot.conversations"
VERSION = 1
SOURCE_FIELDS = ("n", "chunk_id", "document_id", "title", "chapter", "section", "page", "score", "char_start",
                 "char_end", "chunks", "text")  # fmt: skip


def _stamp(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def export_queryset(*, user: User) -> Iterable[Conversation]:
    """The user's conversations with everything an export writes, in a fixed number of queries."""
    messages = (
        Message.objects.order_by("created_at", "id")
        .defer("search_vector")
        .prefetch_related(Prefetch("attachments", queryset=Attachment.objects.order_by("created_at", "id")))
    )
    return (
        Conversation.objects.filter(user=user)
        .select_related("project")
        .prefetch_related(
            Prefetch("messages", queryset=messages),
            Prefetch("votes", queryset=Vote.objects.filter(user=user)),
            Prefetch("usage_logs", queryset=UsageLog.objects.order_by("created_at")),
        )
        .order_by("created_at", "id")
    )


def _sources(message: Message) -> list[dict]:
    sources = (message.metadata or {}).get("sources") or []
    return [{key: source.get(key) for key in SOURCE_FIELDS} for source in sources if isinstance(source, dict)]


def _attachments(message: Message, files: dict[str, str] | None) -> list[dict]:
    """A message's files as metadata; `files` (stored name → path in the full export's zip) adds where each is.
    Names recorded by an import whose file was not in it (metadata "attachments_missing") go on as names only."""
    listed = [
        {
            "name": row.original_name,
            "mime_type": row.mime_type,
            "size": row.size,
            "kind": row.metadata.get("kind", ""),
            **({"file": files[row.file.name]} if files and row.file.name in files else {}),
        }
        for row in message.attachments.all()
    ]
    missing = (message.metadata or {}).get("attachments_missing") or []
    listed += [{"name": name, "missing": True} for name in missing if isinstance(name, str)]
    return listed


def _message(message: Message, vote: Vote | None, usage: list[UsageLog], files: dict[str, str] | None = None) -> dict:
    data = {
        "id": str(message.id),
        "parent": str(message.parent_id) if message.parent_id else None,
        "role": message.role,
        "content": message.content,
        "status": message.status,
        "created_at": _stamp(message.created_at),
    }
    if message.role == Message.Role.USER:
        data["attachments"] = _attachments(message, files)
    if message.role == Message.Role.ASSISTANT:
        data.update(
            {
                "error": message.error,
                "provider": message.provider,
                "model": message.model,
                "input_tokens": message.input_tokens,
                "output_tokens": message.output_tokens,
                "latency_ms": message.latency_ms,
                # Its reasoning, apart from the answer as on the page (conversations/reasoning.py).
                "reasoning_effort": message.reasoning_effort,
                "thinking": thinking_of(message),
                "sources": _sources(message),
                "usage": [
                    {
                        "provider": row.provider,
                        "model": row.model,
                        "input_tokens": row.input_tokens,
                        "output_tokens": row.output_tokens,
                        "cost_usd": str(row.cost) if row.cost is not None else None,
                        "own_key": row.own_key,
                    }
                    for row in usage
                ],
            }
        )
    if vote is not None:
        data["vote"] = {"is_upvoted": vote.is_upvoted, "rating": vote.rating, "comment": vote.comment}
    return data


def conversation_data(conversation: Conversation, files: dict[str, str] | None = None) -> dict:
    """One conversation as the export's JSON object (its messages, votes and usage prefetched or queried); `files`
    maps stored attachment files to their paths in the full export's zip."""
    messages = list(conversation.messages.all())
    votes = {vote.message_id: vote for vote in conversation.votes.all() if vote.user_id == conversation.user_id}
    usage: dict = {}
    for row in conversation.usage_logs.all():
        usage.setdefault(row.message_id, []).append(row)
    thread = conversation_thread(conversation=conversation, messages=messages)
    return {
        "id": str(conversation.id),
        "title": conversation.title,
        "title_set_by_user": conversation.title_set_by_user,
        "provider": conversation.provider,
        "model": conversation.model,
        "system_prompt": conversation.system_prompt,
        "retrieval_enabled": conversation.retrieval_enabled,
        "project": conversation.project.name if conversation.project_id else None,
        "project_id": str(conversation.project_id) if conversation.project_id else None,  # projects.json's "id"
        "pinned": conversation.pinned,
        "archived_at": _stamp(conversation.archived_at),
        "created_at": _stamp(conversation.created_at),
        "updated_at": _stamp(conversation.updated_at),
        "active_leaf": str(thread[-1].message.id) if thread else None,
        "messages": [_message(m, votes.get(m.id), usage.get(m.id, []), files) for m in messages],
    }


def export_document(conversations: Iterable[Conversation], *, files: dict[str, str] | None = None) -> dict:
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": _stamp(timezone.now()),
        "conversations": [conversation_data(conversation, files) for conversation in conversations],
    }


def conversation_for_export(*, user: User, conversation_id) -> Conversation:
    """One of the user's conversations, ready to export; 404 for anyone else's."""
    from django.shortcuts import get_object_or_404

    return get_object_or_404(export_queryset(user=user), id=conversation_id)


# --- Markdown ----------------------------------------------------------------------------------------------------


def _place(source: dict) -> str:
    from documents.locations import passage_place

    parts = passage_place(
        chapter=source.get("chapter") or "", section=source.get("section") or "", under=source.get("title") or ""
    )
    label = " › ".join([source.get("title") or "Untitled", *parts])
    if source.get("page"):
        label += f", page {source['page']}"
    return label


def _quote(text: str) -> str:
    return "\n".join("> " + line if line else ">" for line in text.splitlines())


def _markdown_text(text: str) -> str:
    """A file name as literal Markdown text: escaped so it cannot become a link, markup or HTML."""
    return re.sub(r"([\\`*_\[\]()!|<>~])", r"\\\1", " ".join(text.split()))


def _message_markdown(message: Message, vote: Vote | None, files: dict[str, str] | None = None) -> list[str]:
    if message.role == Message.Role.USER:
        heading = "### You"
    else:
        heading = "### Assistant" + (f" ({message.model})" if message.model else "")
    # When it was written, as the chat's own dates above are given: UTC (the file has no reader's time zone).
    heading += f" · {message.created_at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"
    lines = [heading, ""]
    if message.status == Message.Status.CANCELLED:
        lines += ["*Stopped before the end.*", ""]
    elif message.status == Message.Status.FAILED:
        lines += [f"*Failed: {message.error or 'no reply'}*", ""]
    thinking = thinking_of(message).strip()
    if thinking:
        # Collapsed, as on the page (GitHub and most renderers fold <details>); escaped: the model's text, not markup.
        quoted = _quote(html.escape(thinking, quote=False))
        lines += ["<details><summary>Thinking</summary>", "", quoted, "", "</details>", ""]
    lines += [message.content.strip() or "*(empty)*", ""]
    if message.role == Message.Role.USER and (attached := _attachments(message, files)):
        lines += ["Attachments:", ""]
        for item in attached:
            name = _markdown_text(item["name"])
            if item.get("missing"):
                lines.append(f"- {name} (the file was not imported)")
                continue
            size = filesizeformat(item["size"]).replace("\xa0", " ")
            # In the full export, a link to the file next to the chat (chats/ and attachments/ are siblings).
            label = f"[{name}](../{quote(item['file'])})" if item.get("file") else name
            lines.append(f"- {label} ({item['mime_type'] or 'file'}, {size})")
        lines.append("")
    sources = _sources(message)
    if sources:
        lines += ["Sources:", ""]
        for place, source in enumerate(sources, start=1):
            passage = f" (passage {source['chunk_id']})" if source.get("chunk_id") else ""
            lines.append(f"{source.get('n') or place}. {_place(source)}{passage}")
        lines.append("")
    if vote is not None and vote.is_upvoted is not None:
        verdict = "👍 Good reply" if vote.is_upvoted else "👎 Bad reply"
        if vote.rating:
            verdict += f", {vote.rating}/5"
        lines += [f"*Your vote: {verdict}*" + (f" — {vote.comment}" if vote.comment else ""), ""]
    return lines


def conversation_markdown(conversation: Conversation, files: dict[str, str] | None = None) -> str:
    """The branch that was on screen, then each other branch from the message where it forks; `files` as for
    conversation_data (the full export links each attachment to its file)."""
    messages = list(conversation.messages.all())
    votes = {vote.message_id: vote for vote in conversation.votes.all() if vote.user_id == conversation.user_id}
    by_id = {message.id: message for message in messages}
    children: dict = {}
    for message in messages:
        children.setdefault(message.parent_id, []).append(message)
    thread = [item.message for item in conversation_thread(conversation=conversation, messages=messages)]
    lines = [f"# {conversation.title or 'New conversation'}", ""]
    model = f"{conversation.provider} / {conversation.model}" if conversation.model else conversation.provider
    lines += [f"- Model: {model}", f"- Started: {conversation.created_at:%Y-%m-%d %H:%M} UTC"]
    lines += [f"- Exported: {timezone.now():%Y-%m-%d %H:%M} UTC", ""]
    if conversation.system_prompt:
        lines += ["## Instructions", "", _quote(conversation.system_prompt), ""]
    lines += ["## Conversation", ""]
    written = set()
    for message in thread:
        lines += _message_markdown(message, votes.get(message.id), files)
        written.add(message.id)
    leaves = [message for message in messages if not children.get(message.id) and message.id not in written]
    for number, leaf in enumerate(leaves, start=2):
        path = []
        node = leaf
        while node is not None and node.id not in written:
            path.append(node)
            node = by_id.get(node.parent_id)
        path.reverse()
        fork = f"after “{_one_line(node.content)}”" if node is not None else "from the start"
        lines += [f"## Other version {number}", "", f"*Branches off {fork}.*", ""]
        for message in path:
            lines += _message_markdown(message, votes.get(message.id), files)
            written.add(message.id)
    return "\n".join(lines).rstrip() + "\n"


def _one_line(text: str, length: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= length else text[: length - 1] + "…"
