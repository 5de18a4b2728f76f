"""The client for a provider of the catalogue, and a whole reply for callers outside the event loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
from dataclasses import dataclass

from chatbot.llm.base import ChatRequest, Finished, Provider, TextDelta
from chatbot.llm.catalog import ProviderSpec

# The SDKs take seconds to import (anthropic's types alone 1-2 s), and every process that loads the URLconf would
# pay for them: each `manage.py` command (its system checks), the test suite's subprocesses. They are imported by
# the first reply instead, and by the web server before it serves (`import_provider_sdks`, chatbot/asgi.py).


def import_provider_sdks() -> None:
    """Import every provider's module (and with it its SDK) now: a server does this before serving, so no reply
    waits on an import and the modules are frozen out of garbage collection with the rest."""
    import chatbot.llm.anthropic
    import chatbot.llm.google
    import chatbot.llm.keys
    import chatbot.llm.openai  # noqa: F401


def provider_for(spec: ProviderSpec, *, api_key: str, base_url: str | None, user_base_url: bool) -> Provider:
    """The client of `spec`'s protocol, with these credentials (`user_base_url`: typed by the user, so reached
    only through the guarded connections)."""
    common = {"api_key": api_key, "base_url": base_url, "user_base_url": user_base_url}
    if spec.protocol == "anthropic":
        from chatbot.llm.anthropic import AnthropicProvider

        return AnthropicProvider(**common)
    if spec.protocol == "google":
        from chatbot.llm.google import GoogleProvider

        return GoogleProvider(**common)
    from chatbot.llm.openai import OpenAICompatibleProvider

    return OpenAICompatibleProvider(
        name=spec.name,
        label=spec.label,
        stream_usage_option=spec.stream_usage_option,
        token_limit_param=spec.token_limit_param,
        **common,
    )


@dataclass(frozen=True)
class Completion:
    text: str
    input_tokens: int | None = None
    output_tokens: int | None = None


async def complete(provider: Provider, request: ChatRequest) -> Completion:
    """The whole reply and its usage, on the caller's event loop (a title after a reply); raises ProviderError."""
    parts: list[str] = []
    finished: Finished | None = None
    async for event in provider.stream(request):
        if isinstance(event, TextDelta):
            parts.append(event.text)
        elif isinstance(event, Finished):
            finished = event
    return Completion(
        text="".join(parts),
        input_tokens=finished.input_tokens if finished else None,
        output_tokens=finished.output_tokens if finished else None,
    )


def complete_text(provider: Provider, request: ChatRequest) -> str:
    """The whole reply, for synchronous code (a view, a Celery task); raises ProviderError like `stream`."""
    return complete_sync(provider, request).text


def complete_sync(provider: Provider, request: ChatRequest) -> Completion:
    """The whole reply and its usage, for synchronous code; raises ProviderError like `stream`.

    On an event loop of its own, in a thread of its own: never the server's loop, and the connection pools made
    for it are closed with it.
    """
    from chatbot.llm.http import close_http_clients

    async def collect() -> Completion:
        try:
            return await complete(provider, request)
        finally:
            await close_http_clients()

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, collect()).result()
