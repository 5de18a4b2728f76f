"""Everything a user owns, as one zip (GDPR-style), built by a Celery job with its progress saved as it goes.

The zip holds: conversations.json (every chat, this app's import format: import the zip to get them back), one
Markdown file per chat, each document's original file and versions, the preferences and settings, projects, the
feedback they sent and the API keys' audit log. Never a key: not even encrypted, nor its last characters.
It is downloadable by its owner for EXPORT_LIFETIME, then the cleanup job deletes it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import tempfile
import zipfile

from django.core.files import File
from django.db import transaction
from django.utils import timezone

from accounts.models import DataExport, User
from chatbot.downloads import safe_filename

logger = logging.getLogger(__name__)

EXPORT_LIFETIME = dt.timedelta(hours=24)
# One export at a time per user, and a few a day: each one reads everything they own.
EXPORTS_PER_DAY = 5
STUCK_AFTER = dt.timedelta(hours=1)


class ExportRefused(ValueError):
    pass


def data_export_request(*, user: User, download_url: str = "") -> DataExport:
    """A new export of `user`'s data, queued after the transaction commits (the worker must find its row)."""
    from accounts.tasks import build_data_export
    from chatbot.ratelimit import hit

    busy = DataExport.objects.filter(
        user=user,
        status__in=[DataExport.Status.PENDING, DataExport.Status.RUNNING],
        created_at__gt=timezone.now() - STUCK_AFTER,  # a job lost with its worker does not block the next one
    )
    if busy.exists():
        raise ExportRefused("An export is already being built: wait for it to finish.")
    allowed, _ = hit(scope="data-export", key=str(user.id), limit=EXPORTS_PER_DAY, window_seconds=86_400)
    if not allowed:
        raise ExportRefused(f"You can ask for {EXPORTS_PER_DAY} exports a day; try again tomorrow.")
    export = DataExport.objects.create(user=user)
    transaction.on_commit(lambda: build_data_export.delay(str(export.id), download_url))
    return export


def data_export_for_download(*, user: User, export_id) -> DataExport:
    """The user's export while it is ready and not expired; 404 for anyone else's, or once it has expired."""
    from django.shortcuts import get_object_or_404

    return get_object_or_404(
        DataExport, id=export_id, user=user, status=DataExport.Status.READY, expires_at__gt=timezone.now()
    )


def _progress(export: DataExport, percent: int) -> None:
    percent = max(0, min(99, percent))  # 100 only with the file
    if percent != export.progress:
        export.progress = percent
        DataExport.objects.filter(id=export.id).update(progress=percent)


def _json(value) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=2, default=str).encode()


_SLUG = re.compile(r"[^\w-]+")


def _slug(text: str, fallback: str) -> str:
    return (_SLUG.sub("-", text or "").strip("-")[:60] or fallback).lower()


def _settings_data(user: User) -> dict:
    from accounts.services import auto_approval_settings_get, preferences_get, retrieval_settings_get

    preferences = preferences_get(user=user)
    retrieval = retrieval_settings_get(user=user)
    approval = auto_approval_settings_get(user=user)
    return {
        "account": {
            "email": user.email,
            "display_name": user.display_name,
            "created_at": user.created_at,
            "favorite_models": user.favorite_models,
        },
        "preferences": {
            field: getattr(preferences, field)
            for field in (
                "theme",
                "email_notifications",
                "layout",
                "prompt_suggestions",
                "show_tool_invocations",
                "conversation_previews",
                "multi_model_enabled",
                "hidden_models",
                "default_model",
                "default_system_prompt",
            )
        },
        "document_search": {
            field: getattr(retrieval, field)
            for field in ("enabled", "max_results", "similarity_threshold", "preferred_sources", "excluded_sources")
        },
        "tool_approval": {
            field: getattr(approval, field)
            for field in (
                "read_only_operations",
                "low_risk_operations",
                "specific_tools",
                "max_cost_per_tool",
                "max_cost_per_hour",
                "require_approval_for_new_tools",
            )
        },
    }


def _write_attachments(conversations: list, archive: zipfile.ZipFile) -> dict[str, str]:
    """Each stored file the messages' attachments name, once (rows share a stored file), under attachments/;
    returns stored name → path in the zip, which conversations.json records so that an import finds the files.
    A file missing from the storage is left out: the JSON then lists its name only."""
    paths: dict[str, str] = {}
    for conversation in conversations:
        for message in conversation.messages.all():
            for row in message.attachments.all():
                if not row.file.name or row.file.name in paths:
                    continue
                path = f"attachments/{row.content_hash[:16] or str(row.id)[:8]}/{safe_filename(row.original_name)}"
                if path in archive.NameToInfo:  # the same name and start of hash twice: keep them apart
                    path = f"attachments/{str(row.id)[:8]}/{safe_filename(row.original_name)}"
                try:
                    with (
                        row.file.storage.open(row.file.name, "rb") as handle,
                        archive.open(path, "w", force_zip64=True) as target,
                    ):
                        while chunk := handle.read(1024 * 1024):
                            target.write(chunk)
                except FileNotFoundError:
                    continue
                paths[row.file.name] = path
    return paths


def _write_zip(export: DataExport, archive: zipfile.ZipFile) -> None:
    from accounts.models import Feedback, KeyAuditLog
    from conversations.models import Project
    from conversations.portability.exports import conversation_markdown, export_document, export_queryset
    from documents.models import Document

    user = export.user
    conversations = list(export_queryset(user=user))
    documents = list(Document.objects.filter(owner=user).prefetch_related("versions").order_by("created_at"))
    steps = max(1, len(conversations) + len(documents))
    done = 0
    archive.writestr(
        "README.txt",
        f"Everything your Chatbot account held on {timezone.now():%Y-%m-%d %H:%M} UTC.\n\n"
        "conversations.json  every chat with all its branches, sources, models, usage and votes. Import this zip\n"
        "                    (Settings → Your data) to get the chats back.\n"
        "chats/              each chat as Markdown.\n"
        "attachments/        the files attached to your messages (each stored file once).\n"
        "documents/          each document's original file, its versions and details.\n"
        "settings.json       your account details, preferences and settings.\n"
        "projects.json       your projects.\n"
        "feedback.json       the feedback you sent.\n"
        "key_audit_log.json  what was done with your API keys (never the keys themselves).\n",
    )
    files = _write_attachments(conversations, archive)
    archive.writestr("conversations.json", _json(export_document(conversations, files=files)))
    for conversation in conversations:
        stem = f"{conversation.created_at:%Y-%m-%d}-{_slug(conversation.title, 'chat')}-{str(conversation.id)[:8]}"
        archive.writestr(f"chats/{stem}.md", conversation_markdown(conversation, files))
        done += 1
        _progress(export, done * 90 // steps)
    listing = []
    for document in documents:
        folder = f"documents/{_slug(document.title, 'document')}-{str(document.id)[:8]}"
        entry = {
            "id": str(document.id),
            "title": document.title,
            "kind": document.kind,
            "source": document.source,
            "original_name": document.original_name,
            "mime_type": document.mime_type,
            "size": document.size,
            "status": document.status,
            "created_at": document.created_at,
            "folder": folder,
            "versions": [],
        }
        if document.file:
            original = safe_filename(document.original_name or document.file.name.rsplit("/", 1)[-1])
            try:
                with (
                    document.file.storage.open(document.file.name, "rb") as handle,
                    archive.open(f"{folder}/original/{original}", "w", force_zip64=True) as target,
                ):
                    while chunk := handle.read(1024 * 1024):
                        target.write(chunk)
                entry["original"] = f"{folder}/original/{original}"
            except FileNotFoundError:
                entry["original"] = None  # missing from the storage: listed, not fatal
        for version in document.versions.all():
            path = f"{folder}/versions/v{version.number}.md"
            archive.writestr(path, version.content)
            entry["versions"].append({"number": version.number, "created_by": version.created_by,
                                      "created_at": version.created_at, "file": path})  # fmt: skip
        listing.append(entry)
        done += 1
        _progress(export, done * 90 // steps)
    archive.writestr("documents/documents.json", _json(listing))
    archive.writestr("settings.json", _json(_settings_data(user)))
    # A project's instructions and the titles of its documents (the documents themselves are under documents/).
    projects = [
        {
            "id": str(project.id),  # what a chat's "project_id" names
            "name": project.name,
            "description": project.description,
            "instructions": project.instructions,
            "documents": sorted(document.title for document in project.documents.all()),
            "created_at": project.created_at,
        }
        for project in Project.objects.filter(user=user).prefetch_related("documents").order_by("name")
    ]
    archive.writestr("projects.json", _json(projects))
    archive.writestr(
        "feedback.json",
        _json(list(Feedback.objects.filter(user=user).values("message", "page", "created_at").order_by("created_at"))),
    )
    audit = KeyAuditLog.objects.filter(user=user).order_by("created_at")
    archive.writestr(
        "key_audit_log.json",
        _json(list(audit.values("provider", "action", "success", "error_message", "ip", "user_agent", "created_at"))),
    )
    _progress(export, 95)


def data_export_build(*, export_id, download_url: str = "") -> DataExport | None:
    """Build the zip of an export and mark it ready (or failed), then email its owner that it is ready when their
    preferences say so; None when the export is gone."""
    export = DataExport.objects.select_related("user").filter(id=export_id).first()
    if export is None or export.status not in (DataExport.Status.PENDING, DataExport.Status.RUNNING):
        return export
    DataExport.objects.filter(id=export.id).update(status=DataExport.Status.RUNNING, progress=0)
    try:
        with tempfile.TemporaryFile() as spool:
            with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
                _write_zip(export, archive)
            spool.seek(0)
            name = f"chatbot-export-{timezone.now():%Y-%m-%d}.zip"
            export.file.save(name, File(spool, name=name), save=False)
            export.size = export.file.size
    except Exception as exc:
        logger.exception("Data export %s failed", export.id)
        DataExport.objects.filter(id=export.id).update(
            status=DataExport.Status.FAILED, error=f"The export could not be built ({type(exc).__name__}).",
            finished_at=timezone.now(),
        )  # fmt: skip
        export.refresh_from_db()
        return export
    now = timezone.now()
    updated = DataExport.objects.filter(id=export.id).update(
        status=DataExport.Status.READY, progress=100, file=export.file.name, size=export.size, finished_at=now,
        expires_at=now + EXPORT_LIFETIME,
    )  # fmt: skip
    if not updated:  # deleted meanwhile (the account, say): its file must not stay behind
        export.file.storage.delete(export.file.name)
        return None
    export.refresh_from_db()
    from accounts.notifications import send_security_email

    send_security_email(
        user=export.user, kind="export_ready", context={"download_url": download_url, "expires_at": export.expires_at}
    )
    return export


def expired_data_exports(*, now: dt.datetime):
    """What the cleanup job deletes (each file after its row's deletion commits): exports past their 24 hours,
    and failed or never-finished ones a day old."""
    from django.db.models import Q

    return DataExport.objects.filter(
        Q(expires_at__lt=now) | Q(expires_at__isnull=True, created_at__lt=now - EXPORT_LIFETIME)
    )
