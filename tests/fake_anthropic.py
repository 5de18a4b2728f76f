"""A local fake of the Anthropic Messages API that speaks its real streaming protocol.

The only fake in the test suite: the real anthropic SDK talks to it over HTTP, so the app's whole path runs.
Behaviour is set per server (`server.behaviour`) or per request by a marker in the last user message:
  [[overloaded]]  an `overloaded_error` event after a few tokens     [[500]] / [[429]]  an HTTP error first
  [[too-long]]    a 400 "prompt is too long" like the real API
  [[slow]]        tokens 60 ms apart                                  [[echo-system]] reply with the system prompt
  [[drop]]        the connection is cut after a few tokens (no end of the chunked body)
  [[truncate]]    the body ends cleanly after a few tokens, with no message_delta nor message_stop
A request with `thinking: {"type": "enabled", ...}` gets a thinking block first (thinking_delta events at the token
pace, then a signature_delta), its tokens counted in output_tokens, as the real API streams extended thinking.
Keys: anything starting with "sk-ant-" is accepted, except "sk-ant-revoked..." (401 like the real API).
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Behaviour:
    first_token_delay: float = 0.0
    token_delay: float = 0.0
    reply: str | None = None  # None: "You said: <last user message>"
    tokens: list[str] | None = None  # exact deltas; overrides reply
    # A title call's deltas (benchmarks: a real model names a conversation in a few words, not a whole reply);
    # None: a title call is answered like a reply.
    title: list[str] | None = None
    fail: str | None = None  # "overloaded", "500", "429", "401"
    fail_after_tokens: int = 3
    # Exact thinking deltas, streamed (as a `thinking` block, before the answer) when the request enables thinking,
    # like the real API; None: "Let me think about: <last user message>".
    thinking: list[str] | None = None


@dataclass
class FakeAnthropic:
    behaviour: Behaviour = field(default_factory=Behaviour)
    requests: list[dict] = field(default_factory=list)
    # Calls naming a conversation after its first reply (issue 14's titles), kept apart from the replies'.
    title_requests: list[dict] = field(default_factory=list)
    tool_script: list[dict] = field(default_factory=list)  # tool-calling replies, one step a request (fake_tools.py)
    host: str = "127.0.0.1"
    port: int = 0

    def start(self) -> FakeAnthropic:
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


def _text_of(content) -> str:
    if isinstance(content, str):
        return content
    return "".join(block.get("text", "") for block in content if isinstance(block, dict))


def split_tokens(text: str) -> list[str]:
    """Split like a tokenizer would, roughly: words with their leading space."""
    tokens, current = [], ""
    for char in text:
        if char == " " and current:
            tokens.append(current)
            current = ""
        current += char
    if current:
        tokens.append(current)
    return tokens


THINKING_BLOCKS_MISSING = (
    "messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `tool_use`. When `thinking` is "
    "enabled, a final `assistant` message must start with a thinking block (preceeding the lastmost set of "
    "`tool_use` and `tool_result` blocks)."
)


def _thinking_without_its_blocks(body: dict) -> bool:
    """The real API's refusal of a tool loop's next call that enables thinking without the signed thinking blocks
    of the assistant turn it continues."""
    if (body.get("thinking") or {}).get("type") != "enabled":
        return False
    messages = body.get("messages", [])
    last = messages[-1].get("content") if messages else None
    if not isinstance(last, list) or not any(isinstance(b, dict) and b.get("type") == "tool_result" for b in last):
        return False
    assistant = messages[-2].get("content") if len(messages) > 1 else None
    first = assistant[0] if isinstance(assistant, list) and assistant else {}
    return not (isinstance(first, dict) and first.get("type") in {"thinking", "redacted_thinking"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the listen backlog: the benchmark opens a hundred streams at once

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The app's title instructions are imported now, not by the first request: that import (the providers'
        # SDKs) takes seconds, and a test's first reply then began that much late (a streaming test run alone saw
        # its first token after 2 s).
        is_title_call({})


class _Handler(BaseHTTPRequestHandler):
    server_state: FakeAnthropic
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:  # quiet
        pass

    def _authorised(self) -> bool:
        # SDK versions send the key as x-api-key or as a bearer token; the real API accepts both.
        key = self.headers.get("x-api-key", "") or self.headers.get("authorization", "").removeprefix("Bearer ")
        if key.startswith("sk-ant-") and not key.startswith("sk-ant-revoked"):
            return True
        self._json(401, {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}})
        return False

    def _json(self, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.send_header("request-id", f"req_{uuid.uuid4().hex[:16]}")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if not self.path.startswith("/v1/models"):
            self._json(404, {"type": "error", "error": {"type": "not_found_error", "message": self.path}})
            return
        if not self._authorised():
            return
        model = {
            "type": "model",
            "id": "claude-sonnet-5-5",
            "display_name": "Claude Sonnet 4.5",
            "created_at": "2025-09-29T00:00:00Z",
        }
        self._json(200, {"data": [model], "has_more": False, "first_id": model["id"], "last_id": model["id"]})

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        if not self.path.startswith("/v1/messages"):
            self._json(404, {"type": "error", "error": {"type": "not_found_error", "message": self.path}})
            return
        if not self._authorised():
            return
        state = self.server_state
        (state.title_requests if is_title_call(body) else state.requests).append(body)
        if _thinking_without_its_blocks(body):
            error = {"type": "invalid_request_error", "message": THINKING_BLOCKS_MISSING}
            self._json(400, {"type": "error", "error": error})
            return
        if state.tool_script and not is_title_call(body):
            from tests.fake_tools import stream_anthropic_step

            stream_anthropic_step(self, body, state.tool_script.pop(0))
            return
        behaviour = state.behaviour
        messages = body.get("messages", [])
        last_user = _text_of(messages[-1]["content"]) if messages else ""
        fail = behaviour.fail
        for marker in ("overloaded", "500", "429", "too-long", "drop", "truncate"):
            if f"[[{marker}]]" in last_user:
                fail = marker
        token_delay = 0.06 if "[[slow]]" in last_user else behaviour.token_delay
        if fail == "500":
            self._json(500, {"type": "error", "error": {"type": "api_error", "message": "Internal server error"}})
            return
        if fail == "too-long":
            error = {"type": "invalid_request_error", "message": "prompt is too long: 210000 tokens > 200000 maximum"}
            self._json(400, {"type": "error", "error": error})
            return
        if fail == "429":
            self._json(429, {"type": "error", "error": {"type": "rate_limit_error", "message": "Rate limited"}})
            return
        if behaviour.title is not None and is_title_call(body):
            tokens = list(behaviour.title)
        elif behaviour.tokens is not None:
            tokens = list(behaviour.tokens)
        else:
            if "[[echo-system]]" in last_user:
                system = body.get("system", "")
                reply = system if isinstance(system, str) else _text_of(system)
            else:
                reply = behaviour.reply if behaviour.reply is not None else f"You said: {last_user}"
            tokens = split_tokens(reply)
        thinking: list[str] = []
        if (body.get("thinking") or {}).get("type") == "enabled":
            thinking = list(behaviour.thinking or split_tokens(f"Let me think about: {last_user}"))
        self._stream(
            body, tokens, behaviour.first_token_delay, token_delay, fail, behaviour.fail_after_tokens, thinking
        )

    def _event(self, name: str, data: dict) -> None:
        chunk = f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
        self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        self.wfile.flush()

    def _stream(self, body, tokens, first_delay, token_delay, fail, fail_after, thinking=()) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("request-id", f"req_{uuid.uuid4().hex[:16]}")
        self.end_headers()
        input_tokens = sum(len(_text_of(m["content"]).split()) for m in body.get("messages", [])) + 5
        message_id = f"msg_{uuid.uuid4().hex[:24]}"
        try:
            self._event("message_start", {
                "type": "message_start",
                "message": {
                    "id": message_id, "type": "message", "role": "assistant", "content": [],
                    "model": body.get("model", "claude-sonnet-5-5"), "stop_reason": None, "stop_sequence": None,
                    "usage": {"input_tokens": input_tokens, "output_tokens": 1},
                },
            })  # fmt: skip
            index = 0
            if thinking:
                self._event("content_block_start", {
                    "type": "content_block_start", "index": 0,
                    "content_block": {"type": "thinking", "thinking": "", "signature": ""},
                })  # fmt: skip
                for number, piece in enumerate(thinking):
                    time.sleep(first_delay if number == 0 else token_delay)
                    self._event("content_block_delta", {
                        "type": "content_block_delta", "index": 0,
                        "delta": {"type": "thinking_delta", "thinking": piece},
                    })  # fmt: skip
                signature = {"type": "signature_delta", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pk"}
                self._event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": signature})
                self._event("content_block_stop", {"type": "content_block_stop", "index": 0})
                index = 1
            self._event(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}},
            )
            self._event("ping", {"type": "ping"})
            for number, token in enumerate(tokens):
                time.sleep(first_delay if number == 0 and not thinking else token_delay)
                if fail == "drop" and number == fail_after:
                    time.sleep(0.1)  # the tokens sent so far reach the client before the connection dies
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if fail == "truncate" and number == fail_after:
                    self.wfile.write(b"0\r\n\r\n")
                    return
                if fail == "overloaded" and number == fail_after:
                    self._event(
                        "error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
                    )
                    self.wfile.write(b"0\r\n\r\n")
                    return
                self._event(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": token}},
                )
            self._event("content_block_stop", {"type": "content_block_stop", "index": index})
            self._event("message_delta", {
                "type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": len(thinking) + len(tokens)},  # thinking is billed as output
            })  # fmt: skip
            self._event("message_stop", {"type": "message_stop"})
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away (a stopped generation); nothing to clean up


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
    fake = FakeAnthropic(port=args.port)
    fake.behaviour = Behaviour(
        first_token_delay=args.first_token_delay,
        token_delay=args.token_delay,
        tokens=[f" t{i}" for i in range(args.tokens)] if args.tokens else None,
        title=split_tokens("Benchmark conversation"),
    )
    fake.start()
    print(f"fake Anthropic API on {fake.url}", flush=True)
    signal.sigwait({signal.SIGINT, signal.SIGTERM})
    fake.stop()


def standalone_django() -> None:
    """A fake run as its own process (benchmarks) still tells title calls apart: is_title_call reads the app's
    title instructions, whose module needs Django's apps loaded."""
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbot.settings")
    django.setup()


def is_title_call(body: dict) -> bool:
    """A call the app makes to name a conversation (its instructions), not a reply: the fakes of every provider
    record those in `title_requests`, so a test reading `requests[-1]` after a first reply gets the reply's."""
    from conversations.titles import TITLE_INSTRUCTIONS

    return TITLE_INSTRUCTIONS in json.dumps(body)


if __name__ == "__main__":
    main()
