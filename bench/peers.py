"""Streaming under load, side by side with Open WebUI: one fake LLM, one client, the systems interleaved.

    .venv/bin/python -m chatbot.embedded exec -- .venv/bin/python bench/peers.py --open-webui /work/owui [options]

Installs nothing into the project. Given the path of an Open WebUI in its own virtualenv (`pip install open-webui`
there), it starts, against the same fake OpenAI-compatible API (tests/fake_openai.py: first token after 100 ms,
then 200 tokens 10 ms apart):
  - the fake alone (the client streams from it directly: the floor);
  - Open WebUI with its defaults (its own data directory in a temp folder; the first account, made through its
    signup API, is the admin and gives the bearer token; nothing that calls out: Ollama, title/tag/follow-up
    generation, embedding model, update check, telemetry), driven through its API path /api/chat/completions;
  - this app as `make run` serves it (1 uvicorn worker, development settings) and with 2 workers in production
    settings (DEBUG off, behind a TLS proxy), driven the way its page does: the composer's htmx POST, then the
    EventSource of the reply's stream URL. (More variants: --app "LABEL:WORKERS:dev|prod[:KEY=VALUE,...]".)
One aiohttp client drives them all; per round every system runs, in an order that rotates between rounds:
one user (--sequential replies one after another), 100 conversations started over --ramp seconds, 100 at once.
While one system is measured the others' web processes are stopped (SIGSTOP; --no-pause leaves them running): an
idle peer's own timers took CPU from the measured one (the run starts by printing each one's idle CPU).
Printed per phase: the load average (the machine is shared), and at the end the issue's table, each figure as the
range over rounds, and ratios against Open WebUI's API path: read those, not absolutes.
CPU per chat counts every server process of a system (this app: uvicorn's tree, PostgreSQL's and Redis's; Open
WebUI: its tree, SQLite is in it); peak memory is the web processes' RSS (uvicorn's tree, Open WebUI's tree).
A scratch database is created and dropped. Nothing is asserted; the test suite never runs this.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from bench.chat_latency import drop_database, make_users, setup_database  # noqa: E402
from bench.common import load_average, percentile  # noqa: E402

FIRST_TOKEN_DELAY = 0.100
TOKENS = 200
TOKEN_GAP = 0.010
EXPECTED = "".join(f" t{i}" for i in range(TOKENS))
MODEL = "gpt-4.1"


# --- The systems ----------------------------------------------------------------------------------------------


@dataclass
class System:
    name: str
    kind: str  # "fake", "owui" or "app"
    base: str
    web: object | None = None  # the Popen whose process tree is the web server
    other_pids: list[int] = field(default_factory=list)  # PostgreSQL, Redis: counted in CPU, not memory
    token: str = ""
    users: list[tuple[str, str, str]] = field(default_factory=list)  # this app: (session, csrf, conversation)
    production: bool = False


def wait_http(url: str, *, seconds: float, process: subprocess.Popen | None = None) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with code {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {seconds:.0f} s")


def start_open_webui(path: Path, fake_url: str, data_dir: Path) -> System:
    import httpx

    from tests.processes import free_port

    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL", "DJANGO_"))},
        "DATA_DIR": str(data_dir),
        "WEBUI_SECRET_KEY": secrets.token_urlsafe(32),
        "OPENAI_API_BASE_URL": f"{fake_url}/openai/v1",
        "OPENAI_API_KEY": "sk-test-bench",
        # Nothing that calls out or adds model calls the other systems do not make.
        "ENABLE_OLLAMA_API": "false",
        "ENABLE_TITLE_GENERATION": "false",
        "ENABLE_TAGS_GENERATION": "false",
        "ENABLE_FOLLOW_UP_GENERATION": "false",
        "ENABLE_AUTOCOMPLETE_GENERATION": "false",
        "BYPASS_EMBEDDING_AND_RETRIEVAL": "true",
        "RAG_EMBEDDING_MODEL_AUTO_UPDATE": "false",
        "OFFLINE_MODE": "true",
        "HF_HUB_OFFLINE": "1",
        "ENABLE_VERSION_UPDATE_CHECK": "false",
        "ANONYMIZED_TELEMETRY": "false",
        "SCARF_NO_ANALYTICS": "true",
        "DO_NOT_TRACK": "true",
        "ENABLE_SIGNUP": "true",
        "GLOBAL_LOG_LEVEL": "WARNING",
    }
    log = open(data_dir / "open-webui.log", "w")  # noqa: SIM115 (closed with the process)
    process = subprocess.Popen(
        [str(path / "bin" / "open-webui"), "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=data_dir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/health", seconds=600, process=process)  # its first start migrates and imports for minutes
    # The first account made through the signup API is the admin (Open WebUI's documented first-run path).
    answer = httpx.post(
        base + "/api/v1/auths/signup",
        json={"name": "Bench", "email": "bench@example.com", "password": secrets.token_urlsafe(16)},
        timeout=60,
    )
    answer.raise_for_status()
    return System("Open WebUI (API path)", "owui", base, web=process, token=answer.json()["token"])


def start_app(label: str, workers: int, production: bool, extra_env: dict, fake_url: str, other_pids: list[int]):
    from tests.processes import free_port

    port = free_port()
    env = {
        **os.environ,
        "OPENAI_BASE_URL": f"{fake_url}/openai/v1",
        "USER_DAILY_MESSAGE_LIMIT": "100000",
        "LOG_LEVEL": "WARNING",
        "ENVIRONMENT": "production" if production else "development",
        "ALLOWED_HOSTS": "127.0.0.1",
        **extra_env,
    }
    # As `make run` starts it (chatbot/embedded.py), with --workers when asked.
    command = [sys.executable, "-m", "uvicorn", "chatbot.asgi:application", "--host", "127.0.0.1", "--port",
               str(port), "--timeout-graceful-shutdown", "5", "--log-level", "warning"]  # fmt: skip
    if workers > 1:
        command += ["--workers", str(workers)]
    process = subprocess.Popen(command, cwd=BASE_DIR, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/healthz", seconds=120, process=process)
    return System(label, "app", base, web=process, other_pids=other_pids, production=production)


def embedded_server_pids() -> list[int]:
    """The embedded PostgreSQL's and Redis's main pids (their trees serve this app), when they are the ones used."""
    from chatbot.embedded import var_dir

    pids = []
    with contextlib.suppress(OSError, ValueError, IndexError):
        pids.append(int((var_dir() / "postgres" / "postmaster.pid").read_text().splitlines()[0]))
    with contextlib.suppress(OSError, ValueError):
        pids.append(int((var_dir() / "redis.pid").read_text().strip()))
    return pids


# --- Measuring processes --------------------------------------------------------------------------------------


def tree(pid: int) -> list:
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def cpu_seconds(pids: list[int]) -> float:
    import psutil

    total = 0.0
    for pid in pids:
        for process in tree(pid):
            with contextlib.suppress(psutil.NoSuchProcess):
                times = process.cpu_times()
                total += times.user + times.system
    return total


def served_by_own_process(systems: list[System]) -> list[System]:
    """The systems with web processes of their own: not the fake alone, whose server the others share."""
    return [s for s in systems if s.web is not None and s.kind != "fake"]


def idle_cpu(systems: list[System], seconds: float = 5.0) -> dict[str, float]:
    """Each system's web processes' CPU over `seconds` with nothing asked of them (their own timers and tasks)."""
    pids = {s.name: [s.web.pid] for s in served_by_own_process(systems)}
    before = {name: cpu_seconds(p) for name, p in pids.items()}
    time.sleep(seconds)
    return {name: cpu_seconds(p) - before[name] for name, p in pids.items()}


@contextlib.contextmanager
def others_paused(systems: list[System], measured: System, *, keep: bool = False):
    """The other systems' web processes stopped (SIGSTOP) while one is measured, then resumed: an idle peer's own
    timers and background tasks took CPU from the measured one on this 2-core machine (`idle_cpu` prints how much).
    The fake API and the shared PostgreSQL and Redis keep running."""
    paused = [] if keep else [s for s in served_by_own_process(systems) if s is not measured]
    for system in paused:
        os.killpg(system.web.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for system in paused:
            os.killpg(system.web.pid, signal.SIGCONT)


def own_cpu_seconds() -> float:
    """This process's CPU alone: the client's. Its children (the fake, Open WebUI, this app's servers) are counted
    as servers; summed in here they made the client look as heavy as the systems it drove."""
    import psutil

    times = psutil.Process().cpu_times()
    return times.user + times.system


class MemoryPeak:
    """Samples the RSS of a process tree every 200 ms from a thread; `peak` is the largest sum seen."""

    def __init__(self, pid: int | None) -> None:
        self.pid, self.peak, self.running = pid, 0.0, True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        import psutil

        while self.running and self.pid is not None:
            total = 0
            for process in tree(self.pid):
                with contextlib.suppress(psutil.NoSuchProcess):
                    total += process.memory_info().rss
            self.peak = max(self.peak, total / 2**20)
            time.sleep(0.2)

    def stop(self) -> float:
        self.running = False
        self.thread.join()
        return self.peak


# --- The client -------------------------------------------------------------------------------------------------


def _result(started: float, arrivals: list[float], text: str | None, error: str = "") -> dict:
    ok = not error and bool(arrivals) and (text is None or text == EXPECTED)
    if not error and not ok:
        error = "incomplete reply"
    return {"ok": ok, "error": error, "ttft": arrivals[0] - started if arrivals else None, "arrivals": arrivals}


async def openai_chat(client, system: System, delay: float) -> dict:
    """A streamed chat completion, as an API client does (the fake directly, or Open WebUI's /api/chat/completions)."""
    await asyncio.sleep(delay)
    if system.kind == "fake":
        url, token = system.base + "/openai/v1/chat/completions", "sk-test-bench"
    else:
        url, token = system.base + "/api/chat/completions", system.token
    body = {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": "Benchmark question"}]}
    started = time.perf_counter()
    arrivals: list[float] = []
    parts: list[str] = []
    try:
        async with client.post(url, json=body, headers={"Authorization": f"Bearer {token}"}) as response:
            if response.status != 200:
                return _result(started, arrivals, None, f"HTTP {response.status}")
            async for line in response.content:
                if not line.startswith(b"data: {"):
                    continue
                chunk = json.loads(line[6:])
                choices = chunk.get("choices") or [{}]
                content = (choices[0].get("delta") or {}).get("content")
                if content:
                    arrivals.append(time.perf_counter())
                    parts.append(content)
    except Exception as exc:  # a broken stream is a failed chat, counted, not the end of the run
        return _result(started, arrivals, None, f"{type(exc).__name__}: {exc}"[:200])
    return _result(started, arrivals, "".join(parts))


async def app_chat(client, system: System, user: tuple[str, str, str], delay: float) -> dict:
    """This app as its page drives it: the composer's htmx POST, then the EventSource on the reply's stream URL."""
    await asyncio.sleep(delay)
    session_key, csrf, conversation_id = user
    host = system.base.removeprefix("http://")
    headers = {
        "Cookie": f"sessionid={session_key}; csrftoken={csrf}",
        "X-CSRFToken": csrf,
        "HX-Request": "true",
        "Referer": f"https://{host}/" if system.production else f"{system.base}/",
    }
    if system.production:
        headers["X-Forwarded-Proto"] = "https"  # production settings: as behind the TLS proxy they expect
    started = time.perf_counter()
    arrivals: list[float] = []
    try:
        async with client.post(
            f"{system.base}/c/{conversation_id}/messages/", data={"content": "Benchmark question"}, headers=headers
        ) as response:
            text = await response.text()
            if response.status != 200:
                return _result(started, arrivals, None, f"POST {response.status}")
        url = text.rsplit('sse-connect="', 1)[1].split('"', 1)[0]
        async with client.get(system.base + url, headers={**headers, "Accept": "text/event-stream"}) as response:
            if response.status != 200:
                return _result(started, arrivals, None, f"stream {response.status}")
            pending = b""
            async for data in response.content.iter_any():
                now = time.perf_counter()
                *events, pending = (pending + data).split(b"\n\n")
                for event in events:
                    if b"event: delta" in event:
                        arrivals.append(now)
                    elif b"event: done" in event:
                        return _result(started, arrivals, None)
    except Exception as exc:
        return _result(started, arrivals, None, f"{type(exc).__name__}: {exc}"[:200])
    return _result(started, arrivals, None, "stream ended without its done event")


async def chats(system: System, count: int, spread: float, offset: int = 0) -> list[dict]:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar()
    ) as client:
        step = spread / max(1, count)
        if system.kind == "app":
            users = system.users[offset : offset + count]
            return await asyncio.gather(*(app_chat(client, system, u, i * step) for i, u in enumerate(users)))
        return await asyncio.gather(*(openai_chat(client, system, i * step) for i in range(count)))


def saved_replies(system: System, conversations: list[str], since) -> int:
    """This app's replies of a phase that are complete and whole in the database."""
    from conversations.models import Message

    rows = Message.objects.filter(
        conversation_id__in=conversations, role="assistant", status="complete", created_at__gte=since
    )
    return sum(1 for m in rows.only("content") if m.content == EXPECTED)


# --- Running ----------------------------------------------------------------------------------------------------


def measure(system: System, count: int, spread: float) -> dict:
    from django.utils import timezone

    time.sleep(1)  # the previous phase's replies finish writing
    load = load_average()
    pids = [system.web.pid, *system.other_pids] if system.web else []
    memory = MemoryPeak(system.web.pid if system.web else None)
    client_before = own_cpu_seconds()
    server_before = cpu_seconds(pids)
    since = timezone.now()
    results = asyncio.run(chats(system, count, spread, offset=1))
    server = cpu_seconds(pids) - server_before
    client = own_cpu_seconds() - client_before
    peak = memory.stop()
    ok = [r for r in results if r["ok"]]
    overhead = [r["ttft"] - FIRST_TOKEN_DELAY for r in ok]
    gaps = [b - a for r in ok for a, b in zip(r["arrivals"], r["arrivals"][1:], strict=False)]
    errors = sorted({r["error"] for r in results if not r["ok"]})
    saved = None
    if system.kind == "app":
        time.sleep(0.5)
        saved = saved_replies(system, [u[2] for u in system.users[1 : count + 1]], since)
    return {
        "p50": statistics.median(overhead) if overhead else float("nan"),
        "p95": percentile(overhead, 95) if overhead else float("nan"),
        "gap95": percentile(gaps, 95) if gaps else float("nan"),
        "failed": 100 * (len(results) - len(ok)) / len(results),
        "cpu": server / count, "client_cpu": client / count, "memory": peak, "load": load, "errors": errors,
        "saved": saved,
    }  # fmt: skip


def one_user(system: System, count: int) -> dict:
    load = load_average()
    results = [asyncio.run(chats(system, 1, 0))[0] for _ in range(count)]
    overhead = [r["ttft"] - FIRST_TOKEN_DELAY for r in results if r["ok"]]
    return {"p50": statistics.median(overhead) if overhead else float("nan"), "load": load}


def ms(value: float) -> str:
    return f"{value * 1000:.0f}" if value < 1 else f"{value:.1f} s"


def span(values: list[float], show) -> str:
    values = sorted(v for v in values if v == v)  # NaN: a phase where nothing succeeded
    if not values:
        return "-"
    low, high = show(values[0]), show(values[-1])
    return low if low == high else f"{low}-{high}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--open-webui", type=Path, help="an Open WebUI virtualenv (bin/open-webui); omitted: none")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrent", type=int, default=100)
    parser.add_argument("--ramp", type=float, default=2.1, help="seconds over which the ramp phase starts them")
    parser.add_argument("--sequential", type=int, default=20, help="one user's replies, one after another")
    parser.add_argument("--quick", action="store_true", help="one round, 20 conversations, 5 sequential replies")
    parser.add_argument(
        "--app",
        action="append",
        help='this app\'s variants, "LABEL:WORKERS:dev|prod[:KEY=VALUE,...]" '
        '(default: "this app, 1 worker:1:dev" and "this app, 2 workers:2:prod")',
    )
    parser.add_argument("--no-fake", action="store_true", help="leave out the fake-alone column")
    parser.add_argument(
        "--no-pause", action="store_true", help="leave the other systems running (idle) while one is measured"
    )
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.concurrent, args.sequential = 1, 20, 5
    variants = args.app or ["this app, 1 worker:1:dev", "this app, 2 workers:2:prod"]

    from tests.processes import free_port

    fake_port = free_port()
    fake_url = f"http://127.0.0.1:{fake_port}"
    base_url = os.environ["DATABASE_URL"]
    name, url = setup_database()
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbot.settings")
    # Shared by this process (which makes the users, their sessions and keys) and the web processes.
    os.environ.setdefault("EMAIL_BACKEND", "django.core.mail.backends.dummy.EmailBackend")  # no email per bench user
    os.environ["SECRET_KEY"] = secrets.token_urlsafe(40)
    os.environ["KEY_ENCRYPTION_KEYS"] = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_openai", "--port", str(fake_port), "--first-token-delay",
         str(FIRST_TOKEN_DELAY), "--token-delay", str(TOKEN_GAP), "--tokens", str(TOKENS)],
        cwd=BASE_DIR, stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    fake.stdout.readline()
    scratch = Path(tempfile.mkdtemp(prefix="peers-"))
    systems: list[System] = []
    try:
        if not args.no_fake:
            systems.append(System("fake alone", "fake", fake_url, web=fake))
        if args.open_webui:
            print("starting Open WebUI (its first start takes minutes)...", flush=True)
            systems.append(start_open_webui(args.open_webui.resolve(), fake_url, scratch))
        servers = embedded_server_pids() if "host=" in base_url or "@/" in base_url else []
        for variant in variants:
            label, workers, mode, *rest = variant.split(":", 3)
            extra = dict(pair.split("=", 1) for pair in rest[0].split(",")) if rest and rest[0] else {}
            users = make_users(args.concurrent + 1, "openai")  # migrates the scratch database first
            system = start_app(label, int(workers), mode == "prod", extra, fake_url, servers)
            system.users = users
            systems.append(system)
        for system in systems:  # warm-up: imports, pools, provider clients, every worker
            for _ in range(4):
                asyncio.run(chats(system, 1, 0))
            if system.kind == "app":
                # Each conversation's first reply: a conversation's first reply is followed by a title call to the
                # model, which Open WebUI is measured without (title generation off); measured turns are later.
                asyncio.run(chats(system, args.concurrent, args.ramp, offset=1))
                time.sleep(2 * (FIRST_TOKEN_DELAY + TOKENS * TOKEN_GAP) + 1)  # the title calls finish
        idle = idle_cpu(systems)
        print("idle CPU of each system's web processes over 5 s: "
              + ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in idle.items()), flush=True)  # fmt: skip
        results: dict[str, list[dict]] = {s.name: [] for s in systems}
        for round_number in range(args.rounds):
            order = systems[round_number % len(systems) :] + systems[: round_number % len(systems)]
            for system in order:
                with others_paused(systems, system, keep=args.no_pause):
                    row = {"one": one_user(system, args.sequential)}
                    row["ramp"] = measure(system, args.concurrent, args.ramp)
                    row["burst"] = measure(system, args.concurrent, 0)
                results[system.name].append(row)
                print(f"round {round_number + 1} {system.name}: one user {ms(row['one']['p50'])} ms "
                      f"[load {row['one']['load']}]; " + "; ".join(
                          f"{phase} p50 {ms(row[phase]['p50'])} p95 {ms(row[phase]['p95'])} gap95 "
                          f"{ms(row[phase]['gap95'])} failed {row[phase]['failed']:.0f}% cpu/chat "
                          f"{row[phase]['cpu'] * 1000:.0f} ms (client {row[phase]['client_cpu'] * 1000:.0f} ms) "
                          f"mem {row[phase]['memory']:.0f} MiB"
                          + (f" saved {row[phase]['saved']}/{args.concurrent}" if row[phase]["saved"] is not None
                             else "")
                          + (f" errors {row[phase]['errors']}" if row[phase]["errors"] else "")
                          + f" [load {row[phase]['load']}]"
                          for phase in ("ramp", "burst")), flush=True)  # fmt: skip
        print_table(systems, results, args)
    finally:
        for system in systems:
            if system.web is not None and system.web is not fake:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(system.web.pid, 15)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    system.web.wait(15)
        fake.terminate()
        fake.wait(10)
        from django.db import connections

        connections.close_all()
        drop_database(name, base_url)
        shutil.rmtree(scratch, ignore_errors=True)


def print_table(systems: list[System], results: dict[str, list[dict]], args) -> None:
    n = args.concurrent
    figures = [
        ("first-token overhead, 1 user, p50 (ms)", lambda r: r["one"]["p50"], ms),
        (f"{n} started over {args.ramp:g} s: overhead p50 (ms)", lambda r: r["ramp"]["p50"], ms),
        (f"{n} started over {args.ramp:g} s: overhead p95 (ms)", lambda r: r["ramp"]["p95"], ms),
        (f"{n} sent at once: overhead p50 (ms)", lambda r: r["burst"]["p50"], ms),
        (f"{n} sent at once: overhead p95 (ms)", lambda r: r["burst"]["p95"], ms),
        (f"gap between text events p95, {n} over {args.ramp:g} s (ms)", lambda r: r["ramp"]["gap95"], ms),
        (f"gap between text events p95, {n} at once (ms)", lambda r: r["burst"]["gap95"], ms),
        (f"failed at {n}, over {args.ramp:g} s / at once (%)", lambda r: r["ramp"]["failed"] + r["burst"]["failed"],
         lambda v: f"{v:.0f}"),
        (f"CPU per chat at {n} over {args.ramp:g} s, server processes (ms)", lambda r: r["ramp"]["cpu"],
         lambda v: f"{v * 1000:.0f}"),
        (f"CPU per chat at {n} at once, server processes (ms)", lambda r: r["burst"]["cpu"],
         lambda v: f"{v * 1000:.0f}"),
        ("the client's own CPU per chat at once (ms)", lambda r: r["burst"]["client_cpu"],
         lambda v: f"{v * 1000:.0f}"),
        ("memory, peak, web processes (MiB)", lambda r: max(r["ramp"]["memory"], r["burst"]["memory"]),
         lambda v: f"{v:.0f}"),
    ]  # fmt: skip
    print(f"\n{args.rounds} round(s), systems interleaved; each cell the range over rounds; load averages above.")
    print("| figure | " + " | ".join(s.name for s in systems) + " |")
    print("|---|" + "---|" * len(systems))
    for label, pick, show in figures:
        cells = [span([pick(r) for r in results[s.name]], show) for s in systems]
        print(f"| {label} | " + " | ".join(cells) + " |")
    app_rows = [s for s in systems if s.kind == "app"]
    for system in app_rows:
        saved = [r[p]["saved"] for r in results[system.name] for p in ("ramp", "burst")]
        print(f"{system.name}: replies complete and saved per phase {saved} of {n}")
    peer = next((s for s in systems if s.kind == "owui"), None)
    if peer is None:
        return
    print("\nRatios to Open WebUI's API path, each round's own (median over rounds; below 1 is better):")
    for label, pick, _show in figures[:7] + figures[8:10]:
        cells = []
        for system in app_rows:
            ratios = [pick(mine) / pick(theirs) for mine, theirs in zip(results[system.name], results[peer.name],
                                                                        strict=True) if pick(theirs)]  # fmt: skip
            cells.append(f"{system.name} {statistics.median(ratios):.2f}" if ratios else f"{system.name} -")
        print(f"  {label}: " + ", ".join(cells))


if __name__ == "__main__":
    main()
