"""Operator-configured MCP servers through the official `mcp` SDK: their tools offered beside the built-ins.

Configured by the operator, never by users: settings.MCP_SERVERS, from the MCP_SERVERS environment variable (or the
file MCP_SERVERS_FILE names), a JSON list of
    {"name": "files", "command": ["python", "server.py"], "env": {...}}       a stdio server (a process of ours)
    {"name": "search", "url": "https://mcp.example.com/mcp"}                   a streamable HTTP server
with optional "risk" ("read_only", "low_risk"; anything else is "write") and "cost_per_call" (dollars, for the
approval policy's limits). The operator's word is the only one trusted for a tool's risk: a server's own
annotations are not.

A server that cannot be reached is shown as such on Settings → Tools, its tools are left out of replies, and a call
to it fails with a message: it never breaks a reply. Listings are kept LISTING_TTL_SECONDS per process. What a tool
returns is untrusted text: delimited and neutralised in the prompt (chatbot/tools/loop.py), escaped on screen.

Sessions stay open (_Sessions): a stdio server is a process whose start (an interpreter, its imports, the
handshake) cost about a second per call when each call started its own. Each process keeps one session per
server on an event loop thread of its own, probed before each use with a listing (a server that died since is
started again before the call, never after it: a call is never sent twice), and closed after a call that failed,
timed out or was abandoned, so that a server stuck in a tool does not hold the next call.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.conf import settings

from chatbot.tools.registry import LOW_RISK, READ_ONLY, WRITE, Tool, ToolContext, ToolFailed, ToolResult

logger = logging.getLogger(__name__)

LISTING_TTL_SECONDS = 60
CONNECT_TIMEOUT_SECONDS = 15.0  # a stdio server is a process to start: seconds on a busy machine
CALL_TIMEOUT_SECONDS = 25.0  # under the loop's own per-execution timeout
PROBE_TIMEOUT_SECONDS = 2.0
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


class _Held:
    """One open session: a task holds the SDK's Client open (its context must be left by the task that entered it)
    until `stop` is set."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.client = None
        self.stop = asyncio.Event()
        self.task: asyncio.Task | None = None

    async def open(self) -> None:
        from mcp import Client

        ready = asyncio.get_running_loop().create_future()

        async def hold() -> None:
            try:
                async with Client(self.config.connect_target()) as client:
                    self.client = client
                    ready.set_result(None)
                    await self.stop.wait()
            except BaseException as exc:
                if not ready.done():
                    ready.set_exception(exc)
                elif not isinstance(exc, asyncio.CancelledError):
                    logger.warning("MCP session with %s ended: %r", self.config.name, exc)

        self.task = asyncio.create_task(hold())
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS):
                await asyncio.shield(ready)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        self.stop.set()
        if self.task is not None and not self.task.done():
            try:
                async with asyncio.timeout(5):
                    await asyncio.shield(self.task)
            except (TimeoutError, Exception):
                self.task.cancel()


class _Sessions:
    """The process's open sessions, on an event loop thread of their own (calls come from worker threads)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.held: dict[str, _Held] = {}  # only touched on self.loop
        self.locks: dict[str, asyncio.Lock] = {}
        threading.Thread(target=self.loop.run_forever, name="mcp-sessions", daemon=True).start()

    def run(self, config: ServerConfig, use: Callable[[object], Awaitable], timeout: float):
        """`use(client)` on the server's session, from synchronous code; its result, or what it raised."""
        return asyncio.run_coroutine_threadsafe(self._use(config, use, timeout), self.loop).result()

    async def _use(self, config: ServerConfig, use, timeout: float):
        held = await self._session(config)
        try:
            async with asyncio.timeout(timeout):
                return await use(held.client)
        except BaseException:
            # Failed, timed out or abandoned: the server may be stuck in it; the next call gets a fresh one.
            await self._drop(config.name, held)
            raise

    async def _session(self, config: ServerConfig) -> _Held:
        async with self.locks.setdefault(config.name, asyncio.Lock()):
            held = self.held.get(config.name)
            if held is not None and held.config == config and held.task is not None and not held.task.done():
                try:
                    # A request with no effect (MCP's ping is gone from the protocol): the listing, not from cache.
                    async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
                        await held.client.list_tools(cache_mode="bypass")
                    return held
                except Exception as exc:  # gone since its last use: started again below, before the call is sent
                    logger.info("MCP server %s did not answer (%r): starting it again", config.name, exc)
            if held is not None:
                await self._drop(config.name, held)
            held = _Held(config)
            await held.open()
            self.held[config.name] = held
            return held

    async def _drop(self, name: str, held: _Held) -> None:
        if self.held.get(name) is held:
            del self.held[name]
        await held.close()

    def close_all(self) -> None:
        async def close() -> None:
            for name, held in list(self.held.items()):
                await self._drop(name, held)

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(timeout=30)


_sessions: _Sessions | None = None
_sessions_lock = threading.Lock()


def _open_sessions() -> _Sessions:
    """This process's sessions (a forked child, a Celery worker, starts its own: threads do not survive a fork)."""
    global _sessions
    with _sessions_lock:
        if _sessions is None or _sessions.pid != os.getpid():
            _sessions = _Sessions()
        return _sessions


def _list(config: ServerConfig) -> list:
    async def listed(client) -> list:
        listing = await client.list_tools()
        return list(listing.tools)[:MAX_TOOLS_PER_SERVER]

    return _open_sessions().run(config, listed, CONNECT_TIMEOUT_SECONDS)


_cache: dict[str, tuple[float, list[Tool], ServerStatus]] = {}
_lock = threading.Lock()


def _listing(config: ServerConfig) -> tuple[list[Tool], ServerStatus]:
    with _lock:
        cached = _cache.get(config.name)
        if cached and time.monotonic() - cached[0] < LISTING_TTL_SECONDS:
            return cached[1], cached[2]
    try:
        listed = _list(config)
        tools = [_tool(config, item) for item in listed]
        status = ServerStatus(config.name, True, len(tools))
    except Exception as exc:  # unreachable, a timeout, a protocol error: the server is left out, nothing breaks
        logger.warning("MCP server %s is unreachable: %r", config.name, exc)
        tools, status = [], ServerStatus(config.name, False, error=type(exc).__name__)
    with _lock:
        _cache[config.name] = (time.monotonic(), tools, status)
    return tools, status


def forget_listings() -> None:
    """Forget the listings (and close the sessions): the configuration may have changed."""
    with _lock:
        _cache.clear()
    if _sessions is not None and _sessions.pid == os.getpid():
        _sessions.close_all()


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
    async def call(client):
        return await client.call_tool(name, arguments)

    try:
        result = _open_sessions().run(config, call, CALL_TIMEOUT_SECONDS)
    except Exception as exc:
        logger.warning("MCP call %s on %s failed: %r", name, config.name, exc)
        raise ToolFailed(f"The tool server {config.name} could not be reached or did not answer.") from exc
    text = _text_of(result)
    if result.is_error:
        raise ToolFailed(f"The tool server {config.name} reported an error: {text[:500]}")
    return ToolResult(text=text, untrusted=True, cost=config.cost_per_call or None)
