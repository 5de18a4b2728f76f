"""Migrations apply forward from an empty database and reverse to zero cleanly."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

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


# One child process runs every step (seven `manage.py` starts took most of this test's 40 s): it migrates, reports
# the tables and extensions, reverses each app to zero, reports again, migrates forward and then once more.
ROUND_TRIP = """
import io, json
import django
django.setup()
from django.core.management import call_command
from django.db import connection


def report():
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = [row[0] for row in cursor.fetchall()]
        cursor.execute("SELECT extname FROM pg_extension")
        extensions = [row[0] for row in cursor.fetchall()]
    print(json.dumps({"tables": tables, "extensions": extensions}))


call_command("migrate", interactive=False, verbosity=0)
report()
for app in ("documents", "catalog", "conversations", "accounts"):
    call_command("migrate", app, "zero", interactive=False, verbosity=0)
report()
call_command("migrate", interactive=False, verbosity=0)
again = io.StringIO()
call_command("migrate", interactive=False, stdout=again)
print(json.dumps({"again": again.getvalue()}))
"""


def test_migrations_go_forward_from_empty_back_to_zero_and_forward_again():
    name = f"migrations_{uuid.uuid4().hex[:8]}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    url = database_url_for_tests(name)
    try:
        result = subprocess.run(
            [sys.executable, "-c", ROUND_TRIP],
            cwd=BASE_DIR,
            env=child_environment(DATABASE_URL=url, DJANGO_SETTINGS_MODULE="chatbot.settings"),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        forward, reversed_, again = (json.loads(line) for line in result.stdout.splitlines()[-3:])
        assert set(forward["tables"]) >= OUR_TABLES and "vector" in forward["extensions"]
        assert not set(reversed_["tables"]) & OUR_TABLES, set(reversed_["tables"]) & OUR_TABLES
        assert "vector" not in reversed_["extensions"]
        assert "No migrations to apply" in again["again"]
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
