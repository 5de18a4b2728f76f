"""Attachments in the composer: upload (a chip comes back), remove before sending, the file itself, and "Add to my
documents". Every lookup is scoped to the user (or, for a sent file, to a public conversation): others get 404."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import registered_required
from chatbot import downloads
from chatbot.ratelimit import hit
from conversations import attachments
from conversations.models import Attachment, Conversation


def _error(request: HttpRequest, message: str, status: int = 400) -> HttpResponse:
    return render(request, "conversations/partials/composer_error.html", {"error": message}, status=status)


@login_required
@require_POST
def attachment_upload(request: HttpRequest) -> HttpResponse:
    """One file (attachments.js sends each on its own, for its progress bar); the answer is its composer chip."""
    upload = request.FILES.get("file")
    if upload is None:
        return _error(request, "Choose a file to attach.")
    # Counted before the file is read: each upload is typed, decoded and parsed, which costs the server.
    allowed, retry_after = hit(
        scope="attachment-upload", key=str(request.user.id), limit=settings.ATTACHMENT_UPLOADS_PER_HOUR,
        window_seconds=3600,
    )  # fmt: skip
    if not allowed:
        minutes = max(1, -(-retry_after // 60))
        return _error(
            request,
            f"{upload.name or 'file'}: you have attached {settings.ATTACHMENT_UPLOADS_PER_HOUR} files this hour, "
            f"the most an hour allows; try again in {minutes} minute{'s' if minutes != 1 else ''}.",
            status=429,
        )
    conversation_id = None
    if value := request.POST.get("conversation"):
        try:
            conversation_id = Conversation.objects.only("id").get(id=uuid.UUID(value), user=request.user).id
        except (ValueError, Conversation.DoesNotExist):
            raise Http404 from None
    # Refused before reading: a file far over the limit is never held in memory.
    if upload.size > max(attachments.MAX_FILE_BYTES, attachments.MAX_IMAGE_BYTES):
        name = upload.name or "file"
        return _error(request, f"{name}: files can be at most {attachments._size_text(attachments.MAX_FILE_BYTES)}.")
    try:
        attachment = attachments.attachment_upload(
            user=request.user, filename=upload.name or "file", data=upload.read(), conversation_id=conversation_id
        )
    except attachments.AttachmentQuotaExceeded as exc:
        return _error(request, exc.user_message, status=413)
    except attachments.AttachmentRejected as exc:
        return _error(request, exc.user_message)
    return render(request, "conversations/partials/attachment_chip.html", {"attachment": attachment}, status=201)


def _own(request: HttpRequest, attachment_id: uuid.UUID) -> Attachment:
    try:
        return attachments.attachment_for_owner(user=request.user, attachment_id=attachment_id)
    except Attachment.DoesNotExist:
        raise Http404 from None


@login_required
@require_POST
def attachment_remove(request: HttpRequest, attachment_id: uuid.UUID) -> HttpResponse:
    attachment = _own(request, attachment_id)
    if attachment.message_id is not None:
        return _error(request, "A sent attachment is removed with its message.", status=409)
    attachments.attachment_discard(attachment=attachment)
    return HttpResponse("")


@require_GET
def attachment_file(request: HttpRequest, attachment_id: uuid.UUID) -> HttpResponseBase:
    """The file, to its owner or a reader of the public conversation it was sent in; 404 for everyone else.

    Raster images open inline, anything else downloads (chatbot/downloads.py: nosniff, sandbox CSP)."""
    try:
        attachment = attachments.attachment_for_reader(user=request.user, attachment_id=attachment_id)
    except Attachment.DoesNotExist:
        raise Http404 from None
    return downloads.stored_file_response(
        request=request, file=attachment.file, filename=attachment.original_name, mime_type=attachment.mime_type
    )


@registered_required
@require_POST
def attachment_to_document(request: HttpRequest, attachment_id: uuid.UUID) -> HttpResponse:
    attachment = _own(request, attachment_id)
    try:
        document = attachments.attachment_to_document(attachment=attachment)
    except ValueError as exc:
        if request.htmx:
            return _error(request, str(exc))
        messages.error(request, str(exc))
        return redirect(_back(attachment))
    if request.htmx:
        return render(request, "conversations/partials/attachment_promoted.html", {"document": document})
    messages.success(request, f"{attachment.original_name} is in your documents.")
    return redirect(_back(attachment))


def _back(attachment: Attachment) -> str:
    if attachment.conversation_id is None:
        return reverse("conversations:index")
    anchor = f"#message-{attachment.message_id}" if attachment.message_id else ""
    return reverse("conversations:detail", args=[attachment.conversation_id]) + anchor
