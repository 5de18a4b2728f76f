"""MCP tool calls to a stdio server: the app's kept session against a session opened per call (the SDK's Client
entered and left around each call, as the app did before).

    .venv/bin/python bench/mcp_calls.py [--calls 20]

The server is tests/fake_mcp_server.py (a real MCP server on the official SDK); each call is its `add` tool.
Prints the first call (the app starts the server and lists its tools) and the median and p95 of the rest, for
both. Printed, not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time

from common import BASE_DIR

SERVER = [sys.executable, str(BASE_DIR / "tests" / "fake_mcp_server.py")]


def summary(label: str, times: list[float]) -> None:
    rest = sorted(times[1:])
    p95 = rest[min(len(rest) - 1, int(0.95 * len(rest)))]
    print(f"{label:<40} first {times[0]:7.0f} ms   median {statistics.median(rest):7.1f} ms   p95 {p95:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbot.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.conf import settings
    from mcp import Client, StdioServerParameters

    from chatbot.tools import mcp
    from chatbot.tools.registry import ToolContext, available_tools

    settings.MCP_SERVERS = [{"name": "fake", "command": SERVER}]
    mcp.forget_listings()
    context = ToolContext(user=None)
    kept = []
    for number in range(args.calls):
        started = time.perf_counter()
        available_tools()["fake__add"].run(context, {"a": number, "b": 1})
        kept.append(1000 * (time.perf_counter() - started))

    async def one_session_per_call(number: int) -> None:
        async with Client(StdioServerParameters(command=SERVER[0], args=SERVER[1:])) as client:
            await client.call_tool("add", {"a": number, "b": 1})

    per_call = []
    for number in range(args.calls):
        started = time.perf_counter()
        asyncio.run(one_session_per_call(number))
        per_call.append(1000 * (time.perf_counter() - started))
    print(f"{args.calls} calls each; load average {os.getloadavg()[0]:.1f}")
    summary("the app (one session kept per server)", kept)
    summary("a session opened per call (before)", per_call)
    mcp.forget_listings()


if __name__ == "__main__":
    main()
