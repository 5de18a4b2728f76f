"""Files attached in the composer: typed by their bytes, checked against limits, stored once per user and content.

An upload becomes an unsent Attachment (no message); sending a message claims the user's own unsent ones by id.
Deduplication shares the stored object: a second upload of the same bytes by the same user is a new row (each row
belongs to one message) whose `file` names the first row's stored file, and "Add to my documents" makes a Document
naming it too. A stored file is therefore removed only when no row names it any more (`file_in_use`, checked by
chatbot.db.delete_file_after_commit after the deleting transaction commits).

Images are decoded and re-encoded (EXIF and other metadata dropped, orientation applied first); everything else must
be a file the document parsers read (documents.parsing), whose extracted text is kept to stand in for the file with
a model that cannot take it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
import uuid
import warnings
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q

from accounts.models import User
from chatbot.errors import UserFacingError
from chatbot.text import after_colon
from conversations.models import Attachment, Message

MAX_ATTACHMENTS_PER_MESSAGE = 10
MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_FILE_BYTES = 20 * 1024 * 1024  # PDFs and Word documents
MAX_TEXT_BYTES = 2 * 1024 * 1024  # text and code: 2 MB is already far beyond a context window
# Pixels, checked on the header before anything is decoded: a 20,000 x 20,000 PNG of a few kilobytes would take
# gigabytes to decode (Pillow's decompression bomb).
MAX_IMAGE_PIXELS = 40_000_000
MAX_PDF_PAGES = 100
# The page tree's entries walked to count a PDF's pages, at most: counting 100,000 pages (a file of 2 MB) took 5-10 s
# and 360-520 MB in the web request, only to refuse it. Its declared count is read first; this bounds a file that
# declares fewer pages than it has.
MAX_PDF_PAGE_TREE_ENTRIES = 10 * MAX_PDF_PAGES
# The text kept for a file (for models that cannot read it and for the offline assistant); about 30,000 tokens.
MAX_TEXT_CHARS = 120_000

IMAGE_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WEBP"}
PDF = "application/pdf"


class AttachmentRejected(UserFacingError):
    """An upload that cannot be attached; the message says why, for the person who sent it."""


class AttachmentQuotaExceeded(AttachmentRejected):
    """The user's attachments already take their storage (settings.ATTACHMENT_QUOTA_MB)."""


def _size_text(size: int) -> str:
    for unit, step in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= step:
            return f"{size / step:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"


@dataclass(frozen=True)
class Checked:
    """What validation made of an upload: the bytes to store, their type and what the models are given."""

    data: bytes
    mime_type: str
    kind: str  # "image", "pdf" or a documents.parsing kind ("docx", "html", "markdown", "rst", "asciidoc", "text")
    metadata: dict


def check_upload(*, data: bytes, filename: str) -> Checked:
    """Type the bytes (never the name), enforce the limits, strip image metadata and extract text.

    Raises AttachmentRejected with a sentence naming the file and the problem.
    """
    from chatbot.downloads import image_type

    if not data:
        raise AttachmentRejected(f"{filename}: the file is empty.")
    mime_type = image_type(data[:16])
    if mime_type is not None:
        if len(data) > MAX_IMAGE_BYTES:
            raise AttachmentRejected(f"{filename}: images can be at most {_size_text(MAX_IMAGE_BYTES)}.")
        return _check_image(data=data, filename=filename, mime_type=mime_type)
    if len(data) > MAX_FILE_BYTES:
        raise AttachmentRejected(f"{filename}: files can be at most {_size_text(MAX_FILE_BYTES)}.")
    from documents.parsing import ParseError, parse_document, sniff_type

    try:
        kind, mime_type = sniff_type(data, filename)
    except ParseError as exc:
        raise AttachmentRejected(f"{filename}: {_wrong_type(exc)}") from exc
    if kind in ("text", "markdown", "rst", "asciidoc", "csv", "html") and len(data) > MAX_TEXT_BYTES:
        raise AttachmentRejected(f"{filename}: text files can be at most {_size_text(MAX_TEXT_BYTES)}.")
    metadata: dict = {"kind": "pdf" if kind == "pdf" else kind}
    if kind == "pdf":
        metadata["pages"] = _pdf_pages(data=data, filename=filename)
    try:
        parsed = parse_document(data, filename)
    except ParseError as exc:
        raise AttachmentRejected(after_colon(filename, exc.user_message)) from exc
    text = parsed.text
    metadata["text"] = text[:MAX_TEXT_CHARS]
    metadata["text_cut"] = len(text) > MAX_TEXT_CHARS
    return Checked(data=data, mime_type=mime_type, kind=metadata["kind"], metadata=metadata)


def _wrong_type(exc: Exception) -> str:
    return (
        "this file type cannot be attached; attach an image (PNG, JPEG, GIF, WebP), a PDF, a Word .docx, "
        f"or a text, Markdown, HTML or code file. ({getattr(exc, 'user_message', exc)})"
    )


def _pdf_pages(*, data: bytes, filename: str) -> int:
    import pypdf

    too_long = f"{filename}: PDFs can have at most {MAX_PDF_PAGES} pages; this one has"
    try:
        with pypdf.apply_configuration(page_tree_maximum_entries=MAX_PDF_PAGE_TREE_ENTRIES):
            reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted and reader.decrypt("") == pypdf.PasswordType.NOT_DECRYPTED:
                raise AttachmentRejected(f"{filename}: this PDF is password-protected; remove the password first.")
            declared = reader.root_object["/Pages"].get_object().get("/Count")
            if isinstance(declared, int) and declared > MAX_PDF_PAGES:
                raise AttachmentRejected(f"{too_long} {declared:,}.")
            pages = len(reader.pages)
    except AttachmentRejected:
        raise
    except pypdf.errors.LimitReachedError as exc:
        raise AttachmentRejected(f"{too_long} more than {MAX_PDF_PAGE_TREE_ENTRIES:,}.") from exc
    except Exception as exc:  # a broken or unsupported encryption dictionary, a damaged file
        raise AttachmentRejected(f"{filename}: this PDF could not be opened (damaged or encrypted).") from exc
    if pages > MAX_PDF_PAGES:
        raise AttachmentRejected(f"{too_long} {pages:,}.")
    return pages


def _check_image(*, data: bytes, filename: str, mime_type: str) -> Checked:
    from PIL import Image, ImageOps

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise AttachmentRejected(
                    f"{filename}: the image is too large ({width} × {height} pixels; at most "
                    f"{MAX_IMAGE_PIXELS // 1_000_000} million)."
                )
            frames = getattr(image, "n_frames", 1)
            image.load()
            out = io.BytesIO()
            image_format = IMAGE_FORMATS[mime_type]
            if image_format == "GIF" and frames > 1:
                # Animated: keep the frames; a GIF has no EXIF, and saving drops its comment extensions.
                image.save(out, format="GIF", save_all=True)
            else:
                # Orientation applied to the pixels before the EXIF that carried it (and GPS, camera...) is dropped.
                image = ImageOps.exif_transpose(image)
                options = {"quality": 90} if image_format in ("JPEG", "WEBP") else {}
                if image_format == "JPEG" and image.mode not in ("RGB", "L"):
                    image = image.convert("RGB")
                image.save(out, format=image_format, **options)
            width, height = image.size
    except AttachmentRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise AttachmentRejected(
            f"{filename}: the image is too large (at most {MAX_IMAGE_PIXELS // 1_000_000} million pixels)."
        ) from exc
    except Exception as exc:  # truncated or hostile image data
        raise AttachmentRejected(f"{filename}: the image could not be read; it may be damaged.") from exc
    metadata = {"kind": "image", "width": width, "height": height}
    return Checked(data=out.getvalue(), mime_type=mime_type, kind="image", metadata=metadata)


# --- Services ---------------------------------------------------------------------------------------------------


def attachment_upload(
    *, user: User, filename: str, data: bytes, conversation_id: uuid.UUID | None = None
) -> Attachment:
    """An unsent attachment of `user`'s; the same bytes uploaded before share their stored file.

    `conversation_id` must be the user's own (the caller scopes it); None while a new chat has none yet.
    """
    from documents.services import uploaded_name

    filename = uploaded_name(filename)
    content_hash = hashlib.sha256(data).hexdigest()
    twin = (
        Attachment.objects.filter(user=user, content_hash=content_hash).exclude(file="").order_by("created_at").first()
    )
    attachment = Attachment(user=user, conversation_id=conversation_id, original_name=filename[-255:])
    attachment.content_hash = content_hash
    if twin is not None and twin.file.storage.exists(twin.file.name):
        attachment.file.name = twin.file.name
        attachment.mime_type, attachment.size, attachment.metadata = twin.mime_type, twin.size, dict(twin.metadata)
        attachment.metadata.pop("document_id", None)
        attachment.save()
        return attachment
    checked = check_upload(data=data, filename=filename)
    attachment.mime_type, attachment.size, attachment.metadata = checked.mime_type, len(checked.data), checked.metadata
    with transaction.atomic():
        # The user's row locked: two uploads at once cannot both fit in the room left for one.
        User.objects.select_for_update().filter(id=user.id).first()
        _check_quota(user=user, filename=filename, size=attachment.size)
        attachment.file.save(_stored_name(filename, checked), ContentFile(checked.data), save=False)
        try:
            attachment.save()
        except BaseException:
            attachment.file.storage.delete(attachment.file.name)  # nothing half-saved: no file without its row
            raise
    return attachment


def attachment_storage_used(*, user: User) -> int:
    """Bytes the user's attachments take in the storage: each stored file once, however many rows name it."""
    from django.db.models import Max

    sizes = Attachment.objects.filter(user=user).exclude(file="").order_by().values("file").annotate(size=Max("size"))
    return sum(row["size"] for row in sizes)


def _check_quota(*, user: User, filename: str, size: int) -> None:
    from django.conf import settings

    quota = settings.ATTACHMENT_QUOTA_MB * 1024 * 1024
    used = attachment_storage_used(user=user)
    if used + size > quota:
        raise AttachmentQuotaExceeded(
            f"{filename}: your attached files already take {_size_text(used)} of your {_size_text(quota)}, and this "
            f"one ({_size_text(size)}) does not fit. Delete chats whose files you no longer need, then attach it again."
        )


def _stored_name(filename: str, checked: Checked) -> str:
    if checked.kind == "image":  # the name's extension follows the real type
        stem = filename.rsplit(".", 1)[0] or "image"
        return f"{stem[:90]}.{IMAGE_FORMATS[checked.mime_type].lower().replace('jpeg', 'jpg')}"
    return filename[-100:]


def attachment_discard(*, attachment: Attachment) -> None:
    """Remove an unsent attachment (the chip's remove button); its bytes go once no other row names them."""
    if attachment.message_id is not None:
        raise ValueError("A sent attachment is removed with its message.")
    attachment.delete()


@transaction.atomic
def attachments_claim(*, user: User, message: Message, ids: list[str]) -> list[Attachment]:
    """Attach the user's own unsent uploads to the message just saved; anything else is refused (ValueError)."""
    wanted = []
    for value in ids:
        try:
            wanted.append(uuid.UUID(str(value)))
        except ValueError:
            raise ValueError("An attachment could not be found; remove it and attach the file again.") from None
    wanted = list(dict.fromkeys(wanted))
    if not wanted:
        return []
    if len(wanted) > MAX_ATTACHMENTS_PER_MESSAGE:
        raise ValueError(f"A message can have at most {MAX_ATTACHMENTS_PER_MESSAGE} attachments.")
    rows = list(
        Attachment.objects.select_for_update()
        .filter(id__in=wanted, user=user, message__isnull=True)
        .filter(Q(conversation__isnull=True) | Q(conversation_id=message.conversation_id))
    )
    if len(rows) != len(wanted):
        raise ValueError("An attachment could not be found (or was already sent); remove it and attach it again.")
    order = {value: index for index, value in enumerate(wanted)}
    rows.sort(key=lambda row: order[row.id])
    Attachment.objects.filter(id__in=wanted).update(message=message, conversation_id=message.conversation_id)
    for row in rows:
        row.message, row.conversation_id = message, message.conversation_id
    return rows


def attachments_carry(*, source: Message, target: Message, keep: list[str] | None = None) -> list[Attachment]:
    """An edit's new message gets the original's files (those in `keep` when the edit form listed them): new rows
    naming the same stored files, so deleting either branch leaves the other's files in place."""
    rows = list(source.attachments.order_by("created_at", "id"))
    if keep is not None:
        wanted = {str(value) for value in keep}
        rows = [row for row in rows if str(row.id) in wanted]
    copies = []
    for row in rows:
        metadata = dict(row.metadata)
        metadata.pop("document_id", None)
        copies.append(
            Attachment(
                user_id=row.user_id,
                conversation_id=target.conversation_id,
                message=target,
                file=row.file.name,
                original_name=row.original_name,
                mime_type=row.mime_type,
                size=row.size,
                content_hash=row.content_hash,
                metadata=metadata,
            )
        )
    return Attachment.objects.bulk_create(copies)


@transaction.atomic
def attachment_to_document(*, attachment: Attachment):
    """ "Add to my documents": a Document naming the same stored file, indexed like an upload (same bytes once)."""
    from documents.models import Document
    from documents.tasks import ingest_document

    if attachment.metadata.get("kind") == "image":
        raise ValueError("Images cannot be added to your documents; only files with text can.")
    existing = Document.objects.filter(owner_id=attachment.user_id, content_hash=attachment.content_hash).first()
    if existing is not None:
        return existing
    kind = attachment.metadata.get("kind", "text")
    document = Document.objects.create(
        owner_id=attachment.user_id,
        title=(attachment.original_name.rsplit(".", 1)[0] or attachment.original_name)[:300],
        kind=Document.Kind.TEXT,
        source=Document.Source.UPLOAD,
        file=attachment.file.name,
        original_name=attachment.original_name,
        mime_type=attachment.mime_type,
        size=attachment.size,
        content_hash=attachment.content_hash,
        status=Document.Status.PENDING,
        metadata={"format": kind, "from_attachment": str(attachment.id)},
    )
    transaction.on_commit(lambda: ingest_document.delay(str(document.id)))
    return document


def file_in_use(name: str) -> bool:
    """Whether any row still names the stored file (attachments share one per user and content)."""
    from documents.models import Document

    return Attachment.objects.filter(file=name).exists() or Document.objects.filter(file=name).exists()


# --- Selectors --------------------------------------------------------------------------------------------------


def attachment_for_owner(*, user: User, attachment_id: uuid.UUID) -> Attachment:
    return Attachment.objects.get(id=attachment_id, user=user)


def attachment_for_reader(*, user, attachment_id: uuid.UUID) -> Attachment:
    """A sent attachment its reader may see: the owner's, or one in a conversation shared publicly."""
    from conversations.models import Conversation

    # Shared: only what was sent in a conversation that is public now (unsent uploads are never anyone else's).
    public = Q(message__isnull=False, conversation__visibility=Conversation.Visibility.PUBLIC)
    mine = Q(user_id=user.id) if getattr(user, "is_authenticated", False) else Q(pk__in=[])
    return Attachment.objects.select_related("conversation").get(Q(id=attachment_id) & (mine | public))


# --- What the model is sent -------------------------------------------------------------------------------------

# Capabilities when the catalogue has no row for a model: the provider's current models read these natively.
CAPABILITY_TABLE = {
    "anthropic": {"vision": True, "documents": True},
    "openai": {"vision": True, "documents": True},
    "google": {"vision": True, "documents": True},
}
# The native document types each provider's requests can carry (others go as text whatever the catalogue says).
NATIVE_DOCUMENTS = {"anthropic": {PDF}, "openai": {PDF}, "google": {PDF}}


@dataclass(frozen=True)
class Capabilities:
    provider: str
    vision: bool
    documents: bool


def capabilities_for(*, provider: str, model: str) -> Capabilities:
    from catalog.selectors import catalogue_entry

    entry = catalogue_entry(provider=provider, model=model)
    if entry is not None:
        return Capabilities(provider, bool(entry.supports_vision), bool(entry.supports_documents))
    table = CAPABILITY_TABLE.get(provider, {})
    return Capabilities(provider, table.get("vision", False), table.get("documents", False))


def image_tokens(*, provider: str, width: int, height: int) -> int:
    """The provider's own estimate of an image's input tokens (from their documentation)."""
    width, height = max(width, 1), max(height, 1)
    if provider == "anthropic":  # scaled to fit 1568 px on the long edge, then about w*h/750
        scale = min(1.0, 1568 / max(width, height))
        return max(1, math.ceil(width * scale * height * scale / 750))
    if provider == "google":  # 258 a tile of 768 px, one tile for a small image
        if width <= 384 and height <= 384:
            return 258
        return 258 * math.ceil(width / 768) * math.ceil(height / 768)
    # OpenAI's high detail: fit in 2048, shortest side 768, then 170 per 512 px tile plus 85
    scale = min(1.0, 2048 / max(width, height))
    width, height = width * scale, height * scale
    scale = min(1.0, 768 / min(width, height))
    width, height = width * scale, height * scale
    return 85 + 170 * math.ceil(width / 512) * math.ceil(height / 512)


def pdf_tokens(*, provider: str, pages: int, text: str) -> int:
    """A native PDF: its text plus each page as an image (Anthropic, OpenAI) or 258 a page (Gemini)."""
    from conversations.prompting import estimate_tokens

    per_page = 258 if provider == "google" else 1000
    return estimate_tokens(text) + per_page * max(pages, 1)


@dataclass(frozen=True)
class MessageAttachments:
    """A message's attachments as the prompt carries them: native blocks, text stand-ins and their token cost."""

    native: tuple  # chatbot.llm.base.PromptAttachment
    text: str  # appended to the message's text
    tokens: int
    as_text: tuple[str, ...]  # names sent as extracted text because the model cannot read their type
    left_out: tuple[str, ...]  # images the model cannot see and that have no text
    quotes: tuple[tuple[str, str], ...] = ()  # (name, extracted text) of each file with text, for the offline reply


def known_without_attachments(*messages: Message) -> None:
    """Say of messages just written without files that they have none, sparing the queries that would ask (the
    prompt's, and the new turn's rendering): `has_attachments` as message_path reads it, an empty prefetch."""
    for message in messages:
        message.has_attachments = False
        message._prefetched_objects_cache = {"attachments": Attachment.objects.none()}


def prompt_attachments(*, history: list[Message], provider: str, model: str) -> dict:
    """For each message of `history` with attachments: what its prompt turn carries (one query for all; none when
    every question is known to have none: conversations.selectors.message_path says which have)."""
    from chatbot.llm.base import PromptAttachment
    from conversations.prompting import estimate_tokens

    ids = [m.id for m in history if m.role == Message.Role.USER and getattr(m, "has_attachments", True)]
    rows = list(Attachment.objects.filter(message_id__in=ids).order_by("created_at", "id")) if ids else []
    if not rows:
        return {}
    capabilities = capabilities_for(provider=provider, model=model)
    by_message: dict = {}
    for row in rows:
        by_message.setdefault(row.message_id, []).append(row)
    result = {}
    for message_id, attachments in by_message.items():
        native, texts, as_text, left_out, tokens = [], [], [], [], 0
        quotes = tuple((row.original_name, row.metadata["text"]) for row in attachments if row.metadata.get("text"))
        for row in attachments:
            kind = row.metadata.get("kind", "")
            if kind == "image" and capabilities.vision:
                data = _read(row)
                if data is not None:
                    native.append(PromptAttachment(kind="image", mime_type=row.mime_type, data=data, name=_name(row)))
                    tokens += image_tokens(
                        provider=provider, width=row.metadata.get("width", 1), height=row.metadata.get("height", 1)
                    )
                    continue
            if kind == "image":
                left_out.append(row.original_name)
                texts.append(f'[Image "{_name(row)}" attached; this model cannot see images.]')
                continue
            if (
                kind == "pdf"
                and capabilities.documents
                and PDF in NATIVE_DOCUMENTS.get(provider, ())
                and (data := _read(row)) is not None
            ):
                native.append(PromptAttachment(kind="pdf", mime_type=PDF, data=data, name=_name(row)))
                tokens += pdf_tokens(provider=provider, pages=row.metadata.get("pages", 1), text="")
                continue
            if kind == "pdf":
                as_text.append(row.original_name)
            texts.append(attachment_text_block(row))
        text = "\n\n".join(texts)
        result[message_id] = MessageAttachments(
            native=tuple(native),
            text=text,
            tokens=tokens + (estimate_tokens(text) if text else 0),
            as_text=tuple(as_text),
            left_out=tuple(left_out),
            quotes=quotes,
        )
    return result


def question_attachments(*, attached: dict, history: list[Message]) -> tuple[tuple, dict]:
    """The question's files for the offline assistant to quote, and what the reply's bubble says about them: those
    sent as extracted text and the images this model cannot see."""
    question = next((m for m in reversed(history) if m.role == Message.Role.USER), None)
    mine = attached.get(question.id) if question is not None else None
    if mine is None:
        return (), {}
    notice = {}
    if mine.as_text:
        notice["attachments_as_text"] = list(mine.as_text)
    if mine.left_out:
        notice["attachments_unseen"] = list(mine.left_out)
    return mine.quotes, notice


def attachment_text_block(row: Attachment) -> str:
    """A file's extracted text as a delimited block the model reads as material, not instructions."""
    text = row.metadata.get("text", "").replace("</attachment>", "‹/attachment›")
    cut = "\n[The rest of the file was cut.]" if row.metadata.get("text_cut") else ""
    return f'<attachment name="{_name(row)}">\n{text}{cut}\n</attachment>'


def _name(row: Attachment) -> str:
    return " ".join(row.original_name.replace('"', "″").replace("<", "‹").replace(">", "›").split())


def _read(row: Attachment) -> bytes | None:
    try:
        with row.file.storage.open(row.file.name, "rb") as handle:
            return handle.read()
    except (FileNotFoundError, OSError):
        return None


def data_url(*, mime_type: str, data: bytes) -> str:
    return f"data:{mime_type};base64,{base64.b64encode(data).decode('ascii')}"


def upload_limits_text() -> str:
    return (
        f"Images up to {_size_text(MAX_IMAGE_BYTES)}, PDF and Word files up to {_size_text(MAX_FILE_BYTES)} "
        f"({MAX_PDF_PAGES} pages), text up to {_size_text(MAX_TEXT_BYTES)}; {MAX_ATTACHMENTS_PER_MESSAGE} a message."
    )


__all__ = [
    "AttachmentRejected",
    "attachment_discard",
    "attachment_for_owner",
    "attachment_for_reader",
    "attachment_to_document",
    "attachment_upload",
    "attachments_claim",
    "check_upload",
    "prompt_attachments",
]
