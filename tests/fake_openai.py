"""A local fake of the OpenAI chat-completions API (and Ollama's model list) speaking the real streaming protocol.

The real openai SDK talks to it over HTTP, so the app's whole path runs. Every OpenAI-compatible provider is served
under its own prefix, `/<provider>/v1/...` (the live app points XAI_BASE_URL at `<url>/xai/v1`, and so on), so a
test can tell which endpoint a reply came from. Ollama's own API is under `/ollama/api/tags`.

Streams are what the real API sends: `data: <chunk>` lines, the first delta with the role, one per token, a last one
with `finish_reason`, then, when `stream_options.include_usage` was asked for, a chunk with no choices and the
usage, then `data: [DONE]`. Behaviour is set per server (`server.behaviour`) or by a marker in the last user message:
  [[401]] [[429]] [[500]] [[503]] [[too-long]]  an HTTP error first, with the real API's error body
  [[midstream]]  an error object in the stream after a few tokens     [[drop]]  the connection cut after a few tokens
  [[truncate]]   the body ends cleanly after a few tokens, with no finish reason nor [DONE]
  [[garbage]]    a `data:` line that is not JSON after a few tokens    [[slow]]  tokens 60 ms apart
  [[echo-system]]  reply with the system message
Reasoning: a request with `reasoning_effort` (or a behaviour with `thinking`) gets deltas with `reasoning_content`
(or `reasoning`) before the answer, counted in completion_tokens and completion_tokens_details.reasoning_tokens.
Keys: any non-empty bearer token is accepted except one containing "revoked" (401 like the real API); under
/ollama no key is needed. `/redirect/v1/...` answers 307 to the same path under `redirect_to` (a network-policy
test: the guarded client must not follow it).
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

from tests.fake_anthropic import _Server, is_title_call, split_tokens, standalone_django

OLLAMA_MODELS = ["llama3.2:latest", "qwen3:8b"]


@dataclass
class Behaviour:
    first_token_delay: float = 0.0
    token_delay: float = 0.0
    reply: str | None = None  # None: "You said: <last user message>"
    tokens: list[str] | None = None  # exact deltas; overrides reply
    # A title call's deltas (benchmarks: a real model names a conversation in a few words, not a whole reply);
    # None: a title call is answered like a reply.
    title: list[str] | None = None
    fail: str | None = None  # one of the markers, without brackets
    fail_after_tokens: int = 3
    # Reasoning deltas, streamed before the answer when the request carries `reasoning_effort` (or always, when set
    # here: a model that always reasons, like DeepSeek's reasoner); None: "Let me think about: <last user message>".
    thinking: list[str] | None = None
    reasoning_field: str = "reasoning_content"  # DeepSeek, vLLM, xAI; Ollama, OpenRouter and Groq say "reasoning"


@dataclass
class FakeOpenAI:
    behaviour: Behaviour = field(default_factory=Behaviour)
    requests: list[dict] = field(default_factory=list)  # {"path", "authorization", "body"}
    # Calls naming a conversation after its first reply (issue 14's titles), kept apart from the replies'.
    title_requests: list[dict] = field(default_factory=list)
    tool_script: list[dict] = field(default_factory=list)  # tool-calling replies, one step a request (fake_tools.py)
    host: str = "127.0.0.1"
    port: int = 0
    redirect_to: str = ""

    def start(self) -> FakeOpenAI:
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

    def base_url(self, provider: str) -> str:
        """What a provider's *_BASE_URL points at (Ollama's: the server's root, as OLLAMA_BASE_URL is written)."""
        return f"{self.url}/ollama" if provider == "ollama" else f"{self.url}/{provider}/v1"

    def reset(self) -> None:
        self.behaviour = Behaviour()
        self.requests.clear()
        self.title_requests.clear()
        self.tool_script.clear()
        self.redirect_to = ""


def _text_of(content) -> str:
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content or [] if isinstance(part, dict))


ERRORS = {
    "401": (401, {"message": "Incorrect API key provided: sk-****oked.", "type": "invalid_request_error",
                  "param": None, "code": "invalid_api_key"}),
    "429": (429, {"message": "Rate limit reached for requests", "type": "requests", "param": None,
                  "code": "rate_limit_exceeded"}),
    "500": (500, {"message": "The server had an error while processing your request.", "type": "server_error",
                  "param": None, "code": None}),
    "503": (503, {"message": "The engine is currently overloaded, please try again later", "type": "server_error",
                  "param": None, "code": None}),
    "too-long": (400, {"message": "This model's maximum context length is 128000 tokens. However, your messages "
                       "resulted in 210000 tokens. Please reduce the length of the messages.",
                       "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}),
}  # fmt: skip


class _Handler(BaseHTTPRequestHandler):
    server_state: FakeOpenAI
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:  # quiet
        pass

    def _json(self, status: int, payload: dict, headers: dict | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.send_header("x-request-id", f"req_{uuid.uuid4().hex[:16]}")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _error(self, marker: str) -> None:
        status, error = ERRORS[marker]
        self._json(status, {"error": error})

    def _authorised(self) -> bool:
        if self.path.startswith("/ollama/"):
            return True  # Ollama has no keys
        key = self.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if key and "revoked" not in key:
            return True
        self._error("401")
        return False

    def _redirected(self) -> bool:
        if not self.path.startswith("/redirect/"):
            return False
        target = self.server_state.redirect_to.rstrip("/") + self.path.removeprefix("/redirect")
        self.send_response(307)
        self.send_header("location", target)
        self.send_header("content-length", "0")
        self.end_headers()
        return True

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/ollama/api/tags":
            models = [{"name": name, "model": name, "modified_at": "2026-10-01T12:00:00Z", "size": 2019393189,
                       "digest": uuid.uuid4().hex, "details": {"format": "gguf", "family": "llama"}}
                      for name in OLLAMA_MODELS]  # fmt: skip
            self._json(200, {"models": models})
            return
        if self._redirected():
            return
        match = re.fullmatch(r"/(\w+)/v1/models/?", self.path)
        if not match:
            self._json(404, {"error": {"message": f"Unknown path {self.path}", "type": "invalid_request_error"}})
            return
        if not self._authorised():
            return
        names = OLLAMA_MODELS if match.group(1) == "ollama" else ["gpt-5.5", "gpt-4.1", f"{match.group(1)}-model"]
        data = [{"id": name, "object": "model", "created": 1686935002, "owned_by": match.group(1)} for name in names]
        self._json(200, {"object": "list", "data": data})

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        if self._redirected():
            return
        if not re.fullmatch(r"/(\w+)/v1/chat/completions", self.path):
            self._json(404, {"error": {"message": f"Unknown path {self.path}", "type": "invalid_request_error"}})
            return
        if not self._authorised():
            return
        state = self.server_state
        (state.title_requests if is_title_call(body) else state.requests).append(
            {"path": self.path, "authorization": self.headers.get("authorization", ""), "body": body}
        )
        if state.tool_script and not is_title_call(body):
            from tests.fake_tools import stream_openai_step

            stream_openai_step(self, body, state.tool_script.pop(0))
            return
        behaviour = state.behaviour
        messages = body.get("messages", [])
        users = [m for m in messages if m.get("role") == "user"]
        last_user = _text_of(users[-1]["content"]) if users else ""
        fail = behaviour.fail
        for marker in (*ERRORS, "midstream", "drop", "truncate", "garbage"):
            if f"[[{marker}]]" in last_user:
                fail = marker
        if fail in ERRORS:
            self._error(fail)
            return
        token_delay = 0.06 if "[[slow]]" in last_user else behaviour.token_delay
        if behaviour.title is not None and is_title_call(body):
            tokens = list(behaviour.title)
        elif behaviour.tokens is not None:
            tokens = list(behaviour.tokens)
        else:
            if "[[echo-system]]" in last_user:
                reply = next((_text_of(m["content"]) for m in messages if m.get("role") == "system"), "")
            else:
                reply = behaviour.reply if behaviour.reply is not None else f"You said: {last_user}"
            tokens = split_tokens(reply)
        thinking: list[str] = []
        if behaviour.thinking is not None or body.get("reasoning_effort"):
            thinking = list(behaviour.thinking or split_tokens(f"Let me think about: {last_user}"))
        self._stream(
            body, tokens, behaviour.first_token_delay, token_delay, fail, behaviour.fail_after_tokens, thinking
        )

    def _send(self, data: str) -> None:
        chunk = f"data: {data}\n\n".encode()
        self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        self.wfile.flush()

    def _stream(self, body, tokens, first_delay, token_delay, fail, fail_after, thinking=()) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("x-request-id", f"req_{uuid.uuid4().hex[:16]}")
        self.end_headers()
        usage_asked = bool((body.get("stream_options") or {}).get("include_usage"))
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        model = body.get("model", "gpt-5.5")

        def chunk(choices: list, usage: dict | None = None) -> str:
            payload = {"id": completion_id, "object": "chat.completion.chunk", "created": int(time.time()),
                       "model": model, "system_fingerprint": "fp_fake", "choices": choices}  # fmt: skip
            if usage_asked:
                payload["usage"] = usage
            return json.dumps(payload)

        try:
            self._send(chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                               "finish_reason": None}]))  # fmt: skip
            field_name = self.server_state.behaviour.reasoning_field
            for number, piece in enumerate(thinking):
                time.sleep(first_delay if number == 0 else token_delay)
                self._send(chunk([{"index": 0, "delta": {field_name: piece}, "logprobs": None,
                                   "finish_reason": None}]))  # fmt: skip
            for number, token in enumerate(tokens):
                time.sleep(first_delay if number == 0 and not thinking else token_delay)
                if number == fail_after and fail in {"drop", "midstream", "truncate", "garbage"}:
                    self._fail_midstream(fail)
                    return
                self._send(chunk([{"index": 0, "delta": {"content": token}, "logprobs": None, "finish_reason": None}]))
            self._send(chunk([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]))
            if usage_asked:
                prompt_tokens = sum(len(_text_of(m.get("content")).split()) for m in body.get("messages", [])) + 5
                # As the real API counts them: reasoning tokens inside completion_tokens, and told apart.
                completion = len(thinking) + len(tokens)
                usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion,
                         "total_tokens": prompt_tokens + completion,
                         "completion_tokens_details": {"reasoning_tokens": len(thinking)}}  # fmt: skip
                self._send(chunk([], usage))
            self._send("[DONE]")
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away (a stopped generation); nothing to clean up

    def _fail_midstream(self, fail: str) -> None:
        if fail == "drop":
            time.sleep(0.1)  # the tokens sent so far reach the client before the connection dies
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fail == "midstream":
            # What the real API sends when the server fails after the headers: an error object as a data line.
            self._send(json.dumps({"error": {"message": "The server had an error while processing your request.",
                                             "type": "server_error", "param": None, "code": None}}))  # fmt: skip
        elif fail == "garbage":
            self._send('{"id": "chatcmpl-broken", "choices": [')
        self.wfile.write(b"0\r\n\r\n")  # the body ends cleanly: no finish reason, no [DONE]


def main() -> None:
    """Run the fake as its own process (benchmarks: keeps its threads off the measuring process's GIL)."""
    import argparse
    import signal

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--first-token-delay", type=float, default=0.0)
    parser.add_argument("--token-delay", type=float, default=0.0)
    parser.add_argument("--tokens", type=int, default=0, help="reply with this many tokens ' t0', ' t1', ...")
    args = parser.parse_args()
    standalone_django()
    fake = FakeOpenAI(port=args.port)
    fake.behaviour = Behaviour(
        first_token_delay=args.first_token_delay,
        token_delay=args.token_delay,
        tokens=[f" t{i}" for i in range(args.tokens)] if args.tokens else None,
        title=split_tokens("Benchmark conversation"),
    )
    fake.start()
    print(f"fake OpenAI API on {fake.url}", flush=True)
    signal.sigwait({signal.SIGINT, signal.SIGTERM})
    fake.stop()


if __name__ == "__main__":
    main()
