"""Importing conversations: what conversations/portability/import_reading.py read and checked, written as new
chats of the user in one transaction (nothing is imported when anything fails). Ids in the file are never reused:
every row gets a new one, so a file cannot reach anyone's existing rows. A conversation imported before is
recognised by its fingerprint and left as it is.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
import zipfile
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from conversations.attachments import MAX_FILE_BYTES
from conversations.models import Attachment, ChatProvider, Conversation, Message, Vote
from conversations.portability.import_reading import (
    MAX_IMPORT_BYTES,
    ImportRefused,
    ParsedAttachment,
    ParsedConversation,
    parse,
    read_upload_with_files,
)
from conversations.reasoning import reply_parts

# Attachment bytes read out of a zip in one import, all files together (each is also limited by its type's size).
MAX_ATTACHMENT_BYTES = 4 * MAX_IMPORT_BYTES


@dataclass
class ImportResult:
    created: list[Conversation]
    already: list[Conversation]  # the user's chats from an earlier import of the same conversations, left as they are
    empty: int = 0  # the file's conversations without a message, left out


def fingerprint(parsed: ParsedConversation) -> str:
    """A digest of a conversation as the file has it (its title, when it began, each message's role and text and
    its parent's place): the same conversation imported again has the same one, whatever ids the file used.
    Stored in the imported chat's metadata, it is how a second import of the same file is recognised."""
    places = {message.key: place for place, message in enumerate(parsed.messages)}
    body = [
        parsed.title,
        parsed.created_at.isoformat() if parsed.created_at else None,
        [[message.role, message.content, places.get(message.parent)] for message in parsed.messages],
    ]
    return hashlib.sha256(json.dumps(body, ensure_ascii=False).encode()).hexdigest()


def _unchanged_originals(*, user: User, conversations: list[ParsedConversation], digests: list[str]) -> dict:
    """The user's own chats that the file is an export of, unchanged since (the file's id is the chat's, and the chat
    exported now has the same fingerprint): a chat's export or "Export everything" imported back beside the chats it
    came from copied every one of them. A chat continued since its export is not the file's: that one is imported."""
    from conversations.portability.exports import export_document, export_queryset

    ids = set()
    for parsed in conversations:
        try:
            ids.add(uuid.UUID(parsed.key))
        except ValueError:
            continue
    found = {}
    for conversation in export_queryset(user=user).filter(id__in=ids):
        try:
            [now] = parse(export_document([conversation]))
        except ImportRefused:  # a chat past the file's limits (longer than an import may be): never the file's
            continue
        found[fingerprint(now)] = conversation
    return {digest: found[digest] for digest in digests if digest in found}


class _ZipFiles:
    """The attachments' files of a full export's zip, read with a cap per file and for the whole import."""

    def __init__(self, archive: zipfile.ZipFile | None) -> None:
        self.archive = archive
        self.budget = MAX_ATTACHMENT_BYTES

    def read(self, path: str) -> bytes | None:
        if self.archive is None or not path:
            return None
        try:
            info = self.archive.getinfo(path)
        except KeyError:
            return None
        if info.file_size > MAX_FILE_BYTES or info.file_size > self.budget:
            return None  # too big for any attachment (the zip says so; read with a cap anyway, in case it lies)
        try:
            with self.archive.open(info) as handle:
                data = handle.read(min(MAX_FILE_BYTES, self.budget) + 1)
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError):
            return None
        if len(data) > min(MAX_FILE_BYTES, self.budget):
            return None
        self.budget -= len(data)
        return data


def _attachments_import(
    *, user: User, conversation: Conversation, message_id: uuid.UUID, items: list[ParsedAttachment], files: _ZipFiles,
    saved: list[str],
) -> list[str]:  # fmt: skip
    """Attach the files the zip holds to the imported message, checked as any upload (type by bytes, limits, EXIF
    stripped, stored once per user and content); returns the names that could not be brought back."""
    from conversations.attachments import AttachmentRejected, attachment_upload

    missing = []
    for item in items:
        data = files.read(item.file)
        if data is None:
            missing.append(item.name)
            continue
        try:
            row = attachment_upload(user=user, filename=item.name, data=data, conversation_id=conversation.id)
        except AttachmentRejected:
            missing.append(item.name)
            continue
        saved.append(row.file.name)
        Attachment.objects.filter(id=row.id).update(message_id=message_id)
    return missing


@transaction.atomic
def conversations_import(
    *,
    user: User,
    conversations: list[ParsedConversation],
    archive: zipfile.ZipFile | None = None,
    saved: list[str] | None = None,
    projects: list | None = None,
) -> ImportResult:
    """Write the parsed conversations as new ones of `user` (new ids throughout), all or none; one without messages
    is left out, and so is one imported before (its fingerprint is on one of the user's chats) or still here unchanged
    (the user's chat the file was exported from).

    Attachments come back from `archive` (the full export's zip) where it holds their files; otherwise, or when a
    file fails the upload checks, the message's metadata keeps their names ("attachments_missing"). `saved` collects
    the stored files written, for the caller to remove if the transaction rolls back. `projects` (the full export's
    projects.json, parsed) are made again, and each chat goes back into its project."""
    from conversations.portability.project_import import projects_import

    links = projects_import(user=user, projects=projects or [])
    files = _ZipFiles(archive)
    saved = [] if saved is None else saved
    from accounts.services import preferences_get
    from catalog.selectors import context_window_for
    from conversations.services import title_from_words

    default = None
    created = []
    now = timezone.now()
    digests = [fingerprint(parsed) if parsed.messages else "" for parsed in conversations]
    earlier = {
        conversation.metadata["import_fingerprint"]: conversation
        for conversation in Conversation.objects.filter(
            user=user, metadata__import_fingerprint__in=[digest for digest in digests if digest]
        ).order_by("-created_at", "-id")  # the first one imported wins: it comes last
    }
    earlier |= _unchanged_originals(user=user, conversations=conversations, digests=digests)
    already: dict[uuid.UUID, Conversation] = {}
    for parsed, digest in zip(conversations, digests, strict=True):
        if not parsed.messages:
            continue
        if digest in earlier:
            already.setdefault(earlier[digest].id, earlier[digest])
            continue
        provider, model = parsed.provider, parsed.model
        if provider == ChatProvider.OFFLINE and not model:
            if default is None:
                from accounts.selectors import default_chat_model

                default = default_chat_model(user=user, preferred=preferences_get(user=user).default_model)
            provider, model = default
        first_question = next((m.content for m in parsed.messages if m.role == Message.Role.USER), "")
        conversation = Conversation.objects.create(
            user=user,
            title=parsed.title or title_from_words(first_question) or "Imported conversation",
            title_set_by_user=parsed.title_set_by_user and bool(parsed.title),
            provider=provider,
            model=model,
            context_window_size=context_window_for(provider=provider, model=model),
            system_prompt=parsed.system_prompt,
            project=links.find(key=parsed.project_key, name=parsed.project),
            created_at=parsed.created_at or now,
            updated_at=parsed.updated_at or parsed.created_at or now,
            metadata={"import_fingerprint": digest},
        )
        ids: dict[str, uuid.UUID] = {}
        rows: list[Message] = []
        previous = parsed.created_at or now
        for item in parsed.messages:
            # Creation order is tree order in this app (a reply a microsecond after its question).
            stamp = max(item.created_at or previous, previous + dt.timedelta(microseconds=1))
            previous = stamp
            ids[item.key] = uuid.uuid4()
            metadata = {"imported": True}
            if item.sources:
                metadata["sources"] = item.sources
            rows.append(
                Message(
                    id=ids[item.key],
                    conversation=conversation,
                    parent_id=ids.get(item.parent) if item.parent else None,
                    author=user if item.role == Message.Role.USER else None,
                    role=item.role,
                    content=item.content,
                    status=item.status,
                    error=item.error,
                    provider=item.provider,
                    model=item.model,
                    input_tokens=item.input_tokens,
                    output_tokens=item.output_tokens,
                    reasoning_effort=item.reasoning_effort,
                    parts=reply_parts(thinking=item.thinking, text=item.content) if item.thinking else [],
                    metadata=metadata,
                    created_at=stamp,
                )
            )
        Message.objects.bulk_create(rows)
        for item in parsed.messages:
            if not item.attachments:
                continue
            missing = _attachments_import(
                user=user, conversation=conversation, message_id=ids[item.key], items=item.attachments, files=files,
                saved=saved,
            )  # fmt: skip
            if missing:
                row = next(row for row in rows if row.id == ids[item.key])
                row.metadata = {**row.metadata, "attachments_missing": missing}
                Message.objects.filter(id=row.id).update(metadata=row.metadata)
        Vote.objects.bulk_create(
            [
                Vote(conversation=conversation, message_id=ids[item.key], user=user, **item.vote)
                for item in parsed.messages
                if item.vote
            ]
        )
        leaf = ids.get(parsed.active_leaf) if parsed.active_leaf else None
        if leaf is None and rows:
            leaf = rows[-1].id
        if leaf is not None:
            conversation.active_leaf_id = leaf
            conversation.save(update_fields=["active_leaf"])
        created.append(conversation)
    empty = sum(1 for parsed in conversations if not parsed.messages)
    return ImportResult(created=created, already=list(already.values()), empty=empty)


def import_file(*, user: User, name: str, data: bytes) -> ImportResult:
    """Read, check and import a file in one transaction; raises ImportRefused (nothing imported) with the reason."""
    from conversations.portability.project_import import read_projects

    document, archive = read_upload_with_files(name=name, data=data)
    parsed = parse(document)
    projects = read_projects(archive)
    saved: list[str] = []
    try:
        return conversations_import(user=user, conversations=parsed, archive=archive, saved=saved, projects=projects)
    except BaseException:
        # Rolled back: the attachments' files written meanwhile are named by no row (unless they were already).
        from django.core.files.storage import default_storage

        from conversations.attachments import file_in_use

        for stored in set(saved):
            if not file_in_use(stored):
                default_storage.delete(stored)
        raise
