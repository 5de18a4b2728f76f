"""The launcher behind `make run`, and /readyz when a service is missing, as real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

import psutil
import pytest
from django.db import connection

from tests.processes import BASE_DIR, child_environment, database_url_for_tests, free_port, running

pytestmark = pytest.mark.slow


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:
        return 0, b""


def uvicorn(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "chatbot.asgi:application",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]


def readyz_of_app_with(**environment: str) -> tuple[int, dict]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with running(
        uvicorn(port),
        environment=child_environment(**environment),
        ready=lambda: fetch(url + "/healthz")[0] == 200,
    ):
        status, body = fetch(url + "/readyz")
    return status, json.loads(body)


@pytest.mark.django_db
def test_the_web_process_loads_the_embedding_model_as_it_starts_and_readiness_says_when_it_is_ready():
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with running(
        uvicorn(port),
        # The torch backend takes seconds to load, long enough to see "warming"; ONNX (the default) loads in about
        # one, often before the first probe.
        environment=child_environment(EMBEDDING_PRELOAD="true", EMBEDDING_BACKEND="sentence-transformers"),
        ready=lambda: fetch(url + "/healthz")[0] == 200,
    ):
        status, body = fetch(url + "/readyz")
        first = json.loads(body)
        assert status == 200, first
        assert first["status"] == "warming" and first["checks"]["embeddings"].startswith("loading for"), first
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:  # nothing asks for an embedding meanwhile: the start-up loads it
            status, body = fetch(url + "/readyz")
            if json.loads(body)["status"] != "warming":
                break
            time.sleep(0.5)
        assert status == 200 and json.loads(body)["checks"]["embeddings"] == "ok", body


@pytest.mark.django_db
def test_readyz_names_an_unreachable_database_in_one_line():
    status, body = readyz_of_app_with(DATABASE_URL=f"postgresql://nobody@127.0.0.1:{free_port()}/nothing")
    assert status == 503
    assert body["failing"][0] == "database"
    assert body["checks"]["database"].startswith("unreachable: ")
    assert "\n" not in body["checks"]["database"]
    assert body["checks"]["migrations"] == "skipped: database unreachable"
    assert body["checks"]["redis"] == "ok"


@pytest.mark.django_db
def test_readyz_names_unreachable_redis(tmp_path):
    status, body = readyz_of_app_with(REDIS_URL=f"unix://{tmp_path}/no-redis.sock")
    assert status == 503
    assert body["failing"] == ["redis"]
    assert body["checks"]["database"] == "ok"


@pytest.mark.django_db(transaction=True)
def test_readyz_names_unapplied_migrations_and_missing_pgvector():
    name = f"readyz_{uuid.uuid4().hex[:8]}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        status, body = readyz_of_app_with(DATABASE_URL=database_url_for_tests(name))
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    assert status == 503
    assert body["failing"] == ["migrations", "pgvector"]
    assert "unapplied migration(s)" in body["checks"]["migrations"]
    assert "not installed" in body["checks"]["pgvector"]


def launcher(*args: str, var_dir, **environment: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(VAR_DIR=str(var_dir), **environment)
    return subprocess.Popen(
        [sys.executable, "-m", "chatbot.embedded", *args],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def embedded_server_pids(var_dir) -> dict[str, int]:
    pids = {}
    postmaster = var_dir / "postgres" / "postmaster.pid"
    if postmaster.exists():
        pids["postgres"] = int(postmaster.read_text().splitlines()[0])
    redis_pid = var_dir / "redis.pid"
    if redis_pid.exists():
        pids["redis"] = int(redis_pid.read_text().strip())
    return pids


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_run_serves_the_app_and_ctrl_c_leaves_no_process_behind(tmp_path):
    port = free_port()
    process = launcher("run", var_dir=tmp_path, PORT=str(port))
    try:
        deadline = time.monotonic() + 90
        while fetch(f"http://127.0.0.1:{port}/readyz")[0] != 200:
            assert process.poll() is None, process.communicate()[1].decode()
            assert time.monotonic() < deadline, "the app did not become ready in 90 s"
            time.sleep(0.25)
        status, page = fetch(f"http://127.0.0.1:{port}/")
        assert status == 200
        assert b"Answers from your own documents" in page
        servers = embedded_server_pids(tmp_path)
        assert set(servers) == {"postgres", "redis"}
        children = psutil.Process(process.pid).children(recursive=True)
        assert {"web", "worker", "beat"} <= {
            "web" if "uvicorn" in " ".join(c.cmdline()) else ("beat" if " beat" in " ".join(c.cmdline()) else "worker")
            for c in children
        }
    finally:
        process.send_signal(signal.SIGINT)  # what Ctrl-C delivers
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr.decode()
    assert f"http://127.0.0.1:{port}/" in stdout.decode()
    for name, pid in servers.items():
        assert not alive(pid), f"{name} (pid {pid}) survived Ctrl-C"
    for child in children:
        assert not alive(child.pid), f"{child.cmdline()} survived Ctrl-C"


def sleeping_launcher(var_dir) -> subprocess.Popen:
    """A launcher holding the embedded servers of var_dir, as `make run` would, once wait_for_servers returns."""
    return launcher("exec", "--", sys.executable, "-c", "import time; time.sleep(120)", var_dir=var_dir)


def wait_for_servers(var_dir) -> dict[str, int]:
    deadline = time.monotonic() + 120  # a fresh initdb on a busy two-core machine took over 60 s
    while len(embedded_server_pids(var_dir)) < 2 or not (var_dir / "redis.sock").exists():
        assert time.monotonic() < deadline, "the embedded servers did not start in 120 s"
        time.sleep(0.2)
    time.sleep(0.5)
    return embedded_server_pids(var_dir)


def connect_through_launcher(var_dir) -> str:
    """Run one command that reaches the database through a new launcher; what that launcher wrote to stderr."""
    process = launcher(
        "exec", "--", sys.executable, "manage.py", "shell", "-c",
        "from django.db import connection; connection.ensure_connection(); print('connected')",
        var_dir=var_dir,
    )  # fmt: skip
    stdout, stderr = process.communicate(timeout=90)
    assert process.returncode == 0, stderr.decode()
    assert "connected" in stdout.decode()
    return stderr.decode()


def test_a_killed_run_leaves_servers_the_next_run_adopts_and_stops(tmp_path):
    first = sleeping_launcher(tmp_path)
    orphans = wait_for_servers(tmp_path)
    os.killpg(first.pid, signal.SIGKILL)  # no chance to clean up
    first.wait()
    assert all(alive(pid) for pid in orphans.values())

    connect_through_launcher(tmp_path)
    for name, pid in orphans.items():
        assert not alive(pid), f"the stale {name} was not stopped by the next run"


def test_a_second_launcher_leaves_the_servers_of_a_running_one_alone_and_the_last_out_stops_them(tmp_path):
    # `make run` in one terminal, `make services-shell` (seed_demo) in another: leaving the shell must not take the
    # database and Redis away from the running app.
    first = sleeping_launcher(tmp_path)
    try:
        servers = wait_for_servers(tmp_path)
        stderr = connect_through_launcher(tmp_path)
        for name, pid in servers.items():
            assert alive(pid), f"{name} was stopped under the launcher still using it"
        assert "left running for the other launcher(s) using them" in stderr
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
    for name, pid in servers.items():
        assert not alive(pid), f"the last launcher out did not stop {name}"
    assert not list((tmp_path / "launchers").iterdir())


def test_an_unreachable_database_url_is_one_clear_line(tmp_path):
    process = launcher("run", var_dir=tmp_path, DATABASE_URL=f"postgresql://app:secret@127.0.0.1:{free_port()}/chatbot")
    _stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    lines = stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: cannot reach the database app@127.0.0.1:")
    assert "secret" not in lines[0]
    assert not (tmp_path / "postgres").exists(), "no embedded server is started when DATABASE_URL is set"


def test_a_port_whose_last_connections_are_still_closing_is_free_again():
    import socket

    from chatbot.embedded import _free_port

    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn's listener does
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    accepted.close()  # the server side closes first: its end of the connection waits in TIME_WAIT
    client.close()
    server.close()
    time.sleep(0.1)  # the FIN exchange settles: the port now has only a connection in TIME_WAIT
    assert _free_port("127.0.0.1", port) == port
    held = socket.socket()
    held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    held.bind(("127.0.0.1", port))
    held.listen()
    try:
        assert _free_port("127.0.0.1", port) != port, "a port someone listens on is still taken"
    finally:
        held.close()


def test_make_test_installs_chromium_or_says_the_one_command_to_run(tmp_path):
    script = str(BASE_DIR / "scripts" / "ensure-chromium.sh")
    present = subprocess.run(["bash", script], env={"CHROMIUM": "/bin/sh", "PATH": os.environ["PATH"]})
    assert present.returncode == 0
    # No chromium and no apt to install it with: stop, and say how.
    (tmp_path / "id").symlink_to("/usr/bin/id")
    missing = subprocess.run(
        ["/bin/bash", script], env={"CHROMIUM": "/nonexistent", "PATH": str(tmp_path)}, capture_output=True, text=True
    )
    assert missing.returncode == 1
    assert "sudo apt-get install chromium" in missing.stderr


def test_the_embedded_postgres_runs_with_the_launchers_shared_buffers(tmp_path):
    # initdb's 128 MB made retrieval read thousands of pages back from the OS at 100,000 chunks.
    def shown(size: str) -> str:
        process = launcher(
            "exec", "--", sys.executable, "manage.py", "shell", "-c",
            "from django.db import connection\n"
            "with connection.cursor() as cursor:\n"
            "    cursor.execute('SHOW shared_buffers'); print(cursor.fetchone()[0])",
            var_dir=tmp_path, POSTGRES_SHARED_BUFFERS=size,
        )  # fmt: skip
        stdout, stderr = process.communicate(timeout=180)
        assert process.returncode == 0, stderr.decode()[-2000:]
        return stdout.decode().split()[-1]

    assert shown("200MB") == "200MB"  # a new cluster: made, then started once more with the setting
    assert shown("256MB") == "256MB"  # a changed setting: applied at the next start
