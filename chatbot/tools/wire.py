"""Tools on the wire: what each provider protocol is sent (definitions, earlier rounds) and how the calls it
streams back are put together (Anthropic `input_json_delta` pieces; OpenAI `tool_calls` deltas; Gemini's
`functionCall` parts, whole in one chunk)."""

from __future__ import annotations

import base64
import json
import uuid

from chatbot.llm.base import ChatRequest, ToolCall

LOCAL_CALL_ID = "local-"  # an id given here to a Gemini call that came without one (never sent back)


def _parsed(raw: str) -> dict | None:
    try:
        value = json.loads(raw) if raw.strip() else {}
    except (json.JSONDecodeError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


# --- Anthropic Messages API --------------------------------------------------------------------------------------


def anthropic_tool_params(request: ChatRequest, messages: list[dict]) -> dict:
    """`tools` and the messages with the rounds so far appended (assistant tool_use, then user tool_result)."""
    if not request.tools and not request.tool_rounds:
        return {}
    messages = list(messages)
    for round_ in request.tool_rounds:
        content: list[dict] = [{"type": "text", "text": round_.text}] if round_.text.strip() else []
        content += [
            {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments or {}}
            for call in round_.calls
        ]
        messages.append({"role": "assistant", "content": content})
        messages.append({
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": out.call_id, "content": out.content, "is_error": out.is_error}
                for out in round_.outputs
            ],
        })  # fmt: skip
    params: dict = {"messages": messages}
    if request.tools:
        params["tools"] = [
            {"name": tool["name"], "description": tool["description"], "input_schema": tool["parameters"]}
            for tool in request.tools
        ]
    return params


class AnthropicToolCalls:
    """Collects tool_use blocks from the raw event stream; `read` returns a call when its block ends."""

    def __init__(self) -> None:
        self.blocks: dict[int, dict] = {}

    def read(self, event) -> ToolCall | None:
        if event.type == "content_block_start" and getattr(event.content_block, "type", "") == "tool_use":
            block = event.content_block
            self.blocks[event.index] = {"id": block.id, "name": block.name, "parts": []}
        elif event.type == "content_block_delta" and getattr(event.delta, "type", "") == "input_json_delta":
            if event.index in self.blocks:
                self.blocks[event.index]["parts"].append(event.delta.partial_json)
        elif event.type == "content_block_stop" and event.index in self.blocks:
            block = self.blocks.pop(event.index)
            raw = "".join(block["parts"])
            return ToolCall(id=block["id"], name=block["name"], arguments=_parsed(raw), raw_arguments=raw)
        return None


# --- OpenAI chat completions ---------------------------------------------------------------------------------------


def openai_tool_params(request: ChatRequest, messages: list[dict]) -> dict:
    if not request.tools and not request.tool_rounds:
        return {}
    messages = list(messages)
    for round_ in request.tool_rounds:
        messages.append({
            "role": "assistant",
            "content": round_.text or None,
            "tool_calls": [
                {"id": call.id, "type": "function",
                 "function": {"name": call.name, "arguments": json.dumps(call.arguments or {})}}
                for call in round_.calls
            ],
        })  # fmt: skip
        messages += [{"role": "tool", "tool_call_id": out.call_id, "content": out.content} for out in round_.outputs]
    params: dict = {"messages": messages}
    if request.tools:
        params["tools"] = [{"type": "function", "function": dict(tool)} for tool in request.tools]
    return params


class OpenAIToolCalls:
    """Collects `tool_calls` deltas (by index: the id and name come first, the arguments in pieces after)."""

    def __init__(self) -> None:
        self.calls: dict[int, dict] = {}

    def add(self, chunk) -> None:
        try:
            choices = chunk.get("choices") or []
            delta = (choices[0].get("delta") or {}) if choices else {}
            pieces = delta.get("tool_calls") or []
        except (AttributeError, TypeError, IndexError):
            return  # the chunk's own reading reports a malformed chunk
        for piece in pieces if isinstance(pieces, list) else ():
            if not isinstance(piece, dict):
                continue
            call = self.calls.setdefault(int(piece.get("index", 0) or 0), {"id": "", "name": "", "parts": []})
            function = piece.get("function") or {}
            if piece.get("id"):
                call["id"] = str(piece["id"])
            if function.get("name"):
                call["name"] += str(function["name"])
            if isinstance(function.get("arguments"), str):
                call["parts"].append(function["arguments"])

    def finish(self) -> list[ToolCall]:
        calls = []
        for index in sorted(self.calls):
            call = self.calls[index]
            raw = "".join(call["parts"])
            calls.append(ToolCall(id=call["id"] or f"call_{index}", name=call["name"], arguments=_parsed(raw),
                                  raw_arguments=raw))  # fmt: skip
        return calls


# --- Gemini generate_content (google-genai) ------------------------------------------------------------------------


def gemini_tool_contents(request: ChatRequest) -> list:
    """The rounds so far as contents: the model's turn (its text, then its calls, each with its thought signature),
    then a user turn with each call's response (a result, or an error)."""
    from google.genai import types

    contents = []
    for round_ in request.tool_rounds:
        parts = [types.Part(text=round_.text)] if round_.text.strip() else []
        for call in round_.calls:
            parts.append(
                types.Part(
                    function_call=types.FunctionCall(
                        id=None if call.id.startswith(LOCAL_CALL_ID) else call.id,
                        name=call.name,
                        args=call.arguments or {},
                    ),
                    thought_signature=base64.b64decode(call.signature) if call.signature else None,
                )
            )
        contents.append(types.Content(role="model", parts=parts))
        names = {call.id: call.name for call in round_.calls}
        contents.append(
            types.Content(
                role="user",
                parts=[
                    types.Part(
                        function_response=types.FunctionResponse(
                            id=None if out.call_id.startswith(LOCAL_CALL_ID) else out.call_id,
                            name=names.get(out.call_id, ""),
                            response={"error": out.content} if out.is_error else {"result": out.content},
                        )
                    )
                    for out in round_.outputs
                ],
            )
        )
    return contents


def gemini_tools(request: ChatRequest) -> list | None:
    from google.genai import types

    if not request.tools:
        return None
    declarations = [
        types.FunctionDeclaration(
            name=tool["name"], description=tool["description"], parameters_json_schema=tool["parameters"]
        )
        for tool in request.tools
    ]
    return [types.Tool(function_declarations=declarations)]


def gemini_tool_call(part) -> ToolCall:
    """A functionCall part as a call (Gemini sends its arguments as an object, whole)."""
    call = part.function_call
    arguments = call.args if isinstance(call.args, dict) else None
    signature = base64.b64encode(part.thought_signature).decode() if part.thought_signature else ""
    return ToolCall(
        id=call.id or f"{LOCAL_CALL_ID}{uuid.uuid4().hex[:16]}",
        name=call.name or "",
        arguments=arguments,
        raw_arguments=json.dumps(call.args, default=str) if call.args is not None else "",
        signature=signature,
    )
