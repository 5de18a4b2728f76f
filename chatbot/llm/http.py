"""The HTTP connections the provider SDKs share: one pool per event loop, trusted or guarded.

Building a client per reply would build its TLS context per reply (milliseconds each), so each event loop keeps
its pools (chatbot/loops.py) and `conversations.generation.shutdown` closes them. Two kinds:

- trusted, for the operator's endpoints (the SDKs' defaults and the *_BASE_URL settings);
- guarded, for base URLs typed by users: names are resolved through `netpolicy.GuardedResolver` (an address
  users may not reach is refused as the connection is made) and redirects are never followed.
"""

from __future__ import annotations

import ssl
from collections import OrderedDict

import aiohttp
import anthropic
import openai
from openai._vendor.httpx_aiohttp import AiohttpTransport  # the SDK's own aiohttp transport, given our session

from chatbot.loops import loop_singleton, loop_singleton_pop, on_loop_end
from chatbot.netpolicy import GuardedResolver

# Gemini's SDK reads a streamed line whole; a long one must fit (the SDK's own session uses the same size).
READ_BUFFER_SIZE = 2**22
_ssl_context: ssl.SSLContext | None = None


def ssl_context() -> ssl.SSLContext:
    """One TLS context for the process: creating one loads the CA bundle (milliseconds)."""
    global _ssl_context
    if _ssl_context is None:
        _ssl_context = ssl.create_default_context()
    return _ssl_context


def new_session(*, guarded: bool) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(
        limit=1000, ssl=ssl_context(), resolver=GuardedResolver() if guarded else None, keepalive_timeout=30
    )
    return aiohttp.ClientSession(connector=connector, read_bufsize=READ_BUFFER_SIZE)


def new_sdk_http_client(sdk, *, guarded: bool):
    """An HTTP client for the openai or anthropic SDK (`sdk`: the module); guarded, it connects through a guarded
    aiohttp session of its own and follows no redirect."""
    if not guarded:
        return sdk.DefaultAioHttpClient()
    transport = AiohttpTransport(client=lambda: new_session(guarded=True))  # made on first use, in the loop
    return sdk.DefaultAioHttpClient(transport=transport, follow_redirects=False)


def aiohttp_session(*, guarded: bool) -> aiohttp.ClientSession:
    """This loop's aiohttp session (Gemini's SDK takes one as it is)."""
    on_loop_end(close_http_clients)
    return loop_singleton(f"llm-aiohttp-{'guarded' if guarded else 'trusted'}", lambda: new_session(guarded=guarded))


def openai_http_client(*, guarded: bool) -> openai.DefaultAioHttpClient:
    name = "openai-http-client-guarded" if guarded else "openai-http-client"
    on_loop_end(close_http_clients)
    return loop_singleton(name, lambda: new_sdk_http_client(openai, guarded=guarded))


def anthropic_http_client(*, guarded: bool) -> anthropic.DefaultAioHttpClient:
    name = "anthropic-http-client-guarded" if guarded else "anthropic-http-client"
    on_loop_end(close_http_clients)
    return loop_singleton(name, lambda: new_sdk_http_client(anthropic, guarded=guarded))


# SDK clients kept per event loop, the least recently used dropped past this many (they share the loop's pools, so
# a dropped one has nothing to close).
SDK_CLIENTS_PER_LOOP = 256


def sdk_client(sdk: str, *, api_key: str, base_url: str | None, guarded: bool, timeout: float):
    """This loop's client of the `sdk` ("openai" or "anthropic") for a key and endpoint, reused from reply to reply.

    A new client works out its platform headers on its first request in a worker thread (the SDKs'
    `asyncify(get_platform)`): one thread hop per reply, queued at a burst behind the replies' database work in the
    loop's default executor, before the provider's request could go out.
    """
    clients: OrderedDict = loop_singleton("llm-sdk-clients", OrderedDict)
    key = (sdk, api_key, base_url, guarded, timeout)
    client = clients.get(key)
    if client is not None:
        clients.move_to_end(key)
        return client
    client_class, http_client = {
        "openai": (openai.AsyncOpenAI, openai_http_client),
        "anthropic": (anthropic.AsyncAnthropic, anthropic_http_client),
    }[sdk]
    client = clients[key] = client_class(
        api_key=api_key,
        base_url=base_url,
        max_retries=0,  # a retry after text has streamed would duplicate it; the user has a Retry button
        timeout=timeout,
        http_client=http_client(guarded=guarded),
    )
    if len(clients) > SDK_CLIENTS_PER_LOOP:
        clients.popitem(last=False)
    return client


async def close_http_clients() -> None:
    """Close this loop's pools (at server shutdown: aiohttp complains about sessions left open)."""
    loop_singleton_pop("llm-sdk-clients")
    for name in ("openai-http-client", "openai-http-client-guarded", "anthropic-http-client",
                 "anthropic-http-client-guarded"):  # fmt: skip
        client = loop_singleton_pop(name)
        if client is not None:
            await client.aclose()
    for name in ("llm-aiohttp-trusted", "llm-aiohttp-guarded"):
        session = loop_singleton_pop(name)
        if session is not None:
            await session.close()
