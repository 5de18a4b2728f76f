"""One interface for every language model provider.

A provider turns a ChatRequest into an async stream of events: TextDelta pieces as they arrive (and ThinkingDelta
pieces of the model's reasoning, when the request asked for some), then one Finished with usage and the stop reason.
Failures are ProviderError with a `kind` the UI can explain.
Adding a provider is one module with a class implementing `stream`, chosen in
`conversations.generation.resolve_provider`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class PromptAttachment:
    """A file sent to the model in its own content block (conversations/attachments.py decides which can be)."""

    kind: str  # "image" or "pdf"
    mime_type: str
    data: bytes
    name: str


@dataclass(frozen=True)
class PromptMessage:
    role: str  # "user" or "assistant"
    content: str
    # Images and PDFs the model reads natively, sent beside `content` (chatbot/llm/attachment_blocks.py).
    attachments: tuple[PromptAttachment, ...] = ()


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: list[PromptMessage]
    system: str = ""
    max_tokens: int = 2048
    # Passages retrieved for this reply (documents.retrieval.Source); already in `system` for real models.
    sources: tuple = ()
    documents_searched: bool = False  # whether retrieval ran at all (on for the conversation and the user)
    # "low", "medium" or "high" for a model whose catalogue capabilities include reasoning, else "" (none asked).
    reasoning_effort: str = ""
    # Tools the model may call (chatbot/tools: {"name", "description", "parameters"} each) and the rounds of calls
    # and results so far in this reply (ToolRound), which the provider sends back after `messages`.
    tools: tuple = ()
    tool_rounds: tuple = ()
    # The question's attached files as (name, extracted text), for the offline assistant to quote.
    attachment_texts: tuple = ()


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ThinkingDelta:
    """A piece of the model's reasoning (Anthropic thinking, OpenAI-compatible reasoning_content, Gemini thought
    parts): shown apart from the answer and never sent back in a later prompt."""

    text: str


@dataclass(frozen=True)
class Finished:
    input_tokens: int | None = None
    output_tokens: int | None = None
    stop_reason: str = "end_turn"
    provider_metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ToolCall:
    """A call the model asked for, its arguments whole (streamed as JSON pieces, parsed once complete; `arguments`
    is None when they were not a JSON object)."""

    id: str
    name: str
    arguments: dict | None
    raw_arguments: str = ""
    # Gemini's thought signature (base64): its thinking models must be sent it back with the call, or refuse.
    signature: str = ""


@dataclass(frozen=True)
class ToolOutput:
    call_id: str
    content: str
    is_error: bool = False


@dataclass(frozen=True)
class ToolRound:
    """One round of a tool loop: the model's text and calls, then what each call gave back."""

    text: str
    calls: tuple[ToolCall, ...]
    outputs: tuple[ToolOutput, ...]


Event = TextDelta | ThinkingDelta | ToolCall | Finished


class ProviderError(Exception):
    """A failure the user can understand; `kind` picks the explanation and whether retrying may help."""

    NO_KEY = "no_key"
    AUTHENTICATION = "authentication"
    RATE_LIMITED = "rate_limited"
    OVERLOADED = "overloaded"
    CONTEXT_TOO_LONG = "context_too_long"
    NETWORK = "network"
    MALFORMED = "malformed"  # the stream broke the provider's own protocol, or ended before the reply did
    BASE_URL_REFUSED = "base_url_refused"  # a user's base URL this server will not call (chatbot/netpolicy.py)
    OTHER = "other"

    MESSAGES = {
        # The bubble adds what the reader can do about a key (a link to it, or to sign up): see Failure.
        NO_KEY: "No API key is configured for this model. Pick another model, or the offline assistant, in the "
        "model menu above the message box.",
        AUTHENTICATION: "The provider rejected the API key.",
        RATE_LIMITED: "The provider is rate limiting requests right now. Wait a moment and retry.",
        OVERLOADED: "The provider is overloaded right now. Retry in a moment.",
        CONTEXT_TOO_LONG: "This conversation is too long for the model. Start a new conversation or shorten "
        "your message.",
        NETWORK: "Could not reach the provider (network failure). Retry in a moment.",
        MALFORMED: "The provider's answer broke off or could not be read. Retry in a moment.",
        BASE_URL_REFUSED: "This server does not allow the base URL set on the key.",
        OTHER: "The provider returned an error.",
    }

    def __init__(self, kind: str, detail: str = "") -> None:
        self.kind = kind
        self.detail = detail
        super().__init__(f"{kind}: {detail}" if detail else kind)

    @property
    def user_message(self) -> str:
        message = self.MESSAGES.get(self.kind, self.MESSAGES[self.OTHER])
        if self.kind == self.BASE_URL_REFUSED and self.detail:
            return f"{message} {self.detail}"  # netpolicy's reason, written for the user
        return message


class Provider(Protocol):
    name: str
    label: str

    def stream(self, request: ChatRequest) -> AsyncIterator[Event]: ...
