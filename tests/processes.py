"""Real processes for tests: a Celery worker and the app under uvicorn, against the test database."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

BASE_DIR = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url_for_tests(name: str | None = None) -> str:
    """DATABASE_URL of the database pytest-django created (or another on that server), for child processes."""
    params = dict(connection.settings_dict)
    params["NAME"] = name or params["NAME"]
    auth = params["USER"] + (f":{params['PASSWORD']}" if params["PASSWORD"] else "")
    if params["HOST"].startswith("/"):
        return f"postgresql://{auth}@/{params['NAME']}?host={params['HOST']}"
    return f"postgresql://{auth}@{params['HOST']}:{params['PORT'] or 5432}/{params['NAME']}"


def child_environment(**overrides: str) -> dict[str, str]:
    environment = dict(os.environ)
    environment["DATABASE_URL"] = database_url_for_tests()
    # Short-lived test processes need not load the embedding model at start; whoever embeds loads it then.
    environment.setdefault("EMBEDDING_PRELOAD", "false")
    environment.update(overrides)
    return environment


@contextmanager
def running(command: list[str], *, environment: dict[str, str], ready: callable, timeout: float = 60) -> Iterator:
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed below, after the process
    process = subprocess.Popen(
        command, env=environment, cwd=BASE_DIR, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"{command} did not become ready:\n{log.read().decode(errors='replace')[-3000:]}")
            time.sleep(0.1)
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()


def celery_command(*extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "chatbot",
        "worker",
        "--pool=solo",
        "--loglevel=INFO",
        *extra,
    ]
