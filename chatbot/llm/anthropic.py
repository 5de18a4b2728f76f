"""Claude through the anthropic SDK's async streaming Messages API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anthropic
import httpx2

from chatbot.llm.attachment_blocks import anthropic_content
from chatbot.llm.base import ChatRequest, Event, Finished, ProviderError, TextDelta, ThinkingDelta
from chatbot.llm.catalog import known_models
from chatbot.llm.http import sdk_client
from chatbot.llm.reasoning import thinking_budget
from chatbot.netpolicy import refusal_in
from chatbot.tools.wire import AnthropicToolCalls, anthropic_tool_params

# The current generation of each family, as the installed SDK knows it (anthropic.types.ModelParam). Sonnet 4.5
# reaches end of life on 2026-11-30 (the SDK warns) and Opus 4.1 is no longer listed: conversations and
# preferences on those two were moved to their successors here (conversations/migrations/0003_current_models.py).
MODELS = [(model.id, model.label) for model in known_models("anthropic")]


def error_from(exc: Exception) -> ProviderError:
    """The typed error for what the anthropic SDK raised (at the request, or mid-stream)."""
    if isinstance(exc, anthropic.AuthenticationError | anthropic.PermissionDeniedError):
        return ProviderError(ProviderError.AUTHENTICATION, str(exc))
    if isinstance(exc, anthropic.RateLimitError):
        return ProviderError(ProviderError.RATE_LIMITED, str(exc))
    if isinstance(exc, anthropic.APIConnectionError):  # includes timeouts
        refusal = refusal_in(exc)
        if refusal is not None:  # a user's base URL that now resolves to an internal address
            return ProviderError(ProviderError.BASE_URL_REFUSED, str(refusal))
        return ProviderError(ProviderError.NETWORK, str(exc))
    if isinstance(exc, anthropic.APIStatusError | anthropic.APIError):
        text = str(exc)
        body = getattr(exc, "body", None)
        kind = body.get("error", {}).get("type", "") if isinstance(body, dict) else ""
        if kind == "overloaded_error" or "overloaded" in text.lower() or getattr(exc, "status_code", 0) == 529:
            return ProviderError(ProviderError.OVERLOADED, text)
        if "prompt is too long" in text or ("context" in text.lower() and "too long" in text.lower()):
            return ProviderError(ProviderError.CONTEXT_TOO_LONG, text)
        return ProviderError(ProviderError.OTHER, text)
    return ProviderError(ProviderError.OTHER, repr(exc))


class AnthropicProvider:
    name = "anthropic"
    label = "Anthropic"

    def __init__(
        self, *, api_key: str, base_url: str | None = None, user_base_url: bool = False, timeout: float = 120.0
    ) -> None:
        self.api_key = api_key
        self.base_url = base_url or None
        self.user_base_url = user_base_url  # typed by the user (checked by provider_credentials): reached only guarded
        self.timeout = timeout

    async def stream(self, request: ChatRequest) -> AsyncIterator[Event]:
        client = sdk_client(
            "anthropic", api_key=self.api_key, base_url=self.base_url, guarded=self.user_base_url, timeout=self.timeout
        )
        params: dict = {
            "model": request.model,
            "max_tokens": request.max_tokens,
            "messages": [{"role": m.role, "content": anthropic_content(m)} for m in request.messages],
        }
        if request.system:
            params["system"] = request.system
        params.update(anthropic_tool_params(request, params["messages"]))  # tools offered, rounds so far
        tool_calls = AnthropicToolCalls()
        # Only a turn's first call thinks: later calls of a tool loop would have to send back the signed thinking
        # blocks of the rounds before (the API refuses them without), which the rounds do not keep.
        budget = thinking_budget(request.reasoning_effort) if not request.tool_rounds else None
        if budget is not None:
            # Extended thinking: max_tokens counts the thinking too and must exceed the budget, so the answer keeps
            # its own room on top. "summarized": some models default to omitting the thinking's text.
            params["thinking"] = {"type": "enabled", "budget_tokens": budget, "display": "summarized"}
            params["max_tokens"] = request.max_tokens + budget
        usage = {"input_tokens": None, "output_tokens": None}
        stop_reason, metadata, stopped = "end_turn", {}, False
        try:
            # The raw event stream: the SDK's accumulating helper rebuilds the whole message on every delta,
            # which costs more CPU than everything else on this path put together.
            stream = await client.messages.create(**params, stream=True)
            async with stream:
                async for event in stream:
                    if event.type == "content_block_delta" and event.delta.type == "text_delta":
                        yield TextDelta(event.delta.text)
                    elif event.type == "content_block_delta" and event.delta.type == "thinking_delta":
                        # Shown, never sent back: the signed blocks are only needed again within a tool loop.
                        yield ThinkingDelta(event.delta.thinking)
                    elif event.type.startswith("content_block_"):  # a tool_use block, its input in JSON pieces
                        call = tool_calls.read(event)
                        if call is not None:
                            yield call
                    elif event.type == "message_start":
                        usage["input_tokens"] = event.message.usage.input_tokens
                        metadata = {"id": event.message.id, "model": event.message.model}
                    elif event.type == "message_delta":
                        usage["output_tokens"] = event.usage.output_tokens
                        stop_reason = event.delta.stop_reason or stop_reason
                    elif event.type == "message_stop":
                        stopped = True
        except anthropic.AnthropicError as exc:
            raise error_from(exc) from exc
        except httpx2.HTTPError as exc:  # the SDK's HTTP client; a connection cut mid-stream surfaces as this
            raise ProviderError(ProviderError.NETWORK, str(exc)) from exc
        if not stopped:
            # The body ended cleanly but the reply did not (a proxy cutting a long response): saved as complete,
            # the cut-off text would pass for the whole answer.
            raise ProviderError(ProviderError.MALFORMED, "the stream ended before message_stop")
        yield Finished(
            input_tokens=usage["input_tokens"],
            output_tokens=usage["output_tokens"],
            stop_reason=stop_reason,
            provider_metadata=metadata,
        )
