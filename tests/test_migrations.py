"""Migrations apply forward from an empty database and reverse to zero cleanly."""

from __future__ import annotations

import subprocess
import sys
import uuid

import psycopg
import pytest
from django.db import connection

from tests.processes import BASE_DIR, child_environment, database_url_for_tests

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

OUR_TABLES = {
    "users", "sessions", "user_preferences", "user_retrieval_settings", "user_keys", "api_key_audit_log",
    "auto_approval_settings", "feedback", "projects", "conversations", "messages", "votes", "streams",
    "chat_attachments", "tool_executions", "context_optimizations", "usage_logs", "documents",
    "document_versions", "suggestions", "chunks", "model_catalog",
}  # fmt: skip


def manage(url: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=child_environment(DATABASE_URL=url),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def tables_and_extensions(url: str) -> tuple[set[str], set[str]]:
    from chatbot.env import database_config

    config = database_config(url)
    with psycopg.connect(
        dbname=config["NAME"], user=config["USER"], host=config["HOST"], port=config["PORT"] or None
    ) as conn:
        tables = {row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        extensions = {row[0] for row in conn.execute("SELECT extname FROM pg_extension")}
    return tables, extensions


def test_migrations_go_forward_from_empty_back_to_zero_and_forward_again():
    name = f"migrations_{uuid.uuid4().hex[:8]}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    url = database_url_for_tests(name)
    try:
        manage(url, "migrate", "--no-input")
        tables, extensions = tables_and_extensions(url)
        assert tables >= OUR_TABLES and "vector" in extensions

        for app in ("documents", "catalog", "conversations", "accounts"):
            manage(url, "migrate", app, "zero", "--no-input")
        tables, extensions = tables_and_extensions(url)
        assert not tables & OUR_TABLES, tables & OUR_TABLES
        assert "vector" not in extensions

        manage(url, "migrate", "--no-input")
        assert "No migrations to apply" in manage(url, "migrate", "--no-input")
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
