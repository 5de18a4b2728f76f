"""What a tool is, and the tools a user's replies may call (built-ins, then the operator's MCP servers)."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

READ_ONLY = "read_only"
LOW_RISK = "low_risk"
WRITE = "write"
RISK_LABELS = {READ_ONLY: "Read-only", LOW_RISK: "Low risk", WRITE: "Writes"}

# What the model may send as one call's arguments: far above any honest call, small enough to store and show.
MAX_ARGUMENTS_CHARS = 100_000


class ToolFailed(Exception):
    """A call that cannot be carried out; the message is for the model and the user (no internals)."""


@dataclass
class ToolContext:
    user: object  # accounts.models.User
    conversation_id: uuid.UUID | None = None
    # The number the first passage a search returns gets: the reply's sources go on from the ones it has.
    next_source_number: int = 1


@dataclass(frozen=True)
class ToolResult:
    text: str  # what the model reads
    sources: tuple = ()  # documents.retrieval.Source, cited [n] like the retrieved ones
    cost: Decimal | None = None  # dollars, when the call paid for something (a model call)
    untrusted: bool = False  # from outside the app (an MCP server): delimited in the prompt, sanitised on screen


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict  # a JSON schema of the arguments (type object)
    risk: str
    run: Callable[[ToolContext, dict], ToolResult] = field(repr=False, compare=False)
    estimated_cost: Decimal = Decimal("0")
    source: str = "built-in"  # or the MCP server's name
    label: str = ""

    @property
    def risk_label(self) -> str:
        return RISK_LABELS.get(self.risk, self.risk)

    def schema(self) -> dict:
        """What a provider is told about the tool."""
        return {"name": self.name, "description": self.description, "parameters": self.parameters}


def arguments_hash(arguments: dict) -> str:
    """The fingerprint an approval is bound to: the same arguments in any key order give the same hash."""
    canonical = json.dumps(arguments, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


_TYPES = {"string": str, "integer": int, "number": (int, float), "boolean": bool, "object": dict, "array": list}


def validate_arguments(tool: Tool, arguments: object) -> dict:
    """The arguments if they fit the tool's schema (required names, simple types); ToolFailed otherwise."""
    if not isinstance(arguments, dict):
        raise ToolFailed("The arguments must be a JSON object.")
    if len(json.dumps(arguments, ensure_ascii=False)) > MAX_ARGUMENTS_CHARS:
        raise ToolFailed("The arguments are too long.")
    properties = tool.parameters.get("properties", {})
    for name in tool.parameters.get("required", []):
        if name not in arguments:
            raise ToolFailed(f"Missing argument: {name}.")
    for name, value in arguments.items():
        expected = _TYPES.get(properties.get(name, {}).get("type", ""))
        if name not in properties:
            if tool.parameters.get("additionalProperties", True) is False:
                raise ToolFailed(f"Unknown argument: {name}.")
            continue
        wrong_bool = isinstance(value, bool) and expected is not bool
        if expected is not None and (not isinstance(value, expected) or wrong_bool):
            raise ToolFailed(f"Argument {name} must be of type {properties[name]['type']}.")
    return arguments


def builtin_tools() -> dict[str, Tool]:
    from chatbot.tools.builtin import BUILTIN_TOOLS

    return {tool.name: tool for tool in BUILTIN_TOOLS}


def available_tools(*, include_mcp: bool = True) -> dict[str, Tool]:
    """Every tool a reply may be offered: the built-ins and the tools the operator's reachable MCP servers list."""
    tools = builtin_tools()
    if include_mcp:
        from chatbot.tools.mcp import mcp_tools

        for tool in mcp_tools():
            tools.setdefault(tool.name, tool)  # a server cannot shadow a built-in
    return tools
