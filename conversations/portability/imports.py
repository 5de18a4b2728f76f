"""Importing conversations: this app's own JSON export, and a ChatGPT data export (`conversations.json`, alone or
in its zip), whose message `mapping` tree is kept as branches.

Everything in an import is outside text. The file is read whole and checked before anything is written: a size
limit, then JSON (too-deep nesting is refused by the parser), then every field this module reads is checked for its
type and length; a field it does not read is never walked. The first problem refuses the file with a sentence
that names where it is, and nothing is imported (one transaction). Text is cleaned (chatbot.text) and stored as
any message is: shown through the same escaping and Markdown sanitiser as the rest of the chat. Ids in the file
are never reused: every row gets a new one, so a file cannot reach anyone's existing rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import uuid
import zipfile
from collections import deque
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from chatbot.llm.reasoning import EFFORTS
from chatbot.text import clean_text, has_visible_text
from conversations.attachments import MAX_ATTACHMENTS_PER_MESSAGE, MAX_FILE_BYTES
from conversations.models import Attachment, ChatProvider, Conversation, Message, Vote
from conversations.portability.exports import FORMAT, SOURCE_FIELDS
from conversations.reasoning import reply_parts

MAX_IMPORT_BYTES = 50 * 1024 * 1024
MAX_CONVERSATIONS = 5_000
MAX_MESSAGES = 100_000  # in the whole file
MAX_TEXT = 200_000  # characters of one message
MAX_SHORT = 500  # a title, a model name
MAX_SOURCES = 50
# Attachment bytes read out of a zip in one import, all files together (each is also limited by its type's size).
MAX_ATTACHMENT_BYTES = 4 * MAX_IMPORT_BYTES


class ImportRefused(ValueError):
    """The file cannot be imported; the text says why (and where), and nothing was imported."""


@dataclass
class ParsedAttachment:
    name: str
    file: str = ""  # its path in the full export's zip; empty when the export did not hold the file


@dataclass
class ParsedMessage:
    key: str  # the id in the file, only to link parents
    parent: str | None
    role: str
    content: str
    created_at: dt.datetime | None = None
    status: str = Message.Status.COMPLETE
    error: str = ""
    provider: str = ""
    model: str = ""
    input_tokens: int | None = None
    output_tokens: int | None = None
    sources: list[dict] = field(default_factory=list)
    vote: dict | None = None
    reasoning_effort: str = ""
    thinking: str = ""  # saved in the reply's parts, shown collapsed, never in a prompt (conversations/reasoning.py)
    attachments: list[ParsedAttachment] = field(default_factory=list)


@dataclass
class ParsedConversation:
    title: str
    messages: list[ParsedMessage]
    active_leaf: str | None = None
    provider: str = ChatProvider.OFFLINE
    model: str = ""
    system_prompt: str = ""
    title_set_by_user: bool = True
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    project: str = ""  # its project's name, and its id in the file (conversations/portability/project_import.py)
    project_key: str = ""


@dataclass
class ImportResult:
    created: list[Conversation]
    already: list[Conversation]  # the user's chats from an earlier import of the same conversations, left as they are
    empty: int = 0  # the file's conversations without a message, left out


# --- Reading the file ----------------------------------------------------------------------------------------------


def read_upload(*, name: str, data: bytes) -> object:
    """The decoded JSON of an upload: a .json file, or the conversations.json inside a zip (ChatGPT's export, or
    this app's full export)."""
    if len(data) > MAX_IMPORT_BYTES:
        raise ImportRefused(f"The file is too large (the limit is {MAX_IMPORT_BYTES // (1024 * 1024)} MB).")
    if data[:4] == b"PK\x03\x04":
        data = _from_zip(data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRefused("The file is not UTF-8 text: export your conversations as JSON and try again.") from None
    if not text.strip():
        raise ImportRefused("The file is empty.")  # not "not valid JSON (Expecting value: line 1 column 1…)"
    try:
        return json.loads(text)
    except RecursionError:
        raise ImportRefused("The file is nested too deeply to be a conversation export.") from None
    except ValueError as exc:
        raise ImportRefused(f"The file is not valid JSON{json_error_place(exc)}.") from None


def json_error_place(exc: ValueError) -> str:
    """Where a JSON file stops being JSON, " (line 3, column 14)", without the parser's own words ("Expecting
    ',' delimiter: …"); "" for another ValueError (a number too long to convert)."""
    if isinstance(exc, json.JSONDecodeError):
        return f" (line {exc.lineno:,}, column {exc.colno:,})"
    return ""


def read_upload_with_files(*, name: str, data: bytes) -> tuple[object, zipfile.ZipFile | None]:
    """read_upload, and the zip itself when the upload is one (the full export holds the attachments' files)."""
    document = read_upload(name=name, data=data)
    if data[:4] != b"PK\x03\x04":
        return document, None
    return document, zipfile.ZipFile(io.BytesIO(data))  # opened once already by read_upload: not damaged


def _from_zip(data: bytes) -> bytes:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        info = next((i for i in archive.infolist() if i.filename.rsplit("/", 1)[-1] == "conversations.json"), None)
        if info is None:
            raise ImportRefused("The zip has no conversations.json (the file a ChatGPT or Chatbot export holds).")
        if info.file_size > MAX_IMPORT_BYTES:  # said by the zip; read with a cap anyway, in case it lies
            raise ImportRefused(f"conversations.json is too large (the limit is {MAX_IMPORT_BYTES // 1048576} MB).")
        with archive.open(info) as handle:
            content = handle.read(MAX_IMPORT_BYTES + 1)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, OSError, EOFError):
        raise ImportRefused("The zip file is damaged or encrypted.") from None
    if len(content) > MAX_IMPORT_BYTES:
        raise ImportRefused(f"conversations.json is too large (the limit is {MAX_IMPORT_BYTES // 1048576} MB).")
    return content


# --- Checked field access ------------------------------------------------------------------------------------------


def _text(value: object, where: str, *, limit: int = MAX_TEXT, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise ImportRefused(f"{where} should be text.")
    if len(value) > limit:
        raise ImportRefused(f"{where} is too long ({len(value):,} characters; the limit is {limit:,}).")
    return clean_text(value)


def _number(value: object, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
        raise ImportRefused(f"{where} should be a whole number.")
    return value


def _object(value: object, where: str) -> dict:
    if not isinstance(value, dict):
        raise ImportRefused(f"{where} should be an object.")
    return value


def _list(value: object, where: str, *, limit: int) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ImportRefused(f"{where} should be a list.")
    if len(value) > limit:
        raise ImportRefused(f"{where} has too many entries ({len(value):,}; the limit is {limit:,}).")
    return value


def _key(value: object, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value) or len(str(value)) > 100:
        raise ImportRefused(f"{where} should be an id (text).")
    return str(value)


def _iso_time(value: object, where: str) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise ImportRefused(f"{where} should be a date and time.")
    try:
        stamp = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ImportRefused(f"{where} should be a date and time.") from None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)


def _epoch_time(value: object, where: str) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 32503680000:
        raise ImportRefused(f"{where} should be a time (seconds since 1970).")
    return dt.datetime.fromtimestamp(value, tz=dt.UTC)


# --- This app's format ----------------------------------------------------------------------------------------


def _source(value: object, where: str) -> dict:
    source = _object(value, where)
    clean: dict = {}
    for key in SOURCE_FIELDS:
        item = source.get(key)
        if item is None:
            continue
        if key in ("title", "chapter", "section", "chunk_id", "document_id"):
            clean[key] = _text(item, f"{where}.{key}", limit=MAX_SHORT)
        elif key == "text":
            clean[key] = _text(item, f"{where}.text")
        elif key == "score":
            if isinstance(item, bool) or not isinstance(item, int | float):
                raise ImportRefused(f"{where}.score should be a number.")
            clean[key] = float(item)
        else:
            clean[key] = _number(item, f"{where}.{key}")
    for key in ("chunk_id", "document_id"):  # a link to a passage is a passage id, or nothing
        if key in clean:
            try:
                clean[key] = str(uuid.UUID(clean[key]))
            except ValueError:
                raise ImportRefused(f"{where}.{key} should be an id.") from None
    return clean


def _vote(value: object, where: str) -> dict | None:
    if value is None:
        return None
    vote = _object(value, where)
    up = vote.get("is_upvoted")
    if up is not None and not isinstance(up, bool):
        raise ImportRefused(f"{where}.is_upvoted should be true, false or null.")
    rating = _number(vote.get("rating"), f"{where}.rating")
    if rating is not None and not 1 <= rating <= 5:
        raise ImportRefused(f"{where}.rating should be from 1 to 5.")
    comment = _text(vote.get("comment"), f"{where}.comment", limit=2_000).strip()
    if up is None and rating is None and not comment:
        return None
    return {"is_upvoted": up, "rating": rating, "comment": comment}


def _attachment(value: object, where: str) -> ParsedAttachment:
    data = _object(value, where)
    name = _text(data.get("name"), f"{where}.name", limit=255, required=True).strip()
    if not name:
        raise ImportRefused(f"{where}.name should not be empty.")
    return ParsedAttachment(name=name, file=_text(data.get("file"), f"{where}.file", limit=MAX_SHORT))


def _app_message(value: object, where: str, seen: set[str]) -> ParsedMessage:
    data = _object(value, where)
    key = _key(data.get("id"), f"{where}.id")
    if key in seen:
        raise ImportRefused(f"{where}.id appears twice in the conversation.")
    parent = data.get("parent")
    if parent is not None:
        parent = _key(parent, f"{where}.parent")
        if parent not in seen:
            raise ImportRefused(f"{where}.parent names no earlier message of the conversation.")
    role = data.get("role")
    if role not in (Message.Role.USER, Message.Role.ASSISTANT):
        raise ImportRefused(f'{where}.role should be "user" or "assistant".')
    status = data.get("status") or Message.Status.COMPLETE
    if status not in (Message.Status.COMPLETE, Message.Status.CANCELLED, Message.Status.FAILED):
        status = Message.Status.COMPLETE if status == Message.Status.STREAMING else None
    if status is None:
        raise ImportRefused(f"{where}.status is not a message status.")
    seen.add(key)
    return ParsedMessage(
        key=key,
        parent=parent,
        role=role,
        content=_text(data.get("content"), f"{where}.content"),
        created_at=_iso_time(data.get("created_at"), f"{where}.created_at"),
        status=status,
        error=_text(data.get("error"), f"{where}.error", limit=MAX_SHORT * 4),
        provider=_text(data.get("provider"), f"{where}.provider", limit=20),
        model=_text(data.get("model"), f"{where}.model", limit=100),
        input_tokens=_number(data.get("input_tokens"), f"{where}.input_tokens"),
        output_tokens=_number(data.get("output_tokens"), f"{where}.output_tokens"),
        sources=[
            _source(source, f"{where}.sources[{n}]")
            for n, source in enumerate(_list(data.get("sources"), f"{where}.sources", limit=MAX_SOURCES))
        ],
        vote=_vote(data.get("vote"), f"{where}.vote") if role == Message.Role.ASSISTANT else None,
        # An effort this app does not know is dropped, not refused: it only said how long the model thought.
        reasoning_effort=effort if (effort := data.get("reasoning_effort")) in EFFORTS else "",
        thinking=_text(data.get("thinking"), f"{where}.thinking") if role == Message.Role.ASSISTANT else "",
        attachments=[
            _attachment(item, f"{where}.attachments[{n}]")
            for n, item in enumerate(
                _list(data.get("attachments"), f"{where}.attachments", limit=MAX_ATTACHMENTS_PER_MESSAGE)
            )
        ]
        if role == Message.Role.USER
        else [],
    )


def parse_app_export(document: dict) -> list[ParsedConversation]:
    if document.get("version") != 1:
        raise ImportRefused("This export is from a newer version of the app: its format version is not 1.")
    conversations = _list(document.get("conversations"), "conversations", limit=MAX_CONVERSATIONS)
    parsed = []
    for n, value in enumerate(conversations):
        where = f"conversations[{n}]"
        data = _object(value, where)
        seen: set[str] = set()
        messages = [
            _app_message(message, f"{where}.messages[{m}]", seen)
            for m, message in enumerate(_list(data.get("messages"), f"{where}.messages", limit=MAX_MESSAGES))
        ]
        leaf = data.get("active_leaf")
        leaf = _key(leaf, f"{where}.active_leaf") if leaf is not None else None
        provider = data.get("provider")
        parsed.append(
            ParsedConversation(
                title=_text(data.get("title"), f"{where}.title", limit=MAX_SHORT),
                messages=messages,
                active_leaf=leaf if leaf in seen else None,
                provider=provider if provider in ChatProvider.values else ChatProvider.OFFLINE,
                model=_text(data.get("model"), f"{where}.model", limit=100),
                system_prompt=_text(data.get("system_prompt"), f"{where}.system_prompt", limit=10_000),
                title_set_by_user=data.get("title_set_by_user") is not False,
                created_at=_iso_time(data.get("created_at"), f"{where}.created_at"),
                updated_at=_iso_time(data.get("updated_at"), f"{where}.updated_at"),
                project=_text(data.get("project"), f"{where}.project", limit=MAX_SHORT).strip(),
                project_key=_key(data["project_id"], f"{where}.project_id") if data.get("project_id") else "",
            )
        )
    return parsed


# --- ChatGPT's format ----------------------------------------------------------------------------------------------


def _chatgpt_text(message: dict, where: str) -> str:
    content = message.get("content")
    if content is None:
        return ""
    content = _object(content, f"{where}.content")
    kind = content.get("content_type")
    if kind in ("text", "multimodal_text"):
        parts = _list(content.get("parts"), f"{where}.content.parts", limit=1_000)
        # Pictures and files are objects among the parts: their words only are kept.
        texts = [_text(part, f"{where}.content.parts") for part in parts if isinstance(part, str)]
        return "\n\n".join(text for text in texts if text)
    if kind == "code":
        return _text(content.get("text"), f"{where}.content.text")
    return ""  # browsing displays, thoughts, tool results: not part of the conversation as it was shown


def parse_chatgpt_export(conversations: list) -> list[ParsedConversation]:
    _list(conversations, "The file", limit=MAX_CONVERSATIONS)
    parsed = []
    for n, value in enumerate(conversations):
        where = f"conversation {n + 1}"
        data = _object(value, where)
        mapping = _object(data.get("mapping"), f"{where}: mapping")
        if len(mapping) > MAX_MESSAGES:
            raise ImportRefused(f"{where} has too many messages ({len(mapping):,}).")
        nodes: dict[str, dict] = {}
        for key, node in mapping.items():
            node = _object(node, f"{where}: message {key[:40]}")
            if node.get("parent") is not None:
                _key(node["parent"], f"{where}: message {key[:40]}.parent")
            nodes[_key(key, f"{where}: a message id")] = node
        # Parents first: walk down from the roots; a node that no root reaches (a loop) is refused.
        order: list[str] = []
        queued = deque(key for key, node in nodes.items() if node.get("parent") not in nodes)
        visited = set(queued)
        while queued:
            key = queued.popleft()
            order.append(key)
            for child in _list(nodes[key].get("children"), f"{where}: message {key[:40]}.children", limit=10_000):
                child = _key(child, f"{where}: a child id")
                if child in nodes and child not in visited and nodes[child].get("parent") == key:
                    visited.add(child)
                    queued.append(child)
        if len(order) != len(nodes):
            raise ImportRefused(f"{where}: its messages do not form a tree (a message is its own ancestor).")
        kept: dict[str, str | None] = {}  # node → the nearest kept ancestor (hidden system and tool turns skipped)
        messages: list[ParsedMessage] = []
        model = ""
        for key in order:
            node = nodes[key]
            parent = node.get("parent")
            nearest = kept.get(parent) if isinstance(parent, str) else None
            kept[key] = nearest
            message = node.get("message")
            if message is None:
                continue
            message = _object(message, f"{where}: message {key[:40]}")
            author = _object(message.get("author") or {}, f"{where}: message {key[:40]}.author")
            role = author.get("role")
            text = _chatgpt_text(message, f"{where}: message {key[:40]}")
            if role not in ("user", "assistant") or not has_visible_text(text):
                continue
            metadata = message.get("metadata") if isinstance(message.get("metadata"), dict) else {}
            slug = _text(metadata.get("model_slug"), f"{where}: message {key[:40]}.model_slug", limit=100)
            model = slug or model
            messages.append(
                ParsedMessage(
                    key=key,
                    parent=nearest,
                    role=role,
                    content=text,
                    created_at=_epoch_time(message.get("create_time"), f"{where}: message {key[:40]}.create_time"),
                    provider=ChatProvider.OPENAI if role == "assistant" else "",
                    model=slug if role == "assistant" else "",
                )
            )
            kept[key] = key
        current = data.get("current_node")
        leaf = kept.get(current) if isinstance(current, str) else None
        parsed.append(
            ParsedConversation(
                title=_text(data.get("title"), f"{where}: title", limit=MAX_SHORT),
                messages=messages,
                active_leaf=leaf,
                provider=ChatProvider.OFFLINE,  # the imported chat goes on with the user's default model
                model="",
                created_at=_epoch_time(data.get("create_time"), f"{where}: create_time"),
                updated_at=_epoch_time(data.get("update_time"), f"{where}: update_time"),
            )
        )
    return parsed


# --- Writing ------------------------------------------------------------------------------------------------------


def parse(document: object) -> list[ParsedConversation]:
    """The conversations of a decoded file, checked; raises ImportRefused naming the first problem."""
    if isinstance(document, dict) and document.get("format") == FORMAT:
        parsed = parse_app_export(document)
    elif isinstance(document, list):
        parsed = parse_chatgpt_export(document)
    else:
        raise ImportRefused(
            "This is not a conversation export: import a JSON export of this app, or ChatGPT's conversations.json "
            "(or the zip it comes in)."
        )
    total = sum(len(conversation.messages) for conversation in parsed)
    if total > MAX_MESSAGES:
        raise ImportRefused(f"The file has too many messages ({total:,}; the limit is {MAX_MESSAGES:,}).")
    if not parsed:
        raise ImportRefused("The file holds no conversation.")
    if not any(conversation.messages for conversation in parsed):
        # It would be an empty chat (or several), which the user could not tell from a failed import.
        if len(parsed) == 1:
            raise ImportRefused("Its conversation has no messages.")
        raise ImportRefused(f"None of its {len(parsed):,} conversations has a message.")
    return parsed


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
    is left out, and so is one imported before (its fingerprint is on one of the user's chats).

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
