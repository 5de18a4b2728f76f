"""Uploaded files, served back only through views that have checked who may read them.

Files under MEDIA_ROOT have no public URL (`PrivateFileSystemStorage.url` refuses): a view looks the row up scoped
to the user, then answers with `stored_file_response`. Uploads are whatever a user sent, so the response never lets
a browser treat one as a page of this origin: anything but a raster image (typed by its bytes, never its name) is
an attachment, content sniffing is off and a sandboxing Content-Security-Policy applies should it be opened anyway.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from asgiref.sync import sync_to_async
from django.contrib.admin.widgets import AdminFileWidget
from django.core.files import File
from django.core.files.storage import FileSystemStorage
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404, HttpRequest, HttpResponseBase

# Shown inline: the browser decodes these as pictures only, whatever else the bytes contain. SVG is absent on
# purpose (it is a document that runs scripts), as is anything the browser would render as a page.
_IMAGE_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
# Downloads keep a useful type when it is one of these; every other type (HTML, SVG, XML, scripts) is sent as
# application/octet-stream, so even a client that ignores the attachment disposition has nothing to render.
_DOWNLOAD_TYPES = frozenset(
    {
        "application/pdf",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "text/plain",
        "text/markdown",
        "text/csv",
    }
)
FILE_CSP = "default-src 'none'; sandbox"
MAX_FILENAME_CHARS = 150
BLOCK_SIZE = 64 * 1024
# Windows refuses these in a file name; a path separator would name a folder.
_NOT_IN_FILENAMES = re.compile(r'[\\/:*?"<>|]')


class PrivateFileSystemStorage(FileSystemStorage):
    """The media folder, with no URL: a file reaches a browser only through a view that checked its owner."""

    def url(self, name: str | None) -> str:
        raise ValueError("Stored files have no public URL; serve them through a view that checks ownership.")


def safe_filename(name: str, *, default: str = "download") -> str:
    """`name` as a download's file name: its last path part, no control or format characters, at most 150 chars.

    Control characters (CR/LF, NUL) would split or end the header; format characters such as U+202E (right-to-left
    override) disguise an extension ("invoice\\u202efdp.exe" shows as "invoiceexe.pdf"); lone surrogates cannot be
    encoded. A long name keeps its extension.
    """
    name = unicodedata.normalize("NFC", name or "")
    name = "".join(char for char in name if not unicodedata.category(char).startswith("C"))
    name = re.split(r"[\\/]", name)[-1]
    name = _NOT_IN_FILENAMES.sub("_", name).strip(" .")  # no hidden file, no trailing dot Windows would drop
    if len(name) > MAX_FILENAME_CHARS:
        stem, dot, extension = name.rpartition(".")
        if dot and stem and 0 < len(extension) <= 10:
            name = stem[: MAX_FILENAME_CHARS - len(extension) - 1].rstrip(" .") + "." + extension
        else:
            name = name[:MAX_FILENAME_CHARS].rstrip(" .")
    return name or default


def content_disposition(disposition: str, filename: str) -> str:
    """`attachment` or `inline` with the name twice: `filename*` in UTF-8 (RFC 6266), an ASCII `filename` for old
    clients. Percent signs are replaced in the fallback because some clients decode it."""
    name = safe_filename(filename)
    fallback = "".join(char if " " <= char <= "~" and char != "%" else "_" for char in name)
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def image_type(head: bytes) -> str | None:
    """The type of a PNG, JPEG, GIF or WebP image from its first bytes; None for anything else."""
    for signature, mime_type in _IMAGE_SIGNATURES:
        if head.startswith(signature):
            return mime_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def protect(response: HttpResponseBase) -> HttpResponseBase:
    """The headers every served upload carries, whatever its body."""
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = FILE_CSP
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    response["Cache-Control"] = "private"
    return response


def download_type(mime_type: str) -> str:
    base = mime_type.split(";", 1)[0].strip().lower()
    return base if base in _DOWNLOAD_TYPES else "application/octet-stream"


def stored_file_response(*, request: HttpRequest, file: FieldFile, filename: str, mime_type: str = "") -> FileResponse:
    """Stream a stored file the caller has already authorised; 404 when it is missing from the storage."""
    if not file:
        raise Http404("No file.")
    try:
        handle: File = file.storage.open(file.name, "rb")
    except FileNotFoundError as exc:
        raise Http404("The file is missing from the storage.") from exc
    head = handle.read(16)
    handle.seek(0)
    inline_type = image_type(head)
    response = FileResponse(handle, content_type=inline_type or download_type(mime_type))
    response["Content-Disposition"] = content_disposition("inline" if inline_type else "attachment", filename)
    if getattr(request, "scope", None) is not None:
        # Served by an ASGI server: hand it an async iterator reading in a worker thread, not a synchronous file
        # it would read in full at once (with a warning).
        response.streaming_content = _read_in_thread(handle)
    return protect(response)


async def _read_in_thread(handle: File):
    read = sync_to_async(handle.read, thread_sensitive=False)
    while chunk := await read(BLOCK_SIZE):
        yield chunk


class _AdminFileLink:
    """What ClearableFileInput's template shows for the current file: its name, linked to the admin's view."""

    def __init__(self, name: str, url: str) -> None:
        self.name, self.url = name, url

    def __str__(self) -> str:
        return self.name


class AdminFileInput(AdminFileWidget):
    """The admin's file input, linking the current file to a view that checks permissions (not to /media/)."""

    def __init__(self, *, url: str, attrs: dict | None = None) -> None:
        super().__init__(attrs)
        self.download_url = url

    def is_initial(self, value) -> bool:
        # Django's own asks the file for its `url`, which the private storage refuses.
        return bool(value and getattr(value, "name", None))

    def format_value(self, value):
        if self.is_initial(value):
            return _AdminFileLink(str(value), self.download_url)
        return None


class StoredFileAdminMixin:
    """For a ModelAdmin of a model with a `file`: a `<id>/file/` view for staff who may view the row, and the
    change form's "Currently:" link pointing to it."""

    def get_urls(self) -> list:
        from django.urls import path

        name = f"{self.opts.app_label}_{self.opts.model_name}_file"
        # Before the admin's own: its catch-all "<path:object_id>/" would take "<id>/file/" for an object id.
        view = self.admin_site.admin_view(self.stored_file_view)
        return [path("<path:object_id>/file/", view, name=name), *super().get_urls()]

    def stored_file_view(self, request: HttpRequest, object_id: str) -> FileResponse:
        from django.contrib.admin.utils import unquote

        obj = self.get_object(request, unquote(object_id))
        if obj is None or not self.has_view_permission(request, obj):
            raise Http404("No such file.")
        return stored_file_response(
            request=request,
            file=obj.file,
            filename=obj.original_name or obj.file.name.rsplit("/", 1)[-1],
            mime_type=obj.mime_type,
        )

    def get_form(self, request: HttpRequest, obj=None, change: bool = False, **kwargs):
        from django.contrib.admin.utils import quote as admin_quote
        from django.urls import reverse

        form = super().get_form(request, obj, change, **kwargs)
        if obj is not None and "file" in form.base_fields:
            url = reverse(
                f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_file", args=[admin_quote(obj.pk)]
            )
            form.base_fields["file"].widget = AdminFileInput(url=url)
        return form
