"""OpenAI and every OpenAI-compatible API (xAI, Groq, DeepSeek, Mistral, Perplexity, Ollama, vLLM, LM Studio,
OpenRouter, a LiteLLM proxy) through the openai SDK's async streamed chat completions."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx2
import openai

from chatbot.llm.attachment_blocks import openai_content
from chatbot.llm.base import ChatRequest, Event, Finished, ProviderError, TextDelta, ThinkingDelta
from chatbot.llm.http import sdk_client
from chatbot.llm.reasoning import thinking_budget
from chatbot.netpolicy import refusal_in
from chatbot.tools.wire import OpenAIToolCalls, openai_tool_params

# Chat completions' finish reasons, in the words the rest of the app uses (Anthropic's).
STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "content_filter": "refusal", "tool_calls": "tool_use"}
_CONTEXT_CODES = {"context_length_exceeded", "string_above_max_length"}
_CONTEXT_WORDS = ("maximum context length", "context length", "context window", "too many tokens", "too long")


# Where the reasoning of an OpenAI-compatible server streams: DeepSeek, vLLM and xAI send `reasoning_content`;
# Ollama, OpenRouter and Groq send `reasoning`. OpenAI's own chat completions stream none (its reasoning tokens are
# only counted, inside completion_tokens).
_REASONING_FIELDS = ("reasoning_content", "reasoning")


def reasoning_params(provider: str, model: str, effort: str) -> dict:
    """The request's parameters for a reasoning effort on this provider; {} where its API has no such setting.

    OpenAI, Groq, Ollama and Perplexity take `reasoning_effort` as is. xAI takes it on Grok 3 mini only, as "low" or
    "high" (Grok 4 and later always reason and refuse it). DeepSeek's reasoner always reasons and Mistral validates
    its parameters strictly: nothing is sent, and what they reason still streams into the Thinking section.
    """
    if not effort or provider in {"deepseek", "mistral"}:
        return {}
    if provider == "xai":
        return {"reasoning_effort": "low" if effort == "low" else "high"} if model.startswith("grok-3-mini") else {}
    return {"reasoning_effort": effort}


def _error_body(exc: openai.APIError) -> dict:
    body = getattr(exc, "body", None)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"]
    return body if isinstance(body, dict) else {}


def error_from(exc: Exception, *, provider: str = "openai") -> ProviderError:
    """The typed error for what the openai SDK raised (at the request, or mid-stream)."""
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return ProviderError(ProviderError.AUTHENTICATION, str(exc))
    if isinstance(exc, openai.RateLimitError):
        return ProviderError(ProviderError.RATE_LIMITED, str(exc))
    if isinstance(exc, openai.APIConnectionError):  # includes timeouts and a connection cut mid-stream
        refusal = refusal_in(exc)
        if refusal is not None:  # a user's base URL that now resolves to an internal address
            return ProviderError(ProviderError.BASE_URL_REFUSED, str(refusal))
        return ProviderError(ProviderError.NETWORK, f"{exc} ({exc.__cause__ or exc.__context__})")
    if isinstance(exc, openai.APIError):
        text = str(exc)
        error = _error_body(exc)
        kind = " ".join(str(error.get(name) or "") for name in ("type", "code")).lower()
        status = getattr(exc, "status_code", 0)
        if status in {503, 529} or "overloaded" in kind or "overloaded" in text.lower():
            return ProviderError(ProviderError.OVERLOADED, text)
        if status == 429 or "rate_limit" in kind:
            return ProviderError(ProviderError.RATE_LIMITED, text)
        if any(code in kind for code in _CONTEXT_CODES) or (
            status in {400, 413, 422, 0, None} and any(words in text.lower() for words in _CONTEXT_WORDS)
        ):
            return ProviderError(ProviderError.CONTEXT_TOO_LONG, text)
        if status in {401, 403} or "invalid_api_key" in kind or "authentication" in kind:
            return ProviderError(ProviderError.AUTHENTICATION, text)
        return ProviderError(ProviderError.OTHER, text)
    return ProviderError(ProviderError.OTHER, f"{provider}: {exc!r}")


def _read_chunk(chunk: object, provider: str) -> tuple[str, str, str | None, tuple[int | None, int | None] | None, str]:
    """(text, reasoning, finish reason, (input, output tokens) or None, id) of a chat.completion.chunk; MALFORMED if
    it is not one. Only the first choice is read: one is asked for. Output tokens include any reasoning tokens
    (completion_tokens counts them), so the cost does too."""
    try:
        choices = chunk.get("choices") or []
        choice = next((c for c in choices if c.get("index", 0) == 0), None)
        delta = (choice.get("delta") or {}) if choice is not None else {}
        text = delta.get("content") or ""
        reasoning = next((delta[name] for name in _REASONING_FIELDS if delta.get(name)), "")
        finish = choice.get("finish_reason") if choice is not None else None
        usage = chunk.get("usage")
        tokens = (usage.get("prompt_tokens"), usage.get("completion_tokens")) if usage else None
        if not isinstance(text, str) or not isinstance(reasoning, str) or not isinstance(finish, str | None):
            raise TypeError("content, reasoning or finish_reason is not a string")
        return text, reasoning, finish, tokens, str(chunk.get("id") or "")
    except (AttributeError, TypeError) as exc:
        detail = f"{provider}: not a chat completion chunk: {chunk!r:.200}"
        raise ProviderError(ProviderError.MALFORMED, detail) from exc


class OpenAICompatibleProvider:
    """One provider speaking chat completions; `name` and `label` say which (the catalogue's ProviderSpec)."""

    def __init__(
        self,
        *,
        name: str = "openai",
        label: str = "OpenAI",
        api_key: str,
        base_url: str | None = None,
        user_base_url: bool = False,
        stream_usage_option: bool = True,
        token_limit_param: str = "max_tokens",  # noqa: S107 (a parameter's name, not a secret)
        timeout: float = 120.0,
    ) -> None:
        self.name = name
        self.label = label
        self.api_key = api_key
        self.base_url = base_url or None
        self.user_base_url = user_base_url  # typed by the user (checked by provider_credentials): reached only guarded
        self.stream_usage_option = stream_usage_option
        self.token_limit_param = token_limit_param
        self.timeout = timeout

    def messages(self, request: ChatRequest) -> list[dict]:
        system = [{"role": "system", "content": request.system}] if request.system else []
        return system + [{"role": m.role, "content": openai_content(m)} for m in request.messages]

    async def stream(self, request: ChatRequest) -> AsyncIterator[Event]:
        client = sdk_client(
            "openai", api_key=self.api_key, base_url=self.base_url, guarded=self.user_base_url, timeout=self.timeout
        )
        params: dict = {
            "model": request.model,
            "messages": self.messages(request),
            "stream": True,
            self.token_limit_param: request.max_tokens,
        }
        if self.stream_usage_option:
            params["stream_options"] = {"include_usage": True}
        params.update(openai_tool_params(request, params["messages"]))  # tools offered, rounds so far
        tool_calls = OpenAIToolCalls()
        effort = reasoning_params(self.name, request.model, request.reasoning_effort)
        if effort:
            params.update(effort)
            # The token limit counts the reasoning too: the answer keeps its own room on top of it.
            params[self.token_limit_param] = request.max_tokens + (thinking_budget(request.reasoning_effort) or 0)
        input_tokens = output_tokens = None
        finish_reason, metadata = None, {}
        try:
            # The SDK's own request and stream (auth, errors, SSE, an error object mid-stream), with the chunks left
            # as the JSON they are: building its typed ChatCompletionChunk costs a quarter of a millisecond per
            # token, three times everything else on this path (bench/chat_latency.py --provider openai).
            stream = await client.post(
                "/chat/completions", body=params, cast_to=object, stream=True, stream_cls=openai.AsyncStream[object]
            )
            async with stream:
                async for chunk in stream:
                    text, reasoning, finish, usage, chunk_id = _read_chunk(chunk, self.name)
                    tool_calls.add(chunk)
                    if chunk_id and not metadata:
                        metadata = {"id": chunk_id, "model": chunk.get("model") or request.model}
                    if reasoning:
                        yield ThinkingDelta(reasoning)
                    if text:
                        yield TextDelta(text)
                    if finish:
                        finish_reason = finish
                    if usage is not None:  # the last chunk with include_usage; every chunk on some servers
                        input_tokens, output_tokens = usage
        except openai.OpenAIError as exc:
            raise error_from(exc, provider=self.name) from exc
        except httpx2.HTTPError as exc:  # the SDK's HTTP client, should one slip past the SDK's own wrapping
            raise ProviderError(ProviderError.NETWORK, str(exc)) from exc
        except json.JSONDecodeError as exc:  # a `data:` line that is not JSON
            raise ProviderError(ProviderError.MALFORMED, f"{self.name}: {exc}") from exc
        if finish_reason is None:
            # The body ended without a finish reason: the reply was cut (a proxy, a crashed server). Saved as
            # complete, the cut-off text would pass for the whole answer.
            raise ProviderError(ProviderError.MALFORMED, f"{self.name}: the stream ended before the reply did")
        for call in tool_calls.finish():
            yield call
        yield Finished(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            stop_reason=STOP_REASONS.get(finish_reason, finish_reason),
            provider_metadata=metadata,
        )
