"""A local fake of the Gemini API (generativelanguage.googleapis.com) speaking its real streaming protocol.

The official google-genai SDK talks to it over HTTP: `POST /v1/models/<model>:streamGenerateContent?alt=sse`
(the SDK's default version; `/v1beta/...` is served too) with the key in `x-goog-api-key`, answered with
`data: <GenerateContentResponse>` events, the last one carrying `finishReason` and the full `usageMetadata`.
Errors are Google's JSON error objects (a bad key is a 400 INVALID_ARGUMENT with the reason API_KEY_INVALID, as
the real API answers). `GET /v1/models` lists models. Behaviour is set per server (`server.behaviour`) or by a
marker in the last user message:
  [[429]] [[500]] [[503]] [[too-long]]  an HTTP error first        [[midstream]]  an error object after a few tokens
  [[drop]]  the connection cut after a few tokens                    [[truncate]]  the body ends with no finishReason
  [[echo-system]]  reply with the system instruction
Thinking: with `generationConfig.thinkingConfig.includeThoughts`, parts with `thought: true` come first.
Keys: any non-empty key is accepted except one containing "revoked".
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from tests.fake_anthropic import _Server, is_title_call, split_tokens
from tests.fake_tools import gemini_missing_signature, stream_gemini_step


@dataclass
class Behaviour:
    first_token_delay: float = 0.0
    token_delay: float = 0.0
    reply: str | None = None  # None: "You said: <last user message>"
    tokens: list[str] | None = None
    fail: str | None = None
    fail_after_tokens: int = 3
    # Thought parts, streamed before the answer when the request's thinkingConfig includes thoughts; None: "Let me
    # think about: <last user message>". Counted in thoughtsTokenCount (apart from candidatesTokenCount, as the
    # real API counts them) whenever the request has a thinkingConfig or this is set (a model thinking by default).
    thinking: list[str] | None = None


@dataclass
class FakeGemini:
    behaviour: Behaviour = field(default_factory=Behaviour)
    requests: list[dict] = field(default_factory=list)  # {"path", "key", "body"}
    # Calls naming a conversation after its first reply (issue 14's titles), kept apart from the replies'.
    title_requests: list[dict] = field(default_factory=list)
    tool_script: list[dict] = field(default_factory=list)  # tool-calling replies, one step a request (fake_tools.py)
    host: str = "127.0.0.1"
    port: int = 0

    def start(self) -> FakeGemini:
        fake = self

        class Handler(_Handler):
            server_state = fake

        self._server = _Server((self.host, self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def reset(self) -> None:
        self.behaviour = Behaviour()
        self.requests.clear()
        self.title_requests.clear()
        self.tool_script.clear()


def _error(code: int, status: str, message: str, reason: str = "") -> dict:
    error: dict = {"code": code, "message": message, "status": status}
    if reason:
        error["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason,
                             "domain": "googleapis.com",
                             "metadata": {"service": "generativelanguage.googleapis.com"}}]  # fmt: skip
    return {"error": error}


ERRORS = {
    "401": (400, _error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", "API_KEY_INVALID")),
    "429": (429, _error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).")),
    "500": (500, _error(500, "INTERNAL", "An internal error has occurred. Please retry or report it.")),
    "503": (503, _error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")),
    "too-long": (400, _error(400, "INVALID_ARGUMENT", "The input token count (1200000) exceeds the maximum number of "
                             "tokens allowed (1048576).")),
}  # fmt: skip


def _text_of(content: dict) -> str:
    return "".join(part.get("text", "") for part in (content or {}).get("parts", []) if isinstance(part, dict))


class _Handler(BaseHTTPRequestHandler):
    server_state: FakeGemini
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:  # quiet
        pass

    def _json(self, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json; charset=UTF-8")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _authorised(self) -> bool:
        key = self.headers.get("x-goog-api-key", "")
        if key and "revoked" not in key:
            return True
        self._json(*ERRORS["401"])
        return False

    def do_GET(self) -> None:
        if not re.fullmatch(r"/v1(?:beta)?/models/?", urlsplit(self.path).path):
            self._json(404, _error(404, "NOT_FOUND", f"Unknown path {self.path}"))
            return
        if not self._authorised():
            return
        models = [{"name": f"models/{name}", "displayName": name, "inputTokenLimit": 1048576,
                   "supportedGenerationMethods": ["generateContent", "countTokens"]}
                  for name in ("gemini-3.8-flash", "gemini-3.1-pro-preview")]  # fmt: skip
        self._json(200, {"models": models})

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        parts = urlsplit(self.path)
        match = re.fullmatch(r"/v1(?:beta)?/models/([^/:]+):streamGenerateContent", parts.path)
        if not match or "alt=sse" not in parts.query:
            self._json(404, _error(404, "NOT_FOUND", f"Unknown path {self.path}"))
            return
        if not self._authorised():
            return
        state = self.server_state
        (state.title_requests if is_title_call(body) else state.requests).append(
            {"path": self.path, "key": self.headers.get("x-goog-api-key", ""), "body": body}
        )
        if gemini_missing_signature(body):
            message = "Function call is missing a thought_signature in functionCall parts."
            self._json(400, _error(400, "INVALID_ARGUMENT", message))
            return
        if state.tool_script and not is_title_call(body):
            stream_gemini_step(self, body, state.tool_script.pop(0), match.group(1))
            return
        behaviour = state.behaviour
        users = [c for c in body.get("contents", []) if c.get("role", "user") == "user"]
        last_user = _text_of(users[-1]) if users else ""
        fail = behaviour.fail
        for marker in (*ERRORS, "midstream", "drop", "truncate"):
            if f"[[{marker}]]" in last_user:
                fail = marker
        if fail in ERRORS:
            self._json(*ERRORS[fail])
            return
        if behaviour.tokens is not None:
            tokens = list(behaviour.tokens)
        else:
            if "[[echo-system]]" in last_user:
                reply = _text_of(body.get("systemInstruction") or {})
            else:
                reply = behaviour.reply if behaviour.reply is not None else f"You said: {last_user}"
            tokens = split_tokens(reply)
        thinking_config = (body.get("generationConfig") or {}).get("thinkingConfig") or {}
        thinking: list[str] = []
        if thinking_config or behaviour.thinking is not None:
            thinking = list(behaviour.thinking or split_tokens(f"Let me think about: {last_user}"))
        # The API reads either spelling (the SDK sends this object's fields in snake_case).
        show = thinking_config.get("includeThoughts", thinking_config.get("include_thoughts"))
        self._stream(match.group(1), body, tokens, fail, thinking, bool(show))

    def _send(self, payload: dict) -> None:
        chunk = f"data: {json.dumps(payload)}\r\n\r\n".encode()
        self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        self.wfile.flush()

    def _stream(
        self, model: str, body: dict, tokens: list[str], fail: str | None, thinking=(), show_thoughts=False
    ) -> None:
        behaviour = self.server_state.behaviour
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        prompt_tokens = sum(len(_text_of(c).split()) for c in body.get("contents", [])) + 4
        response_id = uuid.uuid4().hex[:22]

        def response(
            text: str, *, finish: str | None = None, output_tokens: int | None = None, thought: bool = False
        ) -> dict:
            part: dict = {"text": text, "thought": True} if thought else {"text": text}
            candidate: dict = {"content": {"parts": [part], "role": "model"}, "index": 0}
            if finish:
                candidate["finishReason"] = finish
            total = prompt_tokens + (output_tokens or 0) + len(thinking)
            usage = {"promptTokenCount": prompt_tokens, "totalTokenCount": total}
            if output_tokens is not None:
                usage["candidatesTokenCount"] = output_tokens
                if thinking:
                    usage["thoughtsTokenCount"] = len(thinking)
            return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": model, "responseId": response_id}

        try:
            for number, piece in enumerate(thinking if show_thoughts else ()):
                time.sleep(behaviour.first_token_delay if number == 0 else behaviour.token_delay)
                self._send(response(piece, thought=True))
            for number, token in enumerate(tokens):
                first = number == 0 and not (thinking and show_thoughts)
                time.sleep(behaviour.first_token_delay if first else behaviour.token_delay)
                if number == behaviour.fail_after_tokens and fail in {"drop", "midstream", "truncate"}:
                    if fail == "drop":
                        time.sleep(0.1)
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    if fail == "midstream":
                        self._send(_error(503, "UNAVAILABLE", "The model is overloaded. Please try again later."))
                    self.wfile.write(b"0\r\n\r\n")
                    return
                if number < len(tokens) - 1:
                    self._send(response(token))
                else:
                    self._send(response(token, finish="STOP", output_tokens=len(tokens)))
            if not tokens:
                self._send(response("", finish="STOP", output_tokens=0))
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
