"""Operator-configured MCP servers (filled in by slice 4)."""

from __future__ import annotations


def mcp_tools() -> list:
    return []


def server_statuses() -> list:
    return []
