"""Tool calls in the fakes' real streaming protocols (issue 15).

A fake's `tool_script` is a list of steps, one per reply request (title calls excepted), each a dict:
  text   the text streamed first: a string, or a function of the request body (to answer from a tool result)
  calls  [{"name": ..., "input": {...}}, ...]: tool calls streamed after the text, their JSON arguments in pieces
         (Anthropic `input_json_delta`; OpenAI `tool_calls` deltas; Gemini: whole `functionCall` parts, each
         with a thought signature), the stop reason then tool_use / tool_calls (Gemini: STOP)
  delay  seconds before the step's first event (the benchmark's provider latency)
An empty script: the fake answers as it always did.
"""

from __future__ import annotations

import json
import time
import uuid


def _pieces(text: str, size: int = 7) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _text(step: dict, body: dict) -> str:
    text = step.get("text", "")
    return text(body) if callable(text) else text


def last_tool_results(body: dict) -> list[str]:
    """The tool results of the request's last turn, in any of the three protocols."""
    if "contents" in body:  # Gemini: functionResponse parts of the last (user) turn
        parts = (body["contents"][-1] if body["contents"] else {}).get("parts", [])
        responses = [p.get("functionResponse") or p.get("function_response") for p in parts if isinstance(p, dict)]
        return [
            str(r["response"].get("result", r["response"].get("error", "")))
            for r in responses
            if r and isinstance(r.get("response"), dict)
        ]
    messages = body.get("messages", [])
    results = [m.get("content", "") for m in messages if m.get("role") == "tool"]  # OpenAI: one message each
    if messages and isinstance(messages[-1].get("content"), list):  # Anthropic: tool_result blocks
        blocks = [b for b in messages[-1]["content"] if isinstance(b, dict) and b.get("type") == "tool_result"]
        if blocks:
            return [
                b.get("content", "") if isinstance(b.get("content"), str) else json.dumps(b["content"]) for b in blocks
            ]
    tail = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        tail.insert(0, message.get("content", ""))
    return tail or results[-1:]


def _open_stream(handler, step: dict, content_type: str = "text/event-stream") -> None:
    """The step's delay, then a chunked event stream's headers."""
    time.sleep(step.get("delay", 0))
    handler.send_response(200)
    handler.send_header("content-type", content_type)
    handler.send_header("transfer-encoding", "chunked")
    handler.end_headers()


def stream_anthropic_step(handler, body: dict, step: dict) -> None:
    _open_stream(handler, step)
    text, calls = _text(step, body), step.get("calls", [])
    event = handler._event
    usage = {"input_tokens": 40 + len(json.dumps(body.get("messages", []))) // 4, "output_tokens": 1}
    event("message_start", {"type": "message_start", "message": {
        "id": f"msg_{uuid.uuid4().hex[:24]}", "type": "message", "role": "assistant", "content": [],
        "model": body.get("model", ""), "stop_reason": None, "stop_sequence": None, "usage": usage}})  # fmt: skip
    index = 0
    if text:
        event(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        )
        for piece in text.split(" "):
            delta = {"type": "text_delta", "text": piece if piece == text.split(" ")[0] else " " + piece}
            event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
        event("content_block_stop", {"type": "content_block_stop", "index": 0})
        index = 1
    for number, call in enumerate(calls, start=index):
        block = {"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:20]}", "name": call["name"], "input": {}}
        event("content_block_start", {"type": "content_block_start", "index": number, "content_block": block})
        for piece in _pieces(json.dumps(call.get("input", {}))):
            delta = {"type": "input_json_delta", "partial_json": piece}
            event("content_block_delta", {"type": "content_block_delta", "index": number, "delta": delta})
        event("content_block_stop", {"type": "content_block_stop", "index": number})
    stop = "tool_use" if calls else "end_turn"
    event("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                            "usage": {"output_tokens": 10 + len(text.split()) + 20 * len(calls)}})  # fmt: skip
    event("message_stop", {"type": "message_stop"})
    handler.wfile.write(b"0\r\n\r\n")


def stream_openai_step(handler, body: dict, step: dict) -> None:
    _open_stream(handler, step, "text/event-stream; charset=utf-8")
    text, calls = _text(step, body), step.get("calls", [])
    completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"

    def chunk(delta: dict | None, finish: str | None = None, usage: dict | None = None) -> None:
        choices = [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        payload = {"id": completion_id, "object": "chat.completion.chunk", "created": int(time.time()),
                   "model": body.get("model", ""), "choices": choices}  # fmt: skip
        if usage is not None:
            payload["usage"] = usage
        handler._send(json.dumps(payload))

    chunk({"role": "assistant", "content": ""})
    for piece in text.split(" ") if text else ():
        chunk({"content": piece if piece == text.split(" ")[0] else " " + piece})
    for index, call in enumerate(calls):
        first = {"index": index, "id": f"call_{uuid.uuid4().hex[:20]}", "type": "function",
                 "function": {"name": call["name"], "arguments": ""}}  # fmt: skip
        chunk({"tool_calls": [first]})
        for piece in _pieces(json.dumps(call.get("input", {}))):
            chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    chunk({}, "tool_calls" if calls else "stop")
    if (body.get("stream_options") or {}).get("include_usage"):
        prompt = 40 + len(json.dumps(body.get("messages", []))) // 4
        completion = 10 + len(text.split()) + 20 * len(calls)
        chunk(
            None, usage={"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
        )
    handler._send("[DONE]")
    handler.wfile.write(b"0\r\n\r\n")


# Gemini's thinking models sign each function call; a request that sends a call back without its signature is
# refused, as the real API refuses it. The fake remembers the signatures it gave.
GEMINI_SIGNATURES: dict[str, bytes] = {}


def gemini_missing_signature(body: dict) -> bool:
    for content in body.get("contents", []):
        for part in content.get("parts", []) if content.get("role") == "model" else ():
            call = part.get("functionCall") or part.get("function_call")
            if call is None:
                continue
            signature = part.get("thoughtSignature") or part.get("thought_signature") or ""
            if GEMINI_SIGNATURES.get(call.get("id", "")) != _signature_bytes(signature):
                return True
    return False


def _signature_bytes(text: str) -> bytes:
    """Bytes in proto JSON are base64 in either alphabet (the SDK sends the URL-safe one)."""
    import base64

    return base64.b64decode(text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4))


def stream_gemini_step(handler, body: dict, step: dict, model: str) -> None:
    import base64

    _open_stream(handler, step)
    text, calls = _text(step, body), step.get("calls", [])
    prompt = 40 + len(json.dumps(body.get("contents", []))) // 4
    response_id = uuid.uuid4().hex[:22]

    def send(parts: list[dict], finish: str | None = None) -> None:
        candidate: dict = {"content": {"parts": parts, "role": "model"}, "index": 0}
        output = 10 + len(text.split()) + 20 * len(calls)
        usage: dict = {"promptTokenCount": prompt, "totalTokenCount": prompt + output}
        if finish:
            candidate["finishReason"] = finish
            usage["candidatesTokenCount"] = output
        handler._send({"candidates": [candidate], "usageMetadata": usage, "modelVersion": model,
                       "responseId": response_id})  # fmt: skip

    for piece in text.split(" ") if text else ():
        send([{"text": piece if piece == text.split(" ")[0] else " " + piece}])
    parts = []
    for call in calls:
        call_id = uuid.uuid4().hex[:8]
        # Bytes whose two base64 alphabets differ ("++//" against "--__"), so a client must decode, not compare.
        signature = base64.b64encode(b"\xfb\xef\xff" + uuid.uuid4().bytes).decode()
        GEMINI_SIGNATURES[call_id] = base64.b64decode(signature)
        parts.append({"functionCall": {"id": call_id, "name": call["name"], "args": call.get("input", {})},
                      "thoughtSignature": signature})  # fmt: skip
    send(parts or [{"text": ""}], finish="STOP")
    handler.wfile.write(b"0\r\n\r\n")
