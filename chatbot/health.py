"""Readiness checks: each returns None when healthy, or one line saying what is wrong."""

from __future__ import annotations

from collections.abc import Callable

from django.core.cache import cache
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor

from chatbot.env import database_problem

_migrations_applied = False


def check_database() -> str | None:
    # A direct connection first: it fails fast with the real reason, where the pool would wait and say "timeout".
    problem = database_problem(connection.settings_dict)
    if problem:
        return f"unreachable: {problem}"
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return f"unreachable: {_first_line(exc)}"
    return None


def check_migrations() -> str | None:
    global _migrations_applied
    # Migrations do not un-apply themselves: once seen complete, skip loading the graph on every probe.
    if _migrations_applied:
        return None
    try:
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as exc:
        return f"cannot read migration state: {_first_line(exc)}"
    if pending:
        return f"{len(pending)} unapplied migration(s), first {pending[0][0].app_label}.{pending[0][0].name}"
    _migrations_applied = True
    return None


def check_pgvector() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            row = cursor.fetchone()
    except DatabaseError as exc:
        return f"cannot check: {_first_line(exc)}"
    return None if row else "extension 'vector' is not installed (run manage.py migrate)"


def check_redis() -> str | None:
    try:
        client = cache._cache.get_client(write=True)  # the same connection pool the app uses
        client.ping()
    except Exception as exc:  # redis raises several unrelated error types for an unreachable server
        return f"unreachable: {_first_line(exc)}"
    return None


CHECKS: dict[str, Callable[[], str | None]] = {
    "database": check_database,
    "migrations": check_migrations,
    "pgvector": check_pgvector,
    "redis": check_redis,
}


def warm_up_checks() -> dict[str, tuple[str, str]]:
    """What a process loads in the background after it starts: {name: (state, words)}; "loading" is not a fault."""
    from documents.embedding import warm_up_state

    return {"embeddings": warm_up_state()}


def run_checks() -> dict[str, str]:
    results: dict[str, str] = {}
    database_down = False
    for name, check in CHECKS.items():
        if database_down and name in {"migrations", "pgvector"}:
            results[name] = "skipped: database unreachable"
            continue
        problem = check()
        results[name] = problem or "ok"
        database_down = database_down or (name == "database" and problem is not None)
    return results


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
