"""Checking that an API key works, for every provider: one cheap authenticated call (listing models).

Runs from a synchronous view, on an event loop of its own in a thread of its own (never the server's loop, whose
shared connection pools stay untouched), with HTTP clients made for the check and closed after it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from dataclasses import dataclass, field

import aiohttp
import anthropic
import httpx2
import openai
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from chatbot.llm.anthropic import error_from as anthropic_error
from chatbot.llm.base import ProviderError
from chatbot.llm.catalog import PROVIDERS
from chatbot.llm.google import error_from as google_error
from chatbot.llm.http import new_sdk_http_client, new_session, ssl_context
from chatbot.llm.openai import error_from as openai_error

TIMEOUT = 10.0
MAX_MODELS = 100


@dataclass(frozen=True)
class KeyCheck:
    ok: bool
    message: str
    models: list[str] = field(default_factory=list)  # what the endpoint lists (kept for custom endpoints)


def _outcome(label: str, error: ProviderError) -> KeyCheck:
    if error.kind == ProviderError.AUTHENTICATION:
        why = "API key not valid" if label == "Google" else "401"  # Google answers a bad key with a 400
        advice = "Check that it was copied whole and is still active."
        return KeyCheck(False, f"{label} rejected this key ({why}). {advice}")
    if error.kind == ProviderError.RATE_LIMITED:
        return KeyCheck(True, f"The key is valid, but {label} is rate limiting it right now.")
    if error.kind == ProviderError.BASE_URL_REFUSED:
        return KeyCheck(False, error.user_message)
    if error.kind == ProviderError.NETWORK:
        return KeyCheck(False, f"Could not reach {label} to test the key. Try again later.")
    return KeyCheck(False, f"{label} answered with an error while testing the key: {error.detail[:300]}")


async def _anthropic(api_key: str, base_url: str | None, guarded: bool) -> list[str]:
    http = new_sdk_http_client(anthropic, guarded=guarded)
    try:
        client = anthropic.AsyncAnthropic(
            api_key=api_key, base_url=base_url, max_retries=0, timeout=TIMEOUT, http_client=http
        )
        page = await client.models.list(limit=MAX_MODELS)
        return [model.id for model in page.data]
    finally:
        await http.aclose()


async def _openai(api_key: str, base_url: str | None, guarded: bool) -> list[str]:
    http = new_sdk_http_client(openai, guarded=guarded)
    try:
        client = openai.AsyncOpenAI(
            api_key=api_key, base_url=base_url, max_retries=0, timeout=TIMEOUT, http_client=http
        )
        page = await client.models.list()
        return [model.id for model in page.data][:MAX_MODELS]
    finally:
        await http.aclose()


async def _google(api_key: str, base_url: str | None, guarded: bool) -> list[str]:
    session = new_session(guarded=guarded)
    try:
        options = types.HttpOptions(
            base_url=base_url,
            timeout=int(TIMEOUT * 1000),
            retry_options=types.HttpRetryOptions(attempts=1),
            aiohttp_client=session,
            async_client_args={"ssl": ssl_context(), "allow_redirects": not guarded},
            client_args={"verify": ssl_context()},
        )
        client = genai.Client(api_key=api_key, http_options=options)
        pager = await client.aio.models.list(config={"page_size": MAX_MODELS})
        return [str(model.name).removeprefix("models/") for model in pager.page][:MAX_MODELS]
    finally:
        await session.close()


async def _check(protocol: str, api_key: str, base_url: str | None, guarded: bool) -> list[str]:
    if protocol == "anthropic":
        return await _anthropic(api_key, base_url, guarded)
    if protocol == "google":
        return await _google(api_key, base_url, guarded)
    return await _openai(api_key, base_url, guarded)


def verify_key(*, provider: str, api_key: str, base_url: str | None, user_base_url: bool) -> KeyCheck:
    """Whether the provider accepts the key (and the models it lists); never raises.

    `user_base_url`: the base URL was typed by the user (already checked by netpolicy): reached guarded.
    """
    spec = PROVIDERS[provider]
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            models = pool.submit(asyncio.run, _check(spec.protocol, api_key, base_url, user_base_url)).result()
    except anthropic.AnthropicError as exc:
        return _outcome(spec.label, anthropic_error(exc))
    except openai.OpenAIError as exc:
        return _outcome(spec.label, openai_error(exc, provider=provider))
    except (genai_errors.APIError, genai_errors.UnknownApiResponseError, aiohttp.ClientError, TimeoutError) as exc:
        return _outcome(spec.label, google_error(exc))
    except httpx2.HTTPError as exc:
        return _outcome(spec.label, ProviderError(ProviderError.NETWORK, str(exc)))
    message = "The key works." if spec.needs_key or api_key not in {"", "none"} else "The server answers."
    if user_base_url and models:
        shown = ", ".join(models[:5]) + (", …" if len(models) > 5 else "")
        message += f" It lists {len(models)} model{'s' if len(models) != 1 else ''} ({shown}), offered in the chat."
    return KeyCheck(True, message, models)
