"""Retention and housekeeping (seed 001's retention table): what `manage.py cleanup` and the daily beat job do.

| data | policy | rule here |
|---|---|---|
| active conversations | keep | pinned ones, and any touched in the last CONVERSATION_ARCHIVE_DAYS, are never touched |
| inactive conversations | archive, then delete | archived (archived_at set, restorable by the user) once untouched for
  CONVERSATION_ARCHIVE_DAYS (0: never); deleted CONVERSATION_RETENTION_DAYS after archiving (0, the default: kept) |
| system messages | 30 days | deleted after SYSTEM_MESSAGE_RETENTION_DAYS. The app itself writes none (a conversation's
  system prompt is a field of the conversation); imported conversations can hold some. Their replies are kept:
  a deleted system message's children move up to its parent |
| user messages | archive after 90 days | they go with their conversation's archive |
| deleted user data | immediate purge | account deletion (`purge_user_traces`, below): rows cascade in the
  deleting transaction; files, media folders and Redis keys naming the user's rows go once it commits |

Always, too: expired sessions, the bookkeeping rows of replies finished more than a day ago (a finished reply is
read from its message; the stream row only served the browser while it streamed), and orphaned files (under
MEDIA_ROOT, no row points at them, older than a day so an upload whose row is not committed yet is left alone).

Work is done in batches, each its own short transaction, so no statement holds locks for long (bench/cleanup.py
measures the longest statement over a million messages); a dry run counts and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from accounts.models import Session
from conversations.models import Attachment, Conversation, Message, Stream
from conversations.portability.full_export import expired_data_exports

logger = logging.getLogger(__name__)

FINISHED_STREAM_RETENTION = dt.timedelta(days=1)
ORPHAN_FILE_GRACE = dt.timedelta(days=1)
# Rows per transaction: small enough that a batch (its statements and their cascades) takes well under a second
# (bench/cleanup.py: at 1000 a batch of messages took about a second on a busy 2-core machine).
BATCH = 500
CONVERSATION_BATCH = 50


def cleanup_run(
    *,
    dry_run: bool = False,
    archive_days: int | None = None,
    retention_days: int | None = None,
    system_message_days: int | None = None,
) -> dict[str, int]:
    """Apply every retention rule; returns how many rows or files each rule changed (or, dry, would change)."""
    now = timezone.now()
    archive_days = settings.CONVERSATION_ARCHIVE_DAYS if archive_days is None else archive_days
    retention_days = settings.CONVERSATION_RETENTION_DAYS if retention_days is None else retention_days
    system_days = settings.SYSTEM_MESSAGE_RETENTION_DAYS if system_message_days is None else system_message_days

    rules: dict[str, tuple[models.QuerySet | None, object]] = {
        "expired sessions": (Session.objects.filter(expire_date__lt=now), _delete_in_batches),
        "finished reply streams": (
            Stream.objects.exclude(status=Stream.Status.ACTIVE).filter(finished_at__lt=now - FINISHED_STREAM_RETENTION),
            _delete_in_batches,
        ),
        # A full export is downloadable for 24 hours (conversations/portability/full_export.py).
        "expired data exports": (expired_data_exports(now=now), _delete_in_batches),
        # Uploads never sent (a composer closed with files on it); their bytes go after commit with the last row
        # naming them (conversations/attachments.py).
        "unsent attachments deleted": (
            Attachment.objects.filter(message__isnull=True, created_at__lt=now - ORPHAN_FILE_GRACE),
            _delete_in_batches,
        ),
    }
    if archive_days > 0:
        rules["inactive conversations archived"] = (
            _untouched(Conversation.objects.filter(archived_at__isnull=True), now - dt.timedelta(days=archive_days)),
            lambda queryset: _archive_in_batches(queryset, now=now),
        )
    if retention_days > 0:
        rules["archived conversations deleted"] = (
            _untouched(
                Conversation.objects.filter(archived_at__lt=now - dt.timedelta(days=retention_days)),
                now - dt.timedelta(days=retention_days),
            ),
            _delete_conversations,
        )
    if system_days > 0:
        rules["system messages deleted"] = (
            Message.objects.filter(role=Message.Role.SYSTEM, created_at__lt=now - dt.timedelta(days=system_days)),
            _delete_system_messages,
        )

    counts: dict[str, int] = {}
    for label, (queryset, apply) in rules.items():
        started = time.monotonic()
        counts[label] = queryset.count() if dry_run else apply(queryset)
        if not dry_run:
            logger.info("cleanup: %s: %d (%.1f s)", label, counts[label], time.monotonic() - started)
    counts["orphaned files deleted"] = delete_orphaned_files(now=now, dry_run=dry_run)
    if not dry_run:
        logger.info("cleanup: orphaned files deleted: %d", counts["orphaned files deleted"])
    return counts


def _untouched(queryset: models.QuerySet, cutoff: dt.datetime) -> models.QuerySet:
    """Conversations nobody has touched since cutoff: not pinned, no reply streaming in them right now."""
    return queryset.filter(updated_at__lt=cutoff, pinned=False).exclude(streams__status=Stream.Status.ACTIVE)


def _ids(queryset: models.QuerySet, size: int) -> list:
    return list(queryset.order_by().values_list("pk", flat=True)[:size])


def _delete_in_batches(queryset: models.QuerySet) -> int:
    deleted = 0
    while ids := _ids(queryset, BATCH):
        with transaction.atomic():
            queryset.model.objects.filter(pk__in=ids).delete()
        deleted += len(ids)
    return deleted


def _archive_in_batches(queryset: models.QuerySet, *, now: dt.datetime) -> int:
    # Only archived_at changes: updated_at stays the last activity, which the deletion rule also reads.
    archived = 0
    while ids := _ids(queryset, BATCH):
        archived += Conversation.objects.filter(pk__in=ids, archived_at__isnull=True).update(archived_at=now)
    return archived


def _delete_conversations(queryset: models.QuerySet) -> int:
    """Delete conversations a few at a time, their messages a batch per transaction first, newest first: a
    message's replies are newer than it, so each batch's cascade finds its children already gone, and no single
    statement scans a whole long conversation."""
    deleted = 0
    while ids := _ids(queryset, CONVERSATION_BATCH):
        messages = Message.objects.filter(conversation_id__in=ids).order_by("-created_at")
        while message_ids := list(messages.values_list("pk", flat=True)[:BATCH]):
            with transaction.atomic():
                # Only the ids are read back: the cascade needs nothing else, and a long message costs to load.
                Message.objects.filter(pk__in=message_ids).only("pk").delete()
        with transaction.atomic():
            Conversation.objects.filter(pk__in=ids).delete()
        deleted += len(ids)
    return deleted


def _delete_system_messages(queryset: models.QuerySet) -> int:
    deleted = 0
    while ids := _ids(queryset, BATCH):
        with transaction.atomic():
            doomed = set(ids)
            # Lift the children of a deleted message to its parent (repeatedly: a system message may sit under
            # another), so deleting it does not cascade to the conversation's replies.
            while moved := list(Message.objects.filter(parent_id__in=doomed).values_list("pk", "parent__parent_id")):
                for pk, grandparent in moved:
                    Message.objects.filter(pk=pk).update(parent_id=grandparent)
            parent = Message.objects.filter(pk=OuterRef("active_leaf_id")).values("parent_id")[:1]
            Conversation.objects.filter(active_leaf_id__in=doomed).update(active_leaf_id=Subquery(parent))
            Message.objects.filter(pk__in=ids).delete()
        deleted += len(ids)
    return deleted


# --- Files ----------------------------------------------------------------------------------------------------


def file_fields() -> Iterator[tuple[type[models.Model], str]]:
    """Every FileField of every model (attachments, documents, exports, whatever is added later)."""
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if isinstance(field, models.FileField) and model._meta.managed:
                yield model, field.name


def referenced_files() -> set[str]:
    names: set[str] = set()
    for model, field in file_fields():
        names.update(
            name for name in model._default_manager.exclude(**{field: ""}).values_list(field, flat=True).iterator()
        )
    return names


def delete_orphaned_files(*, now: dt.datetime, dry_run: bool = False) -> int:
    """Delete files under MEDIA_ROOT no row points at (older than the grace period), then empty folders."""
    root = Path(settings.MEDIA_ROOT)
    if not root.is_dir():
        return 0
    referenced = referenced_files()
    cutoff = (now - ORPHAN_FILE_GRACE).timestamp()
    count = 0
    for directory, _subdirectories, filenames in os.walk(root, topdown=False):
        for filename in filenames:
            path = Path(directory) / filename
            name = path.relative_to(root).as_posix()
            if name in referenced or path.is_symlink() or path.stat().st_mtime > cutoff:
                continue
            count += 1
            if not dry_run:
                path.unlink(missing_ok=True)
                logger.info("cleanup: deleted orphaned file %s", name)
        if not dry_run and Path(directory) != root and not os.listdir(directory):
            Path(directory).rmdir()
    return count


# --- Account purge --------------------------------------------------------------------------------------------

UUID_PATTERN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}")


def _cascades_from(model: type[models.Model]) -> Iterator[tuple[type[models.Model], str]]:
    """The models whose rows a deletion of `model`'s rows deletes too, each with its foreign key's name."""
    for relation in model._meta.related_objects:
        if getattr(relation, "on_delete", None) is models.CASCADE and relation.field.concrete:
            yield relation.related_model, relation.field.name


def owned_rows(user_ids: list[uuid.UUID]) -> dict[type[models.Model], set]:
    """The primary keys of every row deleted with these users, by model (cascades, read from the model graph; the
    users themselves are not included)."""
    from django.contrib.auth import get_user_model

    seen: dict[type[models.Model], set] = {}
    frontier: list[tuple[type[models.Model], list]] = [(get_user_model(), list(user_ids))]
    while frontier:
        model, pks = frontier.pop()
        for related, field in _cascades_from(model):
            rows = related._default_manager.filter(**{f"{field}__in": pks}).values_list("pk", flat=True)
            known = seen.setdefault(related, set())
            fresh = [pk for pk in rows if pk not in known]
            known.update(fresh)
            if fresh:
                frontier.append((related, fresh))
    return {model: pks for model, pks in seen.items() if pks}


def owned_counts(user_ids: list[uuid.UUID]) -> dict[type[models.Model], int]:
    """How many rows of each model go with these users, counted by the database (the admin's confirmation page).

    The same cascades as owned_rows, as nested subqueries instead of lists of keys: for a user with 8,000 rows
    that was 0.6 s of Python. A model's cascade onto itself (a message's replies) adds no row its other paths do
    not reach (the replies are in the same conversation) and is left out; a cycle between models, which the schema
    has not, falls back to owned_rows."""
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    edges: dict[type[models.Model], list[tuple[type[models.Model], str]]] = {}  # model: [(parent, field)]
    pending, seen = [user_model], {user_model}
    while pending:
        model = pending.pop()
        for related, field in _cascades_from(model):
            if related is model:
                continue
            edges.setdefault(related, []).append((model, field))
            if related not in seen:
                seen.add(related)
                pending.append(related)
    querysets = {user_model: user_model._default_manager.filter(pk__in=user_ids)}
    while len(querysets) < len(seen):
        ready = [m for m in seen - set(querysets) if all(parent in querysets for parent, _ in edges[m])]
        if not ready:
            return {model: len(pks) for model, pks in owned_rows(user_ids).items()}
        for model in ready:
            paths = Q()
            for parent, field in edges[model]:
                paths |= Q(**{f"{field}__in": querysets[parent].values("pk")})
            querysets[model] = model._default_manager.filter(paths)
    counts = {model: queryset.count() for model, queryset in querysets.items() if model is not user_model}
    return {model: count for model, count in counts.items() if count}


def owned_ids(user_id: uuid.UUID) -> set[uuid.UUID]:
    """The ids of the user and of every row deleted with them: Redis keys and media folders are named after these."""
    rows = owned_rows([user_id])
    return {user_id} | {pk for pks in rows.values() for pk in pks if isinstance(pk, uuid.UUID)}


def _named_ids(key: str) -> set[uuid.UUID]:
    return {uuid.UUID(match) for match in UUID_PATTERN.findall(key.lower())}


def purge_user_traces(*, user_id: uuid.UUID, ids: set[uuid.UUID]) -> dict[str, int]:
    """After an account's rows are deleted: remove its media folders and every Redis key naming one of its rows
    (reply streams and their stop/alive flags, pending titles, rate-limit counters)."""
    folders = 0
    root = Path(settings.MEDIA_ROOT)
    if root.is_dir():
        for top in root.iterdir():
            folder = top / str(user_id)
            if top.is_dir() and folder.is_dir() and not folder.is_symlink():
                shutil.rmtree(folder)
                folders += 1
    keys = 0
    client = _redis()
    try:
        doomed = []
        for key in client.scan_iter(count=1000):
            if _named_ids(key.decode(errors="replace")) & ids:
                doomed.append(key)
        for start in range(0, len(doomed), BATCH):
            keys += client.delete(*doomed[start : start + BATCH])
    finally:
        client.close()
    logger.info("purged user %s: %d media folders, %d Redis keys", user_id, folders, keys)
    return {"media folders": folders, "redis keys": keys}


def _redis():
    import redis

    return redis.Redis.from_url(settings.REDIS_URL)


def _user_about_to_be_deleted(sender: type, instance: models.Model, **kwargs) -> None:
    # Whatever deletes the user (their own request, the admin, the guest purge): the ids are read now, while the
    # rows exist, and the traces outside the database go once the deletion commits (never if it rolls back).
    user_id = instance.pk
    ids = owned_ids(user_id)
    transaction.on_commit(lambda: purge_user_traces(user_id=user_id, ids=ids), robust=True)


def connect_signals() -> None:
    from django.contrib.auth import get_user_model
    from django.db.models.signals import pre_delete

    pre_delete.connect(_user_about_to_be_deleted, sender=get_user_model(), dispatch_uid="cleanup-user-purge")


def longest_statement() -> _StatementTimer:
    return _StatementTimer()


class _StatementTimer:
    """connection.execute_wrapper timing every statement: the longest is what a cleanup run may hold locks for."""

    def __init__(self) -> None:
        self.longest = 0.0
        self.sql = ""
        self.count = 0
        self.by_statement: dict[str, float] = {}  # total seconds per statement, its parameters' list shortened

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            elapsed = time.perf_counter() - started
            self.count += 1
            shape = re.sub(r"(%s, )+%s", "…", sql)[:120]
            self.by_statement[shape] = self.by_statement.get(shape, 0.0) + elapsed
            if elapsed > self.longest:
                self.longest, self.sql = elapsed, sql

    def __enter__(self) -> _StatementTimer:
        self._wrapper = connection.execute_wrapper(self)
        self._wrapper.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._wrapper.__exit__(*exc)
