"""Streaming latency through the whole app (uvicorn + Redis streams + a provider's SDK), against its fake API.

    .venv/bin/python -m chatbot.embedded exec -- .venv/bin/python bench/chat_latency.py [options]

--provider anthropic (the default: the anthropic SDK against tests/fake_anthropic.py) or openai (the openai SDK's
streamed chat completions against tests/fake_openai.py): the same measurements through either path.

The fake server sends its first token after 100 ms, then 200 tokens 10 ms apart. Printed:
  - time to first token seen by the client minus the fake's own 100 ms (p50, p95), one user, one at a time;
  - the same, and the gap between text events, with --concurrent conversations (default 100): all started at once,
    or spread over --ramp seconds, or (--steady SECONDS) started at the rate that keeps that many streaming; all
    replies checked complete and saved; the web processes' memory; the CPU each party used meanwhile.
--workers N runs N uvicorn workers, with production settings (DEBUG off) as if behind a TLS proxy.
BENCH_LAG=1 makes the web process print its event-loop lag each second; BENCH_PROFILE=FILE records it with py-spy
(GIL holders only) for BENCH_PROFILE_SECONDS (12) from its start, BENCH_PROFILE_RATE (250) samples a second;
BENCH_CPROFILE=FILE records its event loop's thread
with cProfile (one worker); BENCH_TRACE=1 prints each POST's timeline (its statements, the send, the prompt, the
provider's request, the first deltas: bench/timed_asgi.py); BENCH_UNSIGNED_STREAMS=1 opens each reply's stream
without its signature (the view's owner check, not conversations/stream_access.py); BENCH_LOG_SQL=1 logs every
statement with its duration to the PostgreSQL log (to count a round trip's queries and see the time between them);
BENCH_GC=1 prints each web process's garbage-collector pauses when it stops (BENCH_GC=types also counts what the
collector freed, by type).
A scratch database is created and dropped; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from common import reference_loop_ms  # noqa: E402 (bench/, the script's own folder, is on the path)

FIRST_TOKEN_DELAY = 0.100
TOKENS = 200
TOKEN_GAP = 0.010


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def connect_args(config: dict) -> dict:
    keys = {"dbname": "NAME", "user": "USER", "host": "HOST", "port": "PORT", "password": "PASSWORD"}
    return {arg: config[key] or None for arg, key in keys.items()}


def setup_database() -> tuple[str, str]:
    import psycopg

    from chatbot.env import database_config

    base_url = os.environ["DATABASE_URL"]
    config = database_config(base_url)
    name = f"bench_chat_{uuid.uuid4().hex[:6]}"
    admin = psycopg.connect(**connect_args(config), autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    if os.environ.get("BENCH_LOG_SQL"):  # every statement and its duration into the server's log, timestamped
        admin.execute(f'ALTER DATABASE "{name}" SET log_min_duration_statement = 0')
    admin.close()
    url = base_url.replace(f"/{config['NAME']}", f"/{name}", 1)
    return name, url


def drop_database(name: str, base_url: str) -> None:
    import psycopg

    from chatbot.env import database_config

    config = database_config(base_url)
    with psycopg.connect(**connect_args(config), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_users(count: int, provider: str = "anthropic") -> list[tuple[str, str]]:
    """Users with a key for the provider, a session and a conversation on it each: (session key, csrf secret,
    conversation)."""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from accounts.models import User
    from accounts.services import SYSTEM, provider_key_save
    from accounts.sessions import SessionStore
    from conversations.services import conversation_create
    from tests.live import session_for

    sessions = []
    for _ in range(count):
        user = User.objects.create(email=f"bench-{uuid.uuid4().hex[:10]}@example.com")
        prefix = "sk-ant-test-bench-" if provider == "anthropic" else "sk-test-bench-"
        provider_key_save(user=user, provider=provider, api_key=prefix + secrets.token_hex(8), client=SYSTEM)
        conversation = conversation_create(user=user)
        assert conversation.provider == provider, conversation.provider
        session_key = session_for(user)
        # As if the user had just opened the chat page: the once-per-5-minutes "last seen" write is behind them.
        store = SessionStore(session_key)
        store["_last_seen"] = time.time()
        store.save()
        sessions.append((session_key, secrets.token_hex(16), str(conversation.id)))
    return sessions


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers


async def one_reply(base: str, session: tuple[str, str, str], delay: float = 0.0) -> dict:
    """Send a message and read its reply's events over one keep-alive connection.

    Raw asyncio rather than an HTTP client library: a hundred streams parsed by a pure-Python client cost more CPU
    on this 2-core machine than the server being measured, and the client's own lag would be counted as the app's.
    """
    session_key, csrf, conversation_id = session
    host, port = base.removeprefix("http://").split(":")
    common = (
        f"Host: {host}:{port}\r\nCookie: sessionid={session_key}; csrftoken={csrf}\r\n"
        f"X-CSRFToken: {csrf}\r\nHX-Request: true\r\nReferer: https://{host}:{port}/\r\n"
        "X-Forwarded-Proto: https\r\n"  # production settings: as behind the TLS proxy they expect
    )
    await asyncio.sleep(delay)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        body = b"content=Benchmark+question"
        started = time.perf_counter()
        # A message in an existing conversation: the response is the new turn, with the reply's stream URL.
        writer.write(
            f"POST /c/{conversation_id}/messages/ HTTP/1.1\r\n{common}"
            f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        status, headers = await _read_head(reader)
        text = (await reader.readexactly(int(headers["content-length"]))).decode()
        posted = time.perf_counter()
        if status != 200:
            raise RuntimeError(f"POST answered {status}: {text[:200]}")
        server_ms = float(headers.get("x-bench-server-ms", "nan"))
        url = text.rsplit('sse-connect="', 1)[1].split('"', 1)[0]
        if os.environ.get("BENCH_UNSIGNED_STREAMS"):  # through the view's owner check, as before signed URLs
            url = url.split("?", 1)[0]
        writer.write(f"GET {url} HTTP/1.1\r\n{common}Accept: text/event-stream\r\n\r\n".encode())
        await _read_head(reader)
        arrivals: list[float] = []
        pending = b""
        done = False
        while not done:
            data = await reader.read(65536)
            if not data:
                break
            now = time.perf_counter()
            *events, pending = (pending + data).split(b"\n\n")
            for event in events:  # each chunk the server writes holds whole events
                if b"event: delta" in event:
                    arrivals.append(now)
                elif b"event: done" in event:
                    done = True
        return {
            "conversation": conversation_id, "ttft": arrivals[0] - started, "arrivals": arrivals,
            "post": posted - started, "post_server": server_ms / 1000, "started": started,
            "finished": time.perf_counter(),
        }  # fmt: skip
    finally:
        writer.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--provider", choices=["anthropic", "openai"], default="anthropic")
    parser.add_argument("--sequential", type=int, default=30)
    parser.add_argument("--concurrent", type=int, default=100)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--repeat", type=int, default=1, help="waves of concurrent conversations (this VM varies)")
    parser.add_argument(
        "--ramp", type=float, default=0.0, help="spread the conversations' starts over this many seconds (0: a burst)"
    )
    parser.add_argument(
        "--steady",
        type=float,
        default=0.0,
        help="instead of one wave: start conversations at the rate that keeps --concurrent of them streaming, "
        "for this many seconds",
    )
    args = parser.parse_args()

    import psutil

    from tests.processes import free_port

    fake_port = free_port()
    fake = subprocess.Popen(
        [sys.executable, "-m", f"tests.fake_{args.provider}", "--port", str(fake_port), "--first-token-delay",
         str(FIRST_TOKEN_DELAY), "--token-delay", str(TOKEN_GAP), "--tokens", str(TOKENS)],
        cwd=BASE_DIR, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    fake.stdout.readline()
    expected_reply = "".join(f" t{i}" for i in range(TOKENS))
    base_url = os.environ["DATABASE_URL"]
    name, url = setup_database()
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbot.settings")
    # The bench's users get a key each, and with it a security email: not printed a hundred times.
    os.environ.setdefault("EMAIL_BACKEND", "django.core.mail.backends.dummy.EmailBackend")
    # Shared by this process (which makes the users, their sessions and keys) and the production web processes.
    os.environ["SECRET_KEY"] = secrets.token_urlsafe(40)
    os.environ["KEY_ENCRYPTION_KEYS"] = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{fake_port}",
        "OPENAI_BASE_URL": f"http://127.0.0.1:{fake_port}/openai/v1",
        "USER_DAILY_MESSAGE_LIMIT": "100000",
        "LOG_LEVEL": "WARNING",
        # Measured as deployed: DEBUG off (no query log, cached templates), secure cookies behind a TLS proxy.
        "ENVIRONMENT": "production",
        "ALLOWED_HOSTS": "127.0.0.1",
    }
    web = None
    try:
        reply_seconds = FIRST_TOKEN_DELAY + TOKENS * TOKEN_GAP
        total = round(args.steady * args.concurrent / reply_seconds) if args.steady else args.concurrent
        sessions = make_users(total + 1, args.provider)
        web = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "bench.timed_asgi:application", "--port", str(port),
             "--log-level", "warning", "--workers", str(args.workers)],
            cwd=BASE_DIR, env=env,
        )  # fmt: skip
        import httpx

        for _ in range(100):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)

        for _ in range(2 * args.workers):  # warm-up of every worker: imports, pools, the provider client
            asyncio.run(one_reply(base, sessions[0]))
        sequential = [asyncio.run(one_reply(base, sessions[0])) for _ in range(args.sequential)]
        alone = [r["ttft"] - FIRST_TOKEN_DELAY for r in sequential]
        posts = [r["post"] for r in sequential]
        from conversations.models import Message

        server_side = [
            (m.time_to_first_token_ms - FIRST_TOKEN_DELAY * 1000) / 1000
            for m in Message.objects.filter(conversation_id=sessions[0][2], role="assistant").order_by("-created_at")[
                : args.sequential
            ]
        ]

        step = reply_seconds / args.concurrent if args.steady else args.ramp / max(1, args.concurrent)

        async def many():
            return await asyncio.gather(*(one_reply(base, s, i * step) for i, s in enumerate(sessions[1:])))

        if os.environ.get("BENCH_PROFILE"):
            py_spy = str(Path(sys.executable).parent / "py-spy")
            # GIL holders only; BENCH_PROFILE_THREADS=1: every thread on a CPU, each named in its stacks.
            which = ["--threads"] if os.environ.get("BENCH_PROFILE_THREADS") else ["--gil"]
            subprocess.Popen([py_spy, "record", "-o", os.environ["BENCH_PROFILE"],
                              "-d", os.environ.get("BENCH_PROFILE_SECONDS", "12"), "-f", "raw", *which,
                              "-r", os.environ.get("BENCH_PROFILE_RATE", "250"), "-p", str(web.pid),
                              "--nonblocking"])  # fmt: skip
        web_processes = [psutil.Process(web.pid), *psutil.Process(web.pid).children(recursive=True)]
        measured = {"web": web_processes, "fake API": [psutil.Process(fake.pid)], "bench client": [psutil.Process()]}

        def cpu_seconds() -> dict[str, float]:
            used = {name: sum(sum(p.cpu_times()[:2]) for p in procs) for name, procs in measured.items()}
            machine = psutil.cpu_times()
            used["the rest (PostgreSQL, Redis, ...)"] = machine.user + machine.system - sum(used.values())
            # A worker's main thread runs its event loop (streaming); the others run Django's sync code (the ORM).
            used["web event loops"] = sum(
                t.user_time + t.system_time for p in web_processes for t in p.threads() if t.id == p.pid
            )
            return used

        def ms(values: list[float]) -> str:
            return f"p50 {statistics.median(values) * 1000:6.1f} ms   p95 {percentile(values, 95) * 1000:6.1f} ms"

        print(f"provider {args.provider}; fake API: first token after {FIRST_TOKEN_DELAY * 1000:.0f} ms, then ", end="")
        print(f"{TOKENS} tokens ", end="")
        print(f"{TOKEN_GAP * 1000:.0f} ms apart")
        print(f"one user, {args.sequential} replies one after another [reference loop {reference_loop_ms():.0f} ms]:")
        print(f"  time-to-first-token overhead  {ms(alone)}")
        print(f"    the POST that saves the message and starts the reply        {ms(posts)}")
        print(f"    generation start to first token (SDK request and connect)   {ms(server_side)}")

        from django.utils import timezone

        summaries = []
        for wave in range(1, args.repeat + 1):
            time.sleep(1)  # the previous wave's replies finish writing
            wave_began = timezone.now()
            cpu_before = cpu_seconds()
            began = time.perf_counter()
            results = asyncio.run(many())
            wall = time.perf_counter() - began
            cpu_used = {name: used - cpu_before[name] for name, used in cpu_seconds().items()}
            memory = sum(p.memory_info().rss for p in web_processes) / 2**20
            time.sleep(0.5)
            saved = Message.objects.filter(
                conversation_id__in=[r["conversation"] for r in results], role="assistant", status="complete",
                created_at__gte=wave_began,
            )  # fmt: skip
            complete = sum(1 for m in saved if m.content == expected_reply)
            ttfts = [r["ttft"] - FIRST_TOKEN_DELAY for r in results]
            gaps = [b - a for r in results for a, b in zip(r["arrivals"], r["arrivals"][1:], strict=False)]
            received = sum(len(r["arrivals"]) for r in results)
            summaries.append((statistics.median(ttfts), percentile(ttfts, 95), percentile(gaps, 95)))

            label = f" (wave {wave} of {args.repeat})" if args.repeat > 1 else ""
            label += f" [reference loop {reference_loop_ms():.0f} ms]"
            if args.steady:
                spans = [(r["started"], r["finished"]) for r in results]
                in_flight = sorted(sum(1 for a, b in spans if a <= t < b) for t, _ in spans)
                print(f"{total} conversations started one every {step * 1000:.0f} ms for {args.steady:g} s, so "
                      f"that {args.concurrent} stream at once (measured: median {in_flight[len(in_flight) // 2]}, "
                      f"max {in_flight[-1]} in flight) ({wall:.1f} s wall){label}:")  # fmt: skip
            else:
                start_mode = f"starts spread over {args.ramp:g} s" if args.ramp else "all started at once"
                print(f"{args.concurrent} conversations streaming at once, {start_mode} ({wall:.1f} s wall){label}:")
            print(f"  time-to-first-token overhead  {ms(ttfts)}")
            print(f"    the POST                    {ms([r['post'] for r in results])}")
            print(f"      of which in Django        {ms([r['post_server'] for r in results])}")
            print(f"    POST answered to 1st token  {ms([r['ttft'] - r['post'] for r in results])}")
            print(f"  gap between text events       {ms(gaps)}")
            print(f"  text events received {received} for {total * TOKENS} tokens (coalesced by 20 ms)")
            print(f"  replies complete and saved {complete}/{total}")
            print(f"  web memory (RSS, {args.workers} worker(s) and their parent) {memory:.0f} MiB")
            loops = cpu_used.pop("web event loops")
            print("  CPU used meanwhile: " + ", ".join(f"{name} {used:.1f} s" for name, used in cpu_used.items()))
            print(f"    web: event loops {loops:.1f} s, worker threads {cpu_used['web'] - loops:.1f} s")
        if args.repeat > 1:

            def spread(index: int) -> str:
                values = sorted(summary[index] * 1000 for summary in summaries)
                return f"{statistics.median(values):.0f} ms (runs {values[0]:.0f}-{values[-1]:.0f})"

            print(f"over {args.repeat} waves, medians: time-to-first-token overhead p50 {spread(0)}, p95 {spread(1)}; "
                  f"gap p95 {spread(2)}")  # fmt: skip
    finally:
        if web is not None:
            web.terminate()
            web.wait(10)
        fake.terminate()
        fake.wait(10)
        from django.db import connections

        connections.close_all()
        drop_database(name, base_url)


if __name__ == "__main__":
    main()
