"""The admin's System page (issue 18): seed 001's monitoring queries and what failed in the last day.

Superusers only: it shows every table's size and the text of running queries.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

SLOW_QUERY_SECONDS = 5  # seed 001's threshold for a running query
RECENT = dt.timedelta(days=1)


def _rows(sql: str, params: list | None = None) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        columns = [column.name for column in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def table_sizes() -> list[dict]:
    """Seed 001's "check table sizes", with its live and dead rows (its "table statistics") beside it."""
    return _rows(
        """
        SELECT t.relname AS name, pg_total_relation_size(t.relid) AS bytes,
               pg_size_pretty(pg_total_relation_size(t.relid)) AS size,
               t.n_live_tup AS live_rows, t.n_dead_tup AS dead_rows,
               greatest(t.last_autovacuum, t.last_vacuum) AS last_vacuum
        FROM pg_stat_user_tables t
        WHERE t.schemaname = 'public'
        ORDER BY pg_total_relation_size(t.relid) DESC
        """
    )


def database_size() -> str:
    return _rows("SELECT pg_size_pretty(pg_database_size(current_database())) AS size")[0]["size"]


def connections() -> dict:
    """Seed 001's "active connections", by state, for this database."""
    rows = _rows(
        "SELECT coalesce(state, 'background') AS state, count(*) AS count FROM pg_stat_activity "
        "WHERE datname = current_database() GROUP BY 1 ORDER BY 2 DESC"
    )
    limit = _rows("SELECT current_setting('max_connections')::int AS max")[0]["max"]
    return {"by_state": rows, "total": sum(row["count"] for row in rows), "max": limit}


def running_slow_queries() -> list[dict]:
    """Seed 001's "slow queries": statements running for more than five seconds right now."""
    return _rows(
        """
        SELECT pid, now() - query_start AS duration, left(query, 500) AS query
        FROM pg_stat_activity
        WHERE state = 'active' AND datname = current_database() AND pid <> pg_backend_pid()
          AND now() - query_start > make_interval(secs => %s)
        ORDER BY duration DESC
        """,
        [SLOW_QUERY_SECONDS],
    )


def statement_statistics(limit: int = 10) -> list[dict] | None:
    """The statements with the most total time since statistics were reset, from pg_stat_statements; None when
    the extension is not installed in this database (it needs shared_preload_libraries on the server)."""
    if not _rows("SELECT 1 AS installed FROM pg_extension WHERE extname = 'pg_stat_statements'"):
        return None
    try:
        return _rows(
            """
            SELECT calls, round(total_exec_time::numeric, 1) AS total_ms, round(mean_exec_time::numeric, 1) AS mean_ms,
                   left(query, 500) AS query
            FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
            ORDER BY total_exec_time DESC LIMIT %s
            """,
            [limit],
        )
    except Exception:  # installed but not preloaded: reading it raises
        return None


def stale_index() -> dict[str, int]:
    """How many ready documents were chunked by an older chunker than this version's, or embedded by another model
    than EMBEDDING_MODEL: `manage.py reindex` (or the documents admin's action) redoes them; until then they are
    searched as they were cut, and another model's vectors are not comparable with the questions' at all."""
    from django.conf import settings

    from documents.chunking import CHUNKER_VERSION
    from documents.models import Document
    from documents.selectors import documents_indexed_as_configured

    ready = Document.objects.filter(status=Document.Status.READY)
    other_model = ready.filter(metadata__has_key="embedding_model").exclude(
        metadata__contains={"embedding_model": settings.EMBEDDING_MODEL}
    )
    return {
        "stale": ready.exclude(documents_indexed_as_configured()).count(),
        "ready": ready.count(),
        "version": CHUNKER_VERSION,
        "other_model": other_model.count(),
        "model": settings.EMBEDDING_MODEL,
    }


@dataclass
class Failure:
    when: dt.datetime
    what: str
    detail: str
    url: str


def recent_failures(*, now: dt.datetime | None = None) -> dict[str, list[Failure]]:
    """Failed ingestions and failed replies of the last day, newest first, each linked to its admin page."""
    from conversations.models import Message
    from documents.models import Document

    since = (now or timezone.now()) - RECENT
    documents = Document.objects.filter(status=Document.Status.FAILED, updated_at__gte=since).order_by("-updated_at")
    replies = (
        Message.objects.filter(role=Message.Role.ASSISTANT, status=Message.Status.FAILED, created_at__gte=since)
        .order_by("-created_at")
        .only("id", "conversation_id", "provider", "model", "error", "created_at")
    )
    return {
        "ingestions": [
            Failure(
                when=document.updated_at,
                what=document.title,
                detail=document.error,
                url=reverse("admin:documents_document_change", args=[document.id]),
            )
            for document in documents[:100]
        ],
        "replies": [
            Failure(
                when=message.created_at,
                what=" ".join(part for part in (message.provider, message.model) if part) or "reply",
                detail=message.error,
                url=reverse("admin:conversations_message_change", args=[message.id]),
            )
            for message in replies[:100]
        ],
    }


@staff_member_required
def system_page(request: HttpRequest) -> HttpResponse:
    if not request.user.is_superuser:
        raise PermissionDenied
    from chatbot.metrics import celery_queue_length

    context = {
        **admin.site.each_context(request),
        "title": "System",
        "database_size": database_size(),
        "tables": table_sizes(),
        "connections": connections(),
        "slow_queries": running_slow_queries(),
        "slow_query_seconds": SLOW_QUERY_SECONDS,
        "statements": statement_statistics(),
        "failures": recent_failures(),
        "index": stale_index(),
        "celery_queue": celery_queue_length(),
    }
    return TemplateResponse(request, "admin/system.html", context)
