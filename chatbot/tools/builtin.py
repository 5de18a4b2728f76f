"""The built-in tools, each with its risk class. Every lookup is scoped to the user the reply is for."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from dataclasses import replace
from decimal import Decimal

from chatbot.tools.calculator import CalculatorError, evaluate, formatted
from chatbot.tools.registry import LOW_RISK, READ_ONLY, WRITE, Tool, ToolContext, ToolFailed, ToolResult

MAX_SEARCH_RESULTS = 10
# The tools that read the user's documents: not offered when "Use my documents to answer" is off (tools/loop.py).
DOCUMENT_READERS = frozenset({"search_documents", "read_document"})
MAX_DOCUMENT_CHARS = 40_000
MAX_WRITE_CHARS = 200_000
# A suggestions call is a model call on the user's default model: a generous guess of what one costs, for the
# approval policy's cost limits before it runs (its real cost, from the usage log, is recorded after).
SUGGESTIONS_ESTIMATED_COST = Decimal("0.05")
NO_DOCUMENT = "No document with that id is readable by this user."


def _document_id(arguments: dict) -> uuid.UUID:
    try:
        return uuid.UUID(str(arguments.get("document_id", "")))
    except ValueError as exc:
        raise ToolFailed(NO_DOCUMENT) from exc


def _own_conversation(context: ToolContext):
    """The conversation the tool runs in, when it is the user's (owner-scoped, as every lookup)."""
    if context.conversation_id is None:
        return None
    from conversations.models import Conversation

    return Conversation.objects.filter(id=context.conversation_id, user=context.user).select_related("user").first()


def search_documents(context: ToolContext, arguments: dict) -> ToolResult:
    from conversations.prompting import system_with_sources
    from documents.retrieval import RetrievalOptions, retrieve

    query = " ".join(str(arguments.get("query", "")).split())
    if not query:
        raise ToolFailed("The query is empty.")
    k = arguments.get("k", 5)
    k = max(1, min(int(k) if isinstance(k, int) else 5, MAX_SEARCH_RESULTS))
    # In a project's chat, the project's documents first, as for the reply's own retrieval (documents/retrieval.py).
    conversation = _own_conversation(context)
    base = RetrievalOptions.for_conversation(conversation) if conversation else RetrievalOptions.for_user(context.user)
    options = replace(base, max_results=k)
    found = retrieve(user=context.user, query=query, options=options)
    if not found:
        return ToolResult(text="No passage of the user's documents matches this query.")
    numbered = tuple(replace(source, number=context.next_source_number + i) for i, source in enumerate(found))
    return ToolResult(text=system_with_sources("", numbered), sources=numbered)


def read_document(context: ToolContext, arguments: dict) -> ToolResult:
    from documents.selectors import readable_documents
    from documents.services import document_extracted_text

    document = readable_documents(user=context.user).filter(id=_document_id(arguments)).first()
    if document is None:
        raise ToolFailed(NO_DOCUMENT)
    latest = document.versions.order_by("-number").first()
    text = latest.content if latest is not None else document_extracted_text(document)
    if not text.strip():
        text = "(this document has no text yet)"
    clipped = text[:MAX_DOCUMENT_CHARS]
    more = f"\n\n[… {len(text) - len(clipped):,} more characters not shown]" if len(clipped) < len(text) else ""
    return ToolResult(text=f"Title: {document.title}\nDocument id: {document.id}\n\n{clipped}{more}")


def _content(arguments: dict) -> str:
    content = arguments.get("content", "")
    if not isinstance(content, str) or not content.strip():
        raise ToolFailed("The content is empty.")
    if len(content) > MAX_WRITE_CHARS:
        raise ToolFailed(f"The content is limited to {MAX_WRITE_CHARS:,} characters.")
    return content


def create_document(context: ToolContext, arguments: dict) -> ToolResult:
    from documents.models import Document, DocumentVersion
    from documents.services import document_create

    if getattr(context.user, "is_guest", False):
        raise ToolFailed("Guests cannot keep documents: the user would need to sign up first.")
    document = document_create(
        owner=context.user,
        title=str(arguments.get("title", "")),
        content=_content(arguments),
        source=Document.Source.GENERATED,
        created_by=DocumentVersion.Author.ASSISTANT,
    )
    return ToolResult(text=f"Created the document “{document.title}” (document id {document.id}, version 1).")


def update_document(context: ToolContext, arguments: dict) -> ToolResult:
    from documents.models import Document, DocumentVersion
    from documents.services import document_save_version

    document = Document.objects.filter(owner=context.user, id=_document_id(arguments)).first()
    if document is None:  # the shared base is readable but nobody's to change
        raise ToolFailed("No document with that id belongs to this user.")
    version = document_save_version(
        document=document, content=_content(arguments), author=context.user, created_by=DocumentVersion.Author.ASSISTANT
    )
    return ToolResult(text=f"Saved version {version.number} of “{document.title}” (document id {document.id}).")


def request_suggestions(context: ToolContext, arguments: dict) -> ToolResult:
    from django.db.models import Sum
    from django.utils import timezone

    from conversations.models import UsageLog
    from documents.models import Document
    from documents.suggestions import SuggestionsUnavailable, suggest_improvements

    document = Document.objects.filter(owner=context.user, id=_document_id(arguments)).first()
    if document is None:
        raise ToolFailed("No document with that id belongs to this user.")
    started = timezone.now()
    try:
        count = suggest_improvements(document=document, user=context.user)
    except SuggestionsUnavailable as exc:
        raise ToolFailed(str(exc)) from exc
    paid = UsageLog.objects.filter(user=context.user, conversation=None, created_at__gte=started)
    cost = paid.aggregate(total=Sum("cost"))["total"]
    return ToolResult(
        text=f"{count} suggestion{'s' if count != 1 else ''} stored on “{document.title}”; the user accepts or "
        "rejects each on the document's page.",
        cost=cost,
    )


def calculator(context: ToolContext, arguments: dict) -> ToolResult:
    try:
        value = evaluate(str(arguments.get("expression", "")))
    except CalculatorError as exc:
        raise ToolFailed(str(exc)) from exc
    return ToolResult(text=formatted(value))


def current_datetime(context: ToolContext, arguments: dict) -> ToolResult:
    name = str(arguments.get("timezone") or "UTC").strip()
    try:
        zone = zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ToolFailed(f"Unknown time zone: {name[:60]}. Use an IANA name such as Europe/Paris.") from exc
    now = dt.datetime.now(zone)
    return ToolResult(text=f"{now.isoformat(timespec='seconds')} ({now:%A %d %B %Y, %H:%M} {name})")


def _schema(properties: dict, required: list[str]) -> dict:
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


DOCUMENT_ID = {"type": "string", "description": "The document's id (a UUID)."}

BUILTIN_TOOLS = [
    Tool(
        name="search_documents",
        label="Search documents",
        description="Search the user's documents and the shared knowledge base. Returns numbered passages; cite "
        "them by number in square brackets, like [1].",
        parameters=_schema(
            {
                "query": {"type": "string", "description": "What to look for."},
                "k": {"type": "integer", "description": "How many passages (1 to 10, default 5)."},
            },
            ["query"],
        ),
        risk=READ_ONLY,
        run=search_documents,
    ),
    Tool(
        name="read_document",
        label="Read a document",
        description="The text of one of the user's documents (or of the shared knowledge base), by its id.",
        parameters=_schema({"document_id": DOCUMENT_ID}, ["document_id"]),
        risk=READ_ONLY,
        run=read_document,
    ),
    Tool(
        name="create_document",
        label="Create a document",
        description="Create a new document for the user, in Markdown. It is kept as version 1, written by the "
        "assistant, and becomes searchable.",
        parameters=_schema(
            {"title": {"type": "string"}, "content": {"type": "string", "description": "Markdown text."}},
            ["title", "content"],
        ),
        risk=WRITE,
        run=create_document,
    ),
    Tool(
        name="update_document",
        label="Update a document",
        description="Replace the text of one of the user's documents: a new version, written by the assistant "
        "(earlier versions are kept).",
        parameters=_schema({"document_id": DOCUMENT_ID, "content": {"type": "string"}}, ["document_id", "content"]),
        risk=WRITE,
        run=update_document,
    ),
    Tool(
        name="request_suggestions",
        label="Suggest improvements",
        description="Ask for suggested improvements to one of the user's documents; the user accepts or rejects "
        "each on the document's page.",
        parameters=_schema({"document_id": DOCUMENT_ID}, ["document_id"]),
        risk=WRITE,
        run=request_suggestions,
        estimated_cost=SUGGESTIONS_ESTIMATED_COST,
    ),
    Tool(
        name="calculator",
        label="Calculator",
        description="Evaluate an arithmetic expression exactly: + - * / // % ** and sqrt, abs, round, floor, ceil, "
        "log, log10, exp, sin, cos, tan, min, max, pi, e.",
        parameters=_schema(
            {"expression": {"type": "string", "description": "For example (3 + 4) * 2**10"}}, ["expression"]
        ),
        risk=LOW_RISK,
        run=calculator,
    ),
    Tool(
        name="current_datetime",
        label="Current date and time",
        description="The current date and time in a time zone (an IANA name such as Europe/Paris; default UTC).",
        parameters=_schema({"timezone": {"type": "string"}}, []),
        risk=READ_ONLY,
        run=current_datetime,
    ),
]
