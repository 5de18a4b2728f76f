"""Claude through the anthropic SDK's async streaming Messages API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anthropic
import httpx2

from chatbot.llm.base import ChatRequest, Event, Finished, ProviderError, TextDelta
from chatbot.loops import loop_singleton, loop_singleton_pop

# The current generation of each family, as the installed SDK knows it (anthropic.types.ModelParam). Sonnet 4.5
# reaches end of life on 2026-11-30 (the SDK warns) and Opus 4.1 is no longer listed: conversations and
# preferences on those two were moved to their successors here (conversations/migrations/0003_current_models.py).
MODELS = [
    ("claude-sonnet-5-5", "Claude Sonnet 5.5"),
    ("claude-opus-5-5", "Claude Opus 5.5"),
    ("claude-haiku-5-5", "Claude Haiku 5.5"),
]


def _shared_http_client() -> anthropic.DefaultAioHttpClient:
    """One connection pool per event loop: building TLS contexts per reply would cost milliseconds each.

    The SDK's aiohttp transport: its HTTP parser is C, and a streamed reply is one read per token.
    """
    return loop_singleton("anthropic-http-client", anthropic.DefaultAioHttpClient)


async def close_http_client() -> None:
    """Close this loop's connection pool (at server shutdown: aiohttp complains about sessions left open)."""
    client = loop_singleton_pop("anthropic-http-client")
    if client is not None:
        await client.aclose()


def _error_from(exc: Exception) -> ProviderError:
    if isinstance(exc, anthropic.AuthenticationError | anthropic.PermissionDeniedError):
        return ProviderError(ProviderError.AUTHENTICATION, str(exc))
    if isinstance(exc, anthropic.RateLimitError):
        return ProviderError(ProviderError.RATE_LIMITED, str(exc))
    if isinstance(exc, anthropic.APIConnectionError):  # includes timeouts
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

    def __init__(self, *, api_key: str, base_url: str | None = None, timeout: float = 120.0) -> None:
        self.api_key = api_key
        self.base_url = base_url or None
        self.timeout = timeout

    async def stream(self, request: ChatRequest) -> AsyncIterator[Event]:
        client = anthropic.AsyncAnthropic(
            api_key=self.api_key,
            base_url=self.base_url,
            max_retries=0,  # a retry after text has streamed would duplicate it; the user has a Retry button
            timeout=self.timeout,
            http_client=_shared_http_client(),
        )
        params: dict = {
            "model": request.model,
            "max_tokens": request.max_tokens,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        }
        if request.system:
            params["system"] = request.system
        usage = {"input_tokens": None, "output_tokens": None}
        stop_reason, metadata = "end_turn", {}
        try:
            # The raw event stream: the SDK's accumulating helper rebuilds the whole message on every delta,
            # which costs more CPU than everything else on this path put together.
            stream = await client.messages.create(**params, stream=True)
            async with stream:
                async for event in stream:
                    if event.type == "content_block_delta" and event.delta.type == "text_delta":
                        yield TextDelta(event.delta.text)
                    elif event.type == "message_start":
                        usage["input_tokens"] = event.message.usage.input_tokens
                        metadata = {"id": event.message.id, "model": event.message.model}
                    elif event.type == "message_delta":
                        usage["output_tokens"] = event.usage.output_tokens
                        stop_reason = event.delta.stop_reason or stop_reason
        except anthropic.AnthropicError as exc:
            raise _error_from(exc) from exc
        except httpx2.HTTPError as exc:  # the SDK's HTTP client; a connection cut mid-stream surfaces as this
            raise ProviderError(ProviderError.NETWORK, str(exc)) from exc
        yield Finished(
            input_tokens=usage["input_tokens"],
            output_tokens=usage["output_tokens"],
            stop_reason=stop_reason,
            provider_metadata=metadata,
        )
