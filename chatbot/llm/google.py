"""Gemini through Google's official google-genai SDK (client.aio.models.generate_content_stream)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import httpx2
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from chatbot.llm.attachment_blocks import gemini_parts
from chatbot.llm.base import ChatRequest, Event, Finished, ProviderError, TextDelta, ThinkingDelta
from chatbot.llm.http import aiohttp_session, ssl_context
from chatbot.llm.reasoning import thinking_budget
from chatbot.netpolicy import refusal_in
from chatbot.tools.wire import gemini_tool_call, gemini_tool_contents, gemini_tools

STOP_REASONS = {"STOP": "end_turn", "MAX_TOKENS": "max_tokens", "SAFETY": "refusal", "PROHIBITED_CONTENT": "refusal"}
_CONTEXT_WORDS = ("exceeds the maximum number of tokens", "input token count", "too long", "context window")


def _reason_codes(exc: genai_errors.APIError) -> str:
    """The ErrorInfo reasons Google puts in an error's details (API_KEY_INVALID, ...)."""
    details = exc.details.get("error", exc.details) if isinstance(exc.details, dict) else {}
    items = details.get("details", []) if isinstance(details, dict) else []
    return " ".join(str(item.get("reason", "")) for item in items if isinstance(item, dict))


def error_from(exc: Exception) -> ProviderError:
    """The typed error for what the google-genai SDK (or its aiohttp session) raised."""
    if isinstance(exc, genai_errors.APIError):
        text = f"{exc.code} {exc.status}: {exc.message}"
        status = str(exc.status or "")
        reasons = _reason_codes(exc)
        # A bad key is a 400 INVALID_ARGUMENT with the reason API_KEY_INVALID, not a 401.
        if exc.code in {401, 403} or "API_KEY" in reasons or "API key not valid" in (exc.message or ""):
            return ProviderError(ProviderError.AUTHENTICATION, text)
        if exc.code == 429 or status == "RESOURCE_EXHAUSTED":
            return ProviderError(ProviderError.RATE_LIMITED, text)
        if exc.code in {503, 529} or status == "UNAVAILABLE" or "overloaded" in text.lower():
            return ProviderError(ProviderError.OVERLOADED, text)
        if exc.code in {400, 413} and any(words in text.lower() for words in _CONTEXT_WORDS):
            return ProviderError(ProviderError.CONTEXT_TOO_LONG, text)
        return ProviderError(ProviderError.OTHER, text)
    if isinstance(exc, genai_errors.UnknownApiResponseError):
        return ProviderError(ProviderError.MALFORMED, str(exc))
    if isinstance(exc, aiohttp.ClientError | httpx2.HTTPError | OSError):
        refusal = refusal_in(exc)
        if refusal is not None:  # a user's base URL that now resolves to an internal address
            return ProviderError(ProviderError.BASE_URL_REFUSED, str(refusal))
        return ProviderError(ProviderError.NETWORK, f"{type(exc).__name__}: {exc}")
    return ProviderError(ProviderError.OTHER, repr(exc))


class GoogleProvider:
    name = "google"
    label = "Google"

    def __init__(
        self, *, api_key: str, base_url: str | None = None, user_base_url: bool = False, timeout: float = 120.0
    ) -> None:
        self.api_key = api_key
        self.base_url = base_url or None
        self.user_base_url = user_base_url  # typed by the user (checked by provider_credentials): reached only guarded
        self.timeout = timeout

    def client(self) -> genai.Client:
        options = types.HttpOptions(
            base_url=self.base_url,
            timeout=int(self.timeout * 1000),
            # One attempt: a retry after text has streamed would duplicate it (the user has a Retry button);
            # set, it also stops the SDK's own unannounced retry of a refused connection after 1 to 10 s.
            retry_options=types.HttpRetryOptions(attempts=1),
            # This loop's shared session, and the process's TLS context (the SDK would load the CA bundle per
            # client); a user's base URL never follows a redirect (netpolicy).
            aiohttp_client=aiohttp_session(guarded=self.user_base_url),
            async_client_args={"ssl": ssl_context(), "allow_redirects": not self.user_base_url},
            client_args={"verify": ssl_context()},
        )
        return genai.Client(api_key=self.api_key, http_options=options)

    async def stream(self, request: ChatRequest) -> AsyncIterator[Event]:
        contents = [
            types.Content(role="model" if m.role == "assistant" else "user", parts=gemini_parts(m))
            for m in request.messages
        ] + gemini_tool_contents(request)
        budget = thinking_budget(request.reasoning_effort)
        config = types.GenerateContentConfig(
            system_instruction=request.system or None,
            # The output limit counts the thinking too: with a budget, the answer keeps its own room on top of it.
            max_output_tokens=request.max_tokens + (budget or 0),
            tools=gemini_tools(request),
            # The tool loop (chatbot/tools) runs the calls, after its policy: the SDK must never call a function.
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
            thinking_config=(
                types.ThinkingConfig(thinking_budget=budget, include_thoughts=True) if budget is not None else None
            ),
        )
        input_tokens = output_tokens = None
        finish_reason, metadata, called = None, {}, False
        try:
            stream = await self.client().aio.models.generate_content_stream(
                model=request.model, contents=contents, config=config
            )
            async for chunk in stream:
                if not metadata and (chunk.response_id or chunk.model_version):
                    metadata = {"id": chunk.response_id or "", "model": chunk.model_version or request.model}
                if chunk.usage_metadata is not None:
                    usage = chunk.usage_metadata
                    input_tokens = usage.prompt_token_count
                    # Thinking is billed as output but counted apart (Gemini's thinking models think by default).
                    answer, thoughts = usage.candidates_token_count, usage.thoughts_token_count
                    output_tokens = None if answer is None and thoughts is None else (answer or 0) + (thoughts or 0)
                candidate = chunk.candidates[0] if chunk.candidates else None
                if candidate is None:
                    feedback = chunk.prompt_feedback
                    if feedback is not None and feedback.block_reason:
                        raise ProviderError(ProviderError.OTHER, f"the prompt was blocked ({feedback.block_reason})")
                    continue
                for part in (candidate.content.parts if candidate.content else None) or ():
                    if part.function_call is not None:
                        called = True
                        yield gemini_tool_call(part)
                    elif part.text:
                        yield ThinkingDelta(part.text) if part.thought else TextDelta(part.text)
                if candidate.finish_reason:
                    finish_reason = str(getattr(candidate.finish_reason, "value", candidate.finish_reason))
        except ProviderError:
            raise
        except (genai_errors.APIError, genai_errors.UnknownApiResponseError) as exc:
            raise error_from(exc) from exc
        except (TimeoutError, aiohttp.ClientError, httpx2.HTTPError) as exc:
            raise error_from(exc) from exc
        if finish_reason is None:
            # The body ended without a finish reason: the reply was cut. Saved as complete, the cut-off text
            # would pass for the whole answer.
            raise ProviderError(ProviderError.MALFORMED, "google: the stream ended before the reply did")
        yield Finished(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            # Gemini ends a turn of calls with STOP, as any other.
            stop_reason="tool_use" if called else STOP_REASONS.get(finish_reason, finish_reason.lower()),
            provider_metadata=metadata,
        )
