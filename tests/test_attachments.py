"""Attachments in the composer: upload and its limits, dedupe, owner-only files, sending them with a message, each
provider's content blocks (on the fakes' recorded requests), the text fallback, and deletion of the bytes."""

from __future__ import annotations

import asyncio
import base64
import io
from pathlib import Path

import pytest
from django.db import transaction
from django.urls import reverse
from PIL import Image

from accounts.services import SYSTEM, ClientInfo, provider_key_save
from chatbot.llm.http import close_http_clients
from conversations import attachments, services
from conversations.generation import prepare_generation
from conversations.models import Attachment, Conversation, Message
from documents.models import Document
from tests.factories import ConversationFactory, UserFactory
from tests.test_parsing import TWO_PAGES, make_pdf, rewrite_pdf

pytestmark = pytest.mark.django_db


def png_bytes(size=(32, 24), color=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def jpeg_with_exif() -> bytes:
    image = Image.new("RGB", (40, 20), (10, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "SpyCam Inc."  # Make
    exif[0x0112] = 6  # Orientation: rotate 90° on display
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


def docx_bytes() -> bytes:
    import docx

    document = docx.Document()
    document.add_paragraph("The warranty covers the compressor for seven years.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def upload(client, name: str, data: bytes, **extra):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(reverse("conversations:attachment_upload"), {"file": SimpleUploadedFile(name, data), **extra})


def stored_path(attachment: Attachment) -> Path:
    return Path(attachment.file.path)


# --- Upload, typing, limits -----------------------------------------------------------------------------------


def test_an_upload_returns_a_chip_and_stores_an_unsent_attachment(user_client, user):
    response = upload(user_client, "photo.png", png_bytes())
    assert response.status_code == 201
    attachment = Attachment.objects.get(user=user)
    body = response.content.decode()
    assert f'name="attachment" value="{attachment.id}"' in body and "photo.png" in body
    assert "Remove photo.png" in body
    assert attachment.message_id is None and attachment.mime_type == "image/png"
    assert attachment.metadata["width"] == 32 and attachment.metadata["height"] == 24
    assert stored_path(attachment).exists()


def test_exif_is_stripped_and_the_orientation_applied(user_client, user):
    assert upload(user_client, "cam.jpg", jpeg_with_exif()).status_code == 201
    attachment = Attachment.objects.get(user=user)
    with Image.open(stored_path(attachment)) as image:
        assert not image.getexif(), "no EXIF left (camera, GPS, orientation)"
        assert image.size == (20, 40), "rotated as the orientation tag said"
    assert b"SpyCam" not in stored_path(attachment).read_bytes()


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("empty.txt", b"", "the file is empty"),
        ("invoice.pdf", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\xff\xff" + bytes(range(256)) * 8, "cannot be attached"),
        ("locked.pdf", rewrite_pdf(make_pdf(TWO_PAGES), lambda writer: writer.encrypt("secret")), "password"),
        ("long.pdf", make_pdf([["page"]] * (attachments.MAX_PDF_PAGES + 1)), "at most 100 pages"),
    ],
)
def test_bad_files_are_refused_with_a_clear_reason_and_nothing_is_saved(user_client, user, name, data, expected):
    response = upload(user_client, name, data)
    assert response.status_code == 400
    assert expected in response.content.decode()
    assert not Attachment.objects.exists()


def test_a_pdf_of_thousands_of_pages_is_refused_without_walking_every_page(user_client, user):
    """Counting a 100,000-page PDF's pages (2 MB) took 5-10 s and 360-520 MB in the web request, to refuse it. Its
    declared count refuses it at once; one that declares fewer pages than it has is walked no further than
    MAX_PDF_PAGE_TREE_ENTRIES."""
    many = make_pdf([["page"]] * 2_000)
    response = upload(user_client, "many.pdf", many)
    assert response.status_code == 400 and "this one has 2,000." in response.content.decode()
    lying = many.replace(b"/Count 2000", b"/Count 0001")  # the same length: the offsets stand
    response = upload(user_client, "lying.pdf", lying)
    assert response.status_code == 400 and "this one has more than 1,000." in response.content.decode()
    assert not Attachment.objects.exists()


def test_an_image_with_too_many_pixels_is_refused_before_it_is_decoded(user_client, user, settings):
    # 10,000 x 5,000 of one colour: a few kilobytes compressed, 50 million pixels (150 MB) decoded.
    out = io.BytesIO()
    Image.new("L", (10_000, 5_000)).save(out, format="PNG", optimize=True)
    response = upload(user_client, "bomb.png", out.getvalue())
    assert response.status_code == 400 and "too large" in response.content.decode()
    assert not Attachment.objects.exists()
    assert not list(Path(settings.MEDIA_ROOT).rglob("*.png")), "no file half-saved"


def test_a_zip_bomb_in_a_docx_is_refused(user_client, user):
    from tests.test_parsing import with_extra_members

    bomb = with_extra_members(docx_bytes(), {"word/media/zeros.bin": 200 * 1024 * 1024}, compresslevel=9)
    response = upload(user_client, "report.docx", bomb)
    assert response.status_code == 400 and "zip bomb" in response.content.decode()
    assert not Attachment.objects.exists()


def test_a_too_big_image_is_refused(user_client, monkeypatch):
    monkeypatch.setattr(attachments, "MAX_IMAGE_BYTES", 100)
    response = upload(user_client, "big.png", png_bytes((64, 64)))
    assert response.status_code == 400 and "at most 100 bytes" in response.content.decode()


def test_the_same_bytes_twice_share_one_stored_file(user_client, user, settings):
    first = upload(user_client, "a.png", png_bytes())
    second = upload(user_client, "copy-of-a.png", png_bytes())
    assert first.status_code == second.status_code == 201
    rows = list(Attachment.objects.filter(user=user).order_by("created_at"))
    assert len(rows) == 2 and rows[0].file.name == rows[1].file.name
    assert rows[1].original_name == "copy-of-a.png"
    assert len([p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]) == 1
    # Another user's same bytes are theirs: never shared across users.
    other = UserFactory()
    attachments.attachment_upload(user=other, filename="a.png", data=png_bytes())
    assert Attachment.objects.get(user=other).file.name != rows[0].file.name


# --- Who can read a file ----------------------------------------------------------------------------------------


def test_the_file_is_served_to_its_owner_only(user_client, user, client):
    upload(user_client, "notes.txt", b"Secret plan: buy more flour.")
    attachment = Attachment.objects.get(user=user)
    url = reverse("conversations:attachment_file", args=[attachment.id])
    response = user_client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"Secret plan: buy more flour."
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"].startswith("attachment;")
    client.logout()
    assert client.get(url).status_code == 404, "anonymous"
    client.force_login(UserFactory())
    assert client.get(url).status_code == 404, "another user"
    assert client.post(reverse("conversations:attachment_remove", args=[attachment.id])).status_code == 404
    assert client.post(reverse("conversations:attachment_document", args=[attachment.id])).status_code == 404


def test_html_and_svg_are_never_served_inline(user_client, user):
    upload(user_client, "page.html", b"<!DOCTYPE html><html><body><p>hi</p><script>alert(1)</script></body></html>")
    attachment = Attachment.objects.get(user=user)
    response = user_client.get(reverse("conversations:attachment_file", args=[attachment.id]))
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment;")
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    upload(user_client, "pic.svg", svg)
    attachment = Attachment.objects.filter(user=user).latest("created_at")
    response = user_client.get(reverse("conversations:attachment_file", args=[attachment.id]))
    assert not response["Content-Type"].startswith("image/svg")
    assert response["Content-Disposition"].startswith("attachment;")


def test_a_public_chats_sent_files_are_readable_by_anyone_and_private_ones_by_nobody(user, client):
    conversation = ConversationFactory(user=user)
    message = Message.objects.create(conversation=conversation, role="user", author=user, content="see")
    sent = attachments.attachment_upload(user=user, filename="a.png", data=png_bytes())
    attachments.attachments_claim(user=user, message=message, ids=[str(sent.id)])
    unsent = attachments.attachment_upload(user=user, filename="b.txt", data=b"draft", conversation_id=conversation.id)
    url = reverse("conversations:attachment_file", args=[sent.id])
    assert client.get(url).status_code == 404, "private chat"
    Conversation.objects.filter(id=conversation.id).update(visibility="public")
    assert client.get(url).status_code == 200
    assert client.get(reverse("conversations:attachment_file", args=[unsent.id])).status_code == 404
    shared = client.get(reverse("conversations:shared", args=[conversation.id])).content.decode()
    assert url in shared and "Add to my documents" not in shared


# --- Sending ----------------------------------------------------------------------------------------------------


def test_sending_claims_the_senders_unsent_attachments_only(user_client, user):
    conversation = ConversationFactory(user=user)
    mine = attachments.attachment_upload(user=user, filename="a.txt", data=b"first file")
    theirs = attachments.attachment_upload(user=UserFactory(), filename="b.txt", data=b"their file")
    url = reverse("conversations:message_create", args=[conversation.id])
    response = user_client.post(url, {"content": "read this", "attachment": [str(mine.id), str(theirs.id)]})
    assert response.status_code == 400 and "could not be found" in response.content.decode()
    assert not Message.objects.filter(conversation=conversation).exists(), "nothing half-saved"
    assert Attachment.objects.get(id=mine.id).message_id is None
    response = user_client.post(url, {"content": "read this", "attachment": [str(mine.id)]})
    assert response.status_code in (200, 302)
    question = Message.objects.get(conversation=conversation, role="user")
    assert list(question.attachments.all()) == [Attachment.objects.get(id=mine.id)]
    page = user_client.get(reverse("conversations:detail", args=[conversation.id])).content.decode()
    assert reverse("conversations:attachment_file", args=[mine.id]) in page and "a.txt" in page
    # Sent once: it cannot be sent again, nor removed on its own.
    with pytest.raises(ValueError, match="already sent"):
        attachments.attachments_claim(user=user, message=question, ids=[str(mine.id)])
    assert user_client.post(reverse("conversations:attachment_remove", args=[mine.id])).status_code == 409


def test_removing_an_unsent_attachment_deletes_its_bytes(user_client, user, django_capture_on_commit_callbacks):
    upload(user_client, "a.txt", b"to be removed")
    attachment = Attachment.objects.get(user=user)
    path = stored_path(attachment)
    with django_capture_on_commit_callbacks(execute=True):
        response = user_client.post(reverse("conversations:attachment_remove", args=[attachment.id]))
    assert response.status_code == 200
    assert not Attachment.objects.exists() and not path.exists()


@pytest.mark.django_db(transaction=True)
def test_bytes_go_after_commit_with_the_last_row_naming_them(transactional_db):
    user = UserFactory()
    conversation = ConversationFactory(user=user)
    message = Message.objects.create(conversation=conversation, role="user", author=user, content="see")
    first = attachments.attachment_upload(user=user, filename="a.png", data=png_bytes())
    attachments.attachments_claim(user=user, message=message, ids=[str(first.id)])
    second = attachments.attachment_upload(user=user, filename="again.png", data=png_bytes())
    path = stored_path(first)
    with transaction.atomic():
        second.delete()
        assert path.exists(), "not before the commit"
    assert path.exists(), "the first row still names the file"
    with transaction.atomic():
        message.delete()  # the message's attachments go with it (chat deletion cascades the same way)
    assert not Attachment.objects.exists()
    assert not path.exists()


@pytest.mark.django_db(transaction=True)
def test_deleting_a_chat_or_an_account_removes_the_bytes(transactional_db):
    user = UserFactory()
    conversation = ConversationFactory(user=user)
    message = Message.objects.create(conversation=conversation, role="user", author=user, content="see")
    sent = attachments.attachment_upload(user=user, filename="a.txt", data=b"chat file")
    attachments.attachments_claim(user=user, message=message, ids=[str(sent.id)])
    path = stored_path(sent)
    conversation.delete()
    assert not path.exists()
    loose = attachments.attachment_upload(user=user, filename="b.txt", data=b"unsent file")
    path = stored_path(loose)
    user.delete()
    assert not path.exists()


@pytest.mark.django_db(transaction=True)
def test_orphaned_unsent_uploads_are_cleaned_after_a_day(transactional_db):
    import datetime as dt

    from django.utils import timezone

    user = UserFactory()
    old = attachments.attachment_upload(user=user, filename="old.txt", data=b"left in a closed tab")
    fresh = attachments.attachment_upload(user=user, filename="new.txt", data=b"being written")
    Attachment.objects.filter(id=old.id).update(created_at=timezone.now() - dt.timedelta(days=2))
    path = stored_path(old)
    from chatbot.cleanup import cleanup_run

    assert cleanup_run()["unsent attachments deleted"] == 1
    assert not path.exists() and list(Attachment.objects.values_list("id", flat=True)) == [fresh.id]


# --- Add to my documents ----------------------------------------------------------------------------------------


def test_add_to_my_documents_shares_the_bytes(user_client, user, settings, django_capture_on_commit_callbacks):
    upload(user_client, "manual.txt", b"The freezer defrosts every twelve hours.")
    attachment = Attachment.objects.get(user=user)
    with django_capture_on_commit_callbacks(execute=False):
        response = user_client.post(
            reverse("conversations:attachment_document", args=[attachment.id]), HTTP_HX_REQUEST="true"
        )
    assert response.status_code == 200 and "your documents" in response.content.decode()
    document = Document.objects.get(owner=user)
    assert document.file.name == attachment.file.name and document.content_hash == attachment.content_hash
    assert len([p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]) == 1
    # Twice is the same document.
    user_client.post(reverse("conversations:attachment_document", args=[attachment.id]))
    assert Document.objects.filter(owner=user).count() == 1


# --- What each provider is sent ---------------------------------------------------------------------------------


def ask_with(user, *, provider: str, model: str, files: list[tuple[str, bytes]], text: str = "What is attached?"):
    """Save a question with `files` on `model` and run the reply's provider request against its fake."""
    conversation = ConversationFactory(user=user, provider=provider, model=model)
    ids = [str(attachments.attachment_upload(user=user, filename=name, data=data).id) for name, data in files]
    with transaction.atomic():
        generation = services.message_send(user=user, conversation_id=conversation.id, content=text)
        attachments.attachments_claim(user=user, message=generation.user_message, ids=ids)
    return run_request(generation)


def run_request(generation):
    """Prepare the reply's prompt and send it to the provider (its fake records the request)."""
    prepared = prepare_generation(generation.stream.id, ClientInfo(), generation=generation)

    async def run():
        try:
            return [event async for event in prepared.provider.stream(prepared.request)]
        finally:
            await close_http_clients()

    asyncio.run(run())
    return prepared


def key(user, provider):
    secret = "sk-ant-test-attachments-01" if provider == "anthropic" else f"key-{provider}-0123456789-abcd"
    provider_key_save(user=user, provider=provider, api_key=secret, client=SYSTEM)
    return user


def test_anthropic_gets_image_and_document_blocks(fake_anthropic):
    user = key(UserFactory(), "anthropic")
    pdf = make_pdf(TWO_PAGES)
    ask_with(user, provider="anthropic", model="claude-sonnet-5-5", files=[("a.png", png_bytes()), ("r.pdf", pdf)])
    content = fake_anthropic.requests[-1]["messages"][-1]["content"]
    assert [block["type"] for block in content] == ["image", "document", "text"]
    assert content[0]["source"]["media_type"] == "image/png"
    assert base64.b64decode(content[0]["source"]["data"])[:8] == b"\x89PNG\r\n\x1a\n"
    assert content[1]["source"]["media_type"] == "application/pdf"
    assert content[1]["source"]["data"] == base64.b64encode(pdf).decode()
    assert content[2]["text"] == "What is attached?"


def test_openai_gets_image_urls_and_file_parts(fake_openai):
    user = key(UserFactory(), "openai")
    ask_with(user, provider="openai", model="gpt-5.5", files=[("a.png", png_bytes()), ("r.pdf", make_pdf(TWO_PAGES))])
    content = fake_openai.requests[-1]["body"]["messages"][-1]["content"]
    assert [part["type"] for part in content] == ["text", "image_url", "file"]
    assert content[1]["image_url"]["url"].startswith("data:image/png;base64,iVBORw0KGgo")
    assert content[2]["file"]["filename"] == "r.pdf"
    assert content[2]["file"]["file_data"].startswith("data:application/pdf;base64,")


def test_gemini_gets_inline_data(fake_gemini):
    user = key(UserFactory(), "google")
    ask_with(
        user,
        provider="google",
        model="gemini-3.8-flash",
        files=[("a.png", png_bytes()), ("r.pdf", make_pdf(TWO_PAGES))],
    )
    parts = fake_gemini.requests[-1]["body"]["contents"][-1]["parts"]
    inline = [part.get("inlineData") or part.get("inline_data") for part in parts[:2]]
    assert [blob.get("mimeType") or blob.get("mime_type") for blob in inline] == ["image/png", "application/pdf"]
    assert base64.b64decode(inline[0]["data"])[:4] == b"\x89PNG"
    assert parts[2]["text"] == "What is attached?"


def test_a_model_without_vision_or_documents_gets_the_text_and_the_bubble_says_so(fake_openai):
    user = key(UserFactory(), "deepseek")
    prepared = ask_with(
        user,
        provider="deepseek",
        model="deepseek-chat",
        files=[("a.png", png_bytes()), ("r.pdf", make_pdf(TWO_PAGES)), ("w.docx", docx_bytes())],
    )
    content = fake_openai.requests[-1]["body"]["messages"][-1]["content"]
    assert isinstance(content, str), "no content parts this model cannot take"
    assert content.startswith("What is attached?")
    assert '<attachment name="r.pdf">' in content and "Page two text." in content
    assert "seven years" in content and "cannot see images" in content
    assert prepared.metadata["attachments_as_text"] == ["r.pdf"]
    assert prepared.metadata["attachments_unseen"] == ["a.png"]


def test_attachments_count_in_the_context_window():
    user = UserFactory()
    conversation = ConversationFactory(user=user, provider="anthropic", model="claude-sonnet-5-5")
    message = Message.objects.create(conversation=conversation, role="user", author=user, content="look")
    image = attachments.attachment_upload(user=user, filename="a.png", data=png_bytes((1500, 750)))
    attachments.attachments_claim(user=user, message=message, ids=[str(image.id)])
    parts = attachments.prompt_attachments(history=[message], provider="anthropic", model="claude-sonnet-5-5")
    assert parts[message.id].tokens == 1500 * 750 // 750
    assert attachments.image_tokens(provider="openai", width=1500, height=750) == 85 + 170 * 3 * 2  # 3 x 2 tiles of 512
    assert attachments.image_tokens(provider="google", width=300, height=300) == 258
    from conversations.prompting import fit_history

    fitted = fit_history(history=[message], system="", context_window=100_000, attachments=parts)
    assert fitted.tokens_before > 1500 and fitted.messages[0].attachments[0].kind == "image"


def test_the_offline_assistant_quotes_the_attached_text():
    user = UserFactory()
    prepared = ask_with(
        user, provider="offline", model="offline", files=[("manual.txt", b"Defrost the freezer every twelve hours.")]
    )
    from chatbot.llm.offline import offline_reply

    reply = offline_reply(prepared.request)
    assert "> Defrost the freezer every twelve hours." in reply and "manual.txt" in reply
