"""Reading an import file: this app's own JSON export, and a ChatGPT data export (`conversations.json`, alone or
in its zip), whose message `mapping` tree is kept as branches. conversations/portability/imports.py writes what this
module parsed.

Everything in an import is outside text. The file is read whole and checked before anything is written: a size
limit, then JSON (too-deep nesting is refused by the parser), then every field this module reads is checked for its
type and length (the `*_field` functions, which the projects of a full export are read with too); a field it does
not read is never walked. The first problem refuses the file with a sentence that names where it is. Text is
cleaned (chatbot.text) and stored as any message is: shown through the same escaping and Markdown sanitiser as the
rest of the chat.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid
import zipfile
from collections import deque
from dataclasses import dataclass, field

from chatbot.llm.reasoning import EFFORTS
from chatbot.text import clean_text, has_visible_text
from conversations.attachments import MAX_ATTACHMENTS_PER_MESSAGE
from conversations.models import ChatProvider, Message
from conversations.portability.exports import FORMAT, SOURCE_FIELDS

MAX_IMPORT_BYTES = 50 * 1024 * 1024
MAX_CONVERSATIONS = 5_000
MAX_MESSAGES = 100_000  # in the whole file
MAX_TEXT = 200_000  # characters of one message
MAX_SHORT = 500  # a title, a model name
MAX_SOURCES = 50


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
    key: str = ""  # the conversation's id in the file (this app's export: the chat it was exported from)


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


def text_field(value: object, where: str, *, limit: int = MAX_TEXT, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise ImportRefused(f"{where} should be text.")
    if len(value) > limit:
        raise ImportRefused(f"{where} is too long ({len(value):,} characters; the limit is {limit:,}).")
    return clean_text(value)


def number_field(value: object, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
        raise ImportRefused(f"{where} should be a whole number.")
    return value


def object_field(value: object, where: str) -> dict:
    if not isinstance(value, dict):
        raise ImportRefused(f"{where} should be an object.")
    return value


def list_field(value: object, where: str, *, limit: int) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ImportRefused(f"{where} should be a list.")
    if len(value) > limit:
        raise ImportRefused(f"{where} has too many entries ({len(value):,}; the limit is {limit:,}).")
    return value


def key_field(value: object, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value) or len(str(value)) > 100:
        raise ImportRefused(f"{where} should be an id (text).")
    return str(value)


def iso_time_field(value: object, where: str) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise ImportRefused(f"{where} should be a date and time.")
    try:
        stamp = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ImportRefused(f"{where} should be a date and time.") from None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)


def epoch_time_field(value: object, where: str) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 32503680000:
        raise ImportRefused(f"{where} should be a time (seconds since 1970).")
    return dt.datetime.fromtimestamp(value, tz=dt.UTC)


# --- This app's format ----------------------------------------------------------------------------------------


def _source(value: object, where: str) -> dict:
    source = object_field(value, where)
    clean: dict = {}
    for key in SOURCE_FIELDS:
        item = source.get(key)
        if item is None:
            continue
        if key in ("title", "chapter", "section", "chunk_id", "document_id"):
            clean[key] = text_field(item, f"{where}.{key}", limit=MAX_SHORT)
        elif key == "text":
            clean[key] = text_field(item, f"{where}.text")
        elif key == "score":
            if isinstance(item, bool) or not isinstance(item, int | float):
                raise ImportRefused(f"{where}.score should be a number.")
            clean[key] = float(item)
        else:
            clean[key] = number_field(item, f"{where}.{key}")
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
    vote = object_field(value, where)
    up = vote.get("is_upvoted")
    if up is not None and not isinstance(up, bool):
        raise ImportRefused(f"{where}.is_upvoted should be true, false or null.")
    rating = number_field(vote.get("rating"), f"{where}.rating")
    if rating is not None and not 1 <= rating <= 5:
        raise ImportRefused(f"{where}.rating should be from 1 to 5.")
    comment = text_field(vote.get("comment"), f"{where}.comment", limit=2_000).strip()
    if up is None and rating is None and not comment:
        return None
    return {"is_upvoted": up, "rating": rating, "comment": comment}


def _attachment(value: object, where: str) -> ParsedAttachment:
    data = object_field(value, where)
    name = text_field(data.get("name"), f"{where}.name", limit=255, required=True).strip()
    if not name:
        raise ImportRefused(f"{where}.name should not be empty.")
    return ParsedAttachment(name=name, file=text_field(data.get("file"), f"{where}.file", limit=MAX_SHORT))


def _app_message(value: object, where: str, seen: set[str]) -> ParsedMessage:
    data = object_field(value, where)
    key = key_field(data.get("id"), f"{where}.id")
    if key in seen:
        raise ImportRefused(f"{where}.id appears twice in the conversation.")
    parent = data.get("parent")
    if parent is not None:
        parent = key_field(parent, f"{where}.parent")
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
        content=text_field(data.get("content"), f"{where}.content"),
        created_at=iso_time_field(data.get("created_at"), f"{where}.created_at"),
        status=status,
        error=text_field(data.get("error"), f"{where}.error", limit=MAX_SHORT * 4),
        provider=text_field(data.get("provider"), f"{where}.provider", limit=20),
        model=text_field(data.get("model"), f"{where}.model", limit=100),
        input_tokens=number_field(data.get("input_tokens"), f"{where}.input_tokens"),
        output_tokens=number_field(data.get("output_tokens"), f"{where}.output_tokens"),
        sources=[
            _source(source, f"{where}.sources[{n}]")
            for n, source in enumerate(list_field(data.get("sources"), f"{where}.sources", limit=MAX_SOURCES))
        ],
        vote=_vote(data.get("vote"), f"{where}.vote") if role == Message.Role.ASSISTANT else None,
        # An effort this app does not know is dropped, not refused: it only said how long the model thought.
        reasoning_effort=effort if (effort := data.get("reasoning_effort")) in EFFORTS else "",
        thinking=text_field(data.get("thinking"), f"{where}.thinking") if role == Message.Role.ASSISTANT else "",
        attachments=[
            _attachment(item, f"{where}.attachments[{n}]")
            for n, item in enumerate(
                list_field(data.get("attachments"), f"{where}.attachments", limit=MAX_ATTACHMENTS_PER_MESSAGE)
            )
        ]
        if role == Message.Role.USER
        else [],
    )


def parse_app_export(document: dict) -> list[ParsedConversation]:
    if document.get("version") != 1:
        raise ImportRefused("This export is from a newer version of the app: its format version is not 1.")
    conversations = list_field(document.get("conversations"), "conversations", limit=MAX_CONVERSATIONS)
    parsed = []
    for n, value in enumerate(conversations):
        where = f"conversations[{n}]"
        data = object_field(value, where)
        seen: set[str] = set()
        messages = [
            _app_message(message, f"{where}.messages[{m}]", seen)
            for m, message in enumerate(list_field(data.get("messages"), f"{where}.messages", limit=MAX_MESSAGES))
        ]
        leaf = data.get("active_leaf")
        leaf = key_field(leaf, f"{where}.active_leaf") if leaf is not None else None
        provider = data.get("provider")
        parsed.append(
            ParsedConversation(
                title=text_field(data.get("title"), f"{where}.title", limit=MAX_SHORT),
                messages=messages,
                active_leaf=leaf if leaf in seen else None,
                provider=provider if provider in ChatProvider.values else ChatProvider.OFFLINE,
                model=text_field(data.get("model"), f"{where}.model", limit=100),
                system_prompt=text_field(data.get("system_prompt"), f"{where}.system_prompt", limit=10_000),
                title_set_by_user=data.get("title_set_by_user") is not False,
                created_at=iso_time_field(data.get("created_at"), f"{where}.created_at"),
                updated_at=iso_time_field(data.get("updated_at"), f"{where}.updated_at"),
                project=text_field(data.get("project"), f"{where}.project", limit=MAX_SHORT).strip(),
                project_key=key_field(data["project_id"], f"{where}.project_id") if data.get("project_id") else "",
                key=key_field(data["id"], f"{where}.id") if data.get("id") else "",
            )
        )
    return parsed


# --- ChatGPT's format ----------------------------------------------------------------------------------------------


def _chatgpt_text(message: dict, where: str) -> str:
    content = message.get("content")
    if content is None:
        return ""
    content = object_field(content, f"{where}.content")
    kind = content.get("content_type")
    if kind in ("text", "multimodal_text"):
        parts = list_field(content.get("parts"), f"{where}.content.parts", limit=1_000)
        # Pictures and files are objects among the parts: their words only are kept.
        texts = [text_field(part, f"{where}.content.parts") for part in parts if isinstance(part, str)]
        return "\n\n".join(text for text in texts if text)
    if kind == "code":
        return text_field(content.get("text"), f"{where}.content.text")
    return ""  # browsing displays, thoughts, tool results: not part of the conversation as it was shown


def parse_chatgpt_export(conversations: list) -> list[ParsedConversation]:
    list_field(conversations, "The file", limit=MAX_CONVERSATIONS)
    parsed = []
    for n, value in enumerate(conversations):
        where = f"conversation {n + 1}"
        data = object_field(value, where)
        mapping = object_field(data.get("mapping"), f"{where}: mapping")
        if len(mapping) > MAX_MESSAGES:
            raise ImportRefused(f"{where} has too many messages ({len(mapping):,}).")
        nodes: dict[str, dict] = {}
        for key, node in mapping.items():
            node = object_field(node, f"{where}: message {key[:40]}")
            if node.get("parent") is not None:
                key_field(node["parent"], f"{where}: message {key[:40]}.parent")
            nodes[key_field(key, f"{where}: a message id")] = node
        # Parents first: walk down from the roots; a node that no root reaches (a loop) is refused.
        order: list[str] = []
        queued = deque(key for key, node in nodes.items() if node.get("parent") not in nodes)
        visited = set(queued)
        while queued:
            key = queued.popleft()
            order.append(key)
            for child in list_field(nodes[key].get("children"), f"{where}: message {key[:40]}.children", limit=10_000):
                child = key_field(child, f"{where}: a child id")
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
            message = object_field(message, f"{where}: message {key[:40]}")
            author = object_field(message.get("author") or {}, f"{where}: message {key[:40]}.author")
            role = author.get("role")
            text = _chatgpt_text(message, f"{where}: message {key[:40]}")
            if role not in ("user", "assistant") or not has_visible_text(text):
                continue
            metadata = message.get("metadata") if isinstance(message.get("metadata"), dict) else {}
            slug = text_field(metadata.get("model_slug"), f"{where}: message {key[:40]}.model_slug", limit=100)
            model = slug or model
            messages.append(
                ParsedMessage(
                    key=key,
                    parent=nearest,
                    role=role,
                    content=text,
                    created_at=epoch_time_field(message.get("create_time"), f"{where}: message {key[:40]}.create_time"),
                    provider=ChatProvider.OPENAI if role == "assistant" else "",
                    model=slug if role == "assistant" else "",
                )
            )
            kept[key] = key
        current = data.get("current_node")
        leaf = kept.get(current) if isinstance(current, str) else None
        parsed.append(
            ParsedConversation(
                title=text_field(data.get("title"), f"{where}: title", limit=MAX_SHORT),
                messages=messages,
                active_leaf=leaf,
                provider=ChatProvider.OFFLINE,  # the imported chat goes on with the user's default model
                model="",
                created_at=epoch_time_field(data.get("create_time"), f"{where}: create_time"),
                updated_at=epoch_time_field(data.get("update_time"), f"{where}: update_time"),
            )
        )
    return parsed


# --- The whole file ------------------------------------------------------------------------------------------------


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
