"""Operator-configured MCP servers through the official `mcp` SDK: their tools offered beside the built-ins.

Configured by the operator, never by users: settings.MCP_SERVERS, from the MCP_SERVERS environment variable (or the
file MCP_SERVERS_FILE names), a JSON list of
    {"name": "files", "command": ["python", "server.py"], "env": {...}}       a stdio server, started per use
    {"name": "search", "url": "https://mcp.example.com/mcp"}                   a streamable HTTP server
with optional "risk" ("read_only", "low_risk"; anything else is "write") and "cost_per_call" (dollars, for the
approval policy's limits). The operator's word is the only one trusted for a tool's risk: a server's own
annotations are not.

A server that cannot be reached is shown as such on Settings → Tools, its tools are left out of replies, and a call
to it fails with a message: it never breaks a reply. Listings are kept LISTING_TTL_SECONDS per process. What a tool
returns is untrusted text: delimited and neutralised in the prompt (chatbot/tools/loop.py), escaped on screen.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import re
import threading
import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.conf import settings

from chatbot.tools.registry import LOW_RISK, READ_ONLY, WRITE, Tool, ToolContext, ToolFailed, ToolResult

logger = logging.getLogger(__name__)

LISTING_TTL_SECONDS = 60
CONNECT_TIMEOUT_SECONDS = 15.0  # a stdio server is a process to start: seconds on a busy machine
CALL_TIMEOUT_SECONDS = 25.0  # under the loop's own per-execution timeout
MAX_TOOLS_PER_SERVER = 50
_NAME = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True)
class ServerConfig:
    name: str
    command: tuple[str, ...] = ()
    env: dict | None = None
    url: str = ""
    risk: str = WRITE
    cost_per_call: Decimal = Decimal("0")

    def connect_target(self):
        from mcp import StdioServerParameters

        if self.url:
            return self.url
        return StdioServerParameters(command=self.command[0], args=list(self.command[1:]), env=self.env)


@dataclass(frozen=True)
class ServerStatus:
    name: str
    reachable: bool
    tool_count: int = 0
    error: str = ""


def _configs() -> list[ServerConfig]:
    raw = getattr(settings, "MCP_SERVERS", None) or []
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            logger.exception("MCP_SERVERS is not JSON: no MCP server is used")
            raw = []
    configs = []
    for entry in raw if isinstance(raw, list) else []:
        if not isinstance(entry, dict) or not entry.get("name"):
            continue
        command = entry.get("command") or ()
        command = tuple(command) if isinstance(command, list | tuple) else tuple(str(command).split())
        if not command and not entry.get("url"):
            continue
        try:
            cost = Decimal(str(entry.get("cost_per_call", "0")))
        except InvalidOperation:
            cost = Decimal("0")
        configs.append(
            ServerConfig(
                name=_NAME.sub("_", str(entry["name"]))[:24],
                command=command,
                env=entry.get("env") if isinstance(entry.get("env"), dict) else None,
                url=str(entry.get("url") or ""),
                risk=entry.get("risk") if entry.get("risk") in (READ_ONLY, LOW_RISK) else WRITE,
                cost_per_call=max(cost, Decimal("0")),
            )
        )
    return configs


def _run(coroutine):
    """A coroutine run to its end from synchronous code, on an event loop of its own in a thread of its own."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def _list(config: ServerConfig) -> list:
    from mcp import Client

    async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS), Client(config.connect_target()) as client:
        listing = await client.list_tools()
        return list(listing.tools)[:MAX_TOOLS_PER_SERVER]


_cache: dict[str, tuple[float, list[Tool], ServerStatus]] = {}
_lock = threading.Lock()


def _listing(config: ServerConfig) -> tuple[list[Tool], ServerStatus]:
    with _lock:
        cached = _cache.get(config.name)
        if cached and time.monotonic() - cached[0] < LISTING_TTL_SECONDS:
            return cached[1], cached[2]
    try:
        listed = _run(_list(config))
        tools = [_tool(config, item) for item in listed]
        status = ServerStatus(config.name, True, len(tools))
    except Exception as exc:  # unreachable, a timeout, a protocol error: the server is left out, nothing breaks
        logger.warning("MCP server %s is unreachable: %r", config.name, exc)
        tools, status = [], ServerStatus(config.name, False, error=type(exc).__name__)
    with _lock:
        _cache[config.name] = (time.monotonic(), tools, status)
    return tools, status


def forget_listings() -> None:
    with _lock:
        _cache.clear()


def mcp_tools() -> list[Tool]:
    """The tools of every reachable configured server."""
    return [tool for config in _configs() for tool in _listing(config)[0]]


def server_statuses() -> list[ServerStatus]:
    return [_listing(config)[1] for config in _configs()]


def _tool(config: ServerConfig, item) -> Tool:
    remote_name = str(item.name)
    schema = item.input_schema if isinstance(item.input_schema, dict) else {"type": "object", "properties": {}}

    def run(context: ToolContext, arguments: dict) -> ToolResult:
        return _call(config, remote_name, arguments)

    return Tool(
        name=f"{config.name}__{_NAME.sub('_', remote_name)}"[:64],
        label=f"{remote_name} ({config.name})",
        description=str(item.description or remote_name)[:1000],
        parameters=schema,
        risk=config.risk,
        run=run,
        estimated_cost=config.cost_per_call,
        source=config.name,
    )


def _text_of(result) -> str:
    parts = []
    for block in result.content or []:
        text = getattr(block, "text", None)
        parts.append(text if isinstance(text, str) else f"[{getattr(block, 'type', 'content')} not shown]")
    if not parts and getattr(result, "structured_content", None) is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False)[:20_000])
    return "\n".join(parts)


def _call(config: ServerConfig, name: str, arguments: dict) -> ToolResult:
    from mcp import Client

    async def call():
        async with asyncio.timeout(CALL_TIMEOUT_SECONDS), Client(config.connect_target()) as client:
            return await client.call_tool(name, arguments)

    try:
        result = _run(call())
    except Exception as exc:
        logger.warning("MCP call %s on %s failed: %r", name, config.name, exc)
        raise ToolFailed(f"The tool server {config.name} could not be reached or did not answer.") from exc
    text = _text_of(result)
    if result.is_error:
        raise ToolFailed(f"The tool server {config.name} reported an error: {text[:500]}")
    return ToolResult(text=text, untrusted=True, cost=config.cost_per_call or None)
