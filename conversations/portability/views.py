"""Export and import: one chat as Markdown or JSON (the chat's menu), and Settings → Your data: the full export
(a Celery job with a progress bar, downloadable for 24 hours by its owner only) and importing chats."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import registered_required
from accounts.models import DataExport
from chatbot.downloads import content_disposition, protect, stored_file_response
from chatbot.ratelimit import hit, peek
from chatbot.text import after_colon
from conversations.portability import exports, full_export, import_reading, imports

IMPORTS_PER_HOUR = 10  # imports that brought something in; a refused file is not one
# Every file read, refused ones too: a person fixing a file never meets this, a loop sending 50 MB files does.
IMPORT_ATTEMPTS_PER_HOUR = 60


@login_required
@require_GET
def conversation_export(request: HttpRequest, conversation_id: uuid.UUID, kind: str) -> HttpResponse:
    """One of the user's chats as a file: `json` (every branch, this app's import format) or `md`."""
    if kind not in ("json", "md"):
        raise Http404
    conversation = exports.conversation_for_export(user=request.user, conversation_id=conversation_id)
    stem = f"{conversation.created_at:%Y-%m-%d}-{exports_slug(conversation.title)}"
    if kind == "json":
        import json

        body = json.dumps(exports.export_document([conversation]), ensure_ascii=False, indent=2)
        response = HttpResponse(body, content_type="application/json; charset=utf-8")
        filename = f"{stem}.json"
    else:
        response = HttpResponse(
            exports.conversation_markdown(conversation), content_type="text/markdown; charset=utf-8"
        )
        filename = f"{stem}.md"
    response["Content-Disposition"] = content_disposition("attachment", filename)
    protect(response)
    response["Cache-Control"] = "private, no-store"
    return response


def exports_slug(title: str) -> str:
    from conversations.portability.full_export import _slug

    return _slug(title, "chat")


def _latest_export(user) -> DataExport | None:
    return DataExport.objects.filter(user=user).order_by("-created_at").first()


def _data_page(request: HttpRequest, *, status: int = 200, already: list | None = None) -> HttpResponse:
    context = {
        "section": "data",
        "export": _latest_export(request.user),
        "now": timezone.now(),
        "max_import_mb": import_reading.MAX_IMPORT_BYTES // (1024 * 1024),
        "already_imported": already or [],
    }
    return render(request, "accounts/data.html", context, status=status)


@registered_required
@require_GET
def data_page(request: HttpRequest) -> HttpResponse:
    return _data_page(request)


@registered_required
@require_POST
def data_export_start(request: HttpRequest) -> HttpResponse:
    # The email's link goes to this page (by its absolute URL: the worker has no request to build it from), where
    # the download is, for its owner once signed in.
    page_url = request.build_absolute_uri(reverse("accounts:data"))
    try:
        export = full_export.data_export_request(user=request.user, download_url=page_url)
    except full_export.ExportRefused as exc:
        if request.htmx:
            return render(request, "conversations/partials/composer_error.html", {"error": str(exc)}, status=400)
        messages.error(request, str(exc))
        return redirect("accounts:data")
    if request.htmx:
        # The button, pressed, now builds a new export beside this one: its label follows (out of band).
        context = {"export": export, "now": timezone.now(), "oob_button": True}
        return render(request, "accounts/partials/data_export_status.html", context)
    messages.success(request, "Your export is being built; this page shows its progress.")
    return redirect("accounts:data")


@registered_required
@require_GET
def data_export_status(request: HttpRequest, export_id: uuid.UUID) -> HttpResponse:
    """The export's progress for the polling bar: 286 (htmx stops polling) once it is ready or failed."""
    export = get_object_or_404(DataExport, id=export_id, user=request.user)
    finished = export.status in (DataExport.Status.READY, DataExport.Status.FAILED)
    context = {"export": export, "now": timezone.now(), "oob_button": True}  # the button's label follows it
    return render(request, "accounts/partials/data_export_status.html", context, status=286 if finished else 200)


@registered_required
@require_GET
def data_export_download(request: HttpRequest, export_id: uuid.UUID) -> HttpResponse:
    export = full_export.data_export_for_download(user=request.user, export_id=export_id)
    name = export.file.name.rsplit("/", 1)[-1]
    response = stored_file_response(request=request, file=export.file, filename=name, mime_type="application/zip")
    response["Cache-Control"] = "private, no-store"
    return response


@registered_required
@require_POST
def chats_import(request: HttpRequest) -> HttpResponse:
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, "Choose a file to import.")
        return _data_page(request, status=400)
    key = str(request.user.id)
    allowed, retry_after = hit(
        scope="chat-import-attempt", key=key, limit=IMPORT_ATTEMPTS_PER_HOUR, window_seconds=3600
    )
    if allowed and peek(scope="chat-import", key=key, window_seconds=3600) >= IMPORTS_PER_HOUR:
        allowed = False
    if not allowed:
        messages.error(request, f"Too many imports this hour; try again in {max(1, retry_after // 60)} minutes.")
        return _data_page(request, status=429)
    if upload.size > import_reading.MAX_IMPORT_BYTES:
        limit = import_reading.MAX_IMPORT_BYTES // (1024 * 1024)
        messages.error(request, f"The file is too large (the limit is {limit} MB).")
        return _data_page(request, status=400)
    try:
        result = imports.import_file(user=request.user, name=upload.name, data=upload.read())
    except import_reading.ImportRefused as exc:
        messages.error(request, after_colon("Nothing was imported", str(exc)))
        return _data_page(request, status=400)
    count = len(result.created)
    if not count:
        # The same file again: nothing new, and the chats it made the first time are linked from the page.
        messages.info(request, "Nothing new was imported: this file's chats were already imported.")
        return _data_page(request, already=result.already)
    hit(scope="chat-import", key=key, limit=IMPORTS_PER_HOUR, window_seconds=3600)
    left_out = []
    if result.already:
        left_out.append(f"{len(result.already)} already imported")
    if result.empty:
        left_out.append(f"{result.empty} without messages")
    said = f" ({' and '.join(left_out)} left out)" if left_out else ""
    messages.success(request, f"Imported {count} conversation{'s' if count != 1 else ''}{said}.")
    if count == 1:
        return redirect("conversations:detail", result.created[0].id)
    return redirect("conversations:index")
