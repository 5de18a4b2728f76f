"""Attachments in exports and imports: listed in the chat's JSON and Markdown, their files in the full export's zip,
and brought back by importing that zip (checked as any upload), or kept as names when the file is not there."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from django.urls import reverse

from accounts.models import DataExport
from conversations import attachments
from conversations.models import Attachment, Conversation, Message
from conversations.portability import full_export, imports
from tests.factories import ConversationFactory, MessageFactory, UserFactory
from tests.test_attachments import docx_bytes, png_bytes

pytestmark = pytest.mark.django_db


def chat_with_files(user) -> Conversation:
    """A question carrying an image and a Word file, answered; the image attached again to a follow-up."""
    conversation = ConversationFactory(user=user, title="Fridge manual")
    question = MessageFactory(conversation=conversation, role="user", author=user, content="What does it say?")
    reply = MessageFactory(conversation=conversation, parent=question, role="assistant", content="Seven years.")
    follow = MessageFactory(conversation=conversation, parent=reply, role="user", author=user, content="And this?")
    MessageFactory(conversation=conversation, parent=follow, role="assistant", content="A red square.")
    image = attachments.attachment_upload(user=user, filename="photo [1].png", data=png_bytes())
    manual = attachments.attachment_upload(user=user, filename="manual.docx", data=docx_bytes())
    attachments.attachments_claim(user=user, message=question, ids=[str(image.id), str(manual.id)])
    again = attachments.attachment_upload(user=user, filename="photo [1].png", data=png_bytes())
    attachments.attachments_claim(user=user, message=follow, ids=[str(again.id)])
    return conversation


def stored_files(settings) -> list[Path]:
    return [path for path in Path(settings.MEDIA_ROOT, "attachments").rglob("*") if path.is_file()]


def test_the_chat_json_and_markdown_list_each_messages_attachments(user_client, user):
    conversation = chat_with_files(user)
    response = user_client.get(reverse("conversations:export", args=[conversation.id, "json"]))
    messages = json.loads(response.content)["conversations"][0]["messages"]
    question = next(m for m in messages if m["content"] == "What does it say?")
    assert [(a["name"], a["mime_type"], a["kind"]) for a in question["attachments"]] == [
        ("photo [1].png", "image/png", "image"),
        ("manual.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"),
    ]
    assert all("file" not in a for a in question["attachments"]), "a lone JSON file holds no files"
    assert "attachments" not in next(m for m in messages if m["role"] == "assistant")
    markdown = user_client.get(reverse("conversations:export", args=[conversation.id, "md"])).content.decode()
    # The name as text, never a link it could forge.
    assert "Attachments:\n\n- photo \\[1\\].png (image/png, " in markdown and "- manual.docx (" in markdown


def test_the_full_export_holds_the_files_once_and_its_import_brings_them_back(user, settings):
    chat_with_files(user)
    export = DataExport.objects.create(user=user)
    full_export.data_export_build(export_id=export.id)
    export.refresh_from_db()
    data = export.file.read()
    archive = zipfile.ZipFile(io.BytesIO(data))
    files = sorted(name for name in archive.namelist() if name.startswith("attachments/"))
    assert len(files) == 2, "the image sent twice is one stored file, written once"
    document = json.loads(archive.read("conversations.json"))
    listed = [a for m in document["conversations"][0]["messages"] for a in m.get("attachments", [])]
    assert sorted({a["file"] for a in listed}) == files
    markdown = next(archive.read(n).decode() for n in archive.namelist() if n.startswith("chats/"))
    assert "](../attachments/" in markdown, "the chat's Markdown links each file next to it"
    original_image = archive.read(next(f for f in files if f.endswith(".png")))

    Conversation.objects.filter(user=user).delete()
    assert not Attachment.objects.filter(user=user).exists()
    [imported] = imports.import_file(user=user, name="export.zip", data=data).created
    question = imported.messages.get(content="What does it say?")
    rows = list(question.attachments.order_by("created_at"))
    assert [(r.original_name, r.metadata["kind"], r.user_id, r.conversation_id) for r in rows] == [
        ("photo [1].png", "image", user.id, imported.id),
        ("manual.docx", "docx", user.id, imported.id),
    ]
    assert "seven years" in rows[1].metadata["text"], "checked and parsed as any upload"
    follow = imported.messages.get(content="And this?").attachments.get()
    assert follow.file.name == rows[0].file.name, "the same bytes are stored once"
    with rows[0].file.open("rb") as handle:
        assert handle.read() == original_image
    assert "attachments_missing" not in question.metadata


def test_a_json_import_keeps_the_names_of_files_it_does_not_hold(user_client, user, settings):
    conversation = chat_with_files(user)
    body = user_client.get(reverse("conversations:export", args=[conversation.id, "json"])).content
    conversation.delete()  # beside the chat it came from, unchanged, the file is that chat: nothing is imported
    before = len(stored_files(settings))
    [imported] = imports.import_file(user=user, name="chat.json", data=body).created
    question = imported.messages.get(content="What does it say?")
    assert not question.attachments.exists() and len(stored_files(settings)) == before
    assert question.metadata["attachments_missing"] == ["photo [1].png", "manual.docx"]
    page = user_client.get(reverse("conversations:detail", args=[imported.id])).content.decode()
    assert "manual.docx" in page and "file not imported" in page
    # Exported again, the names go on (and import again as names).
    again = user_client.get(reverse("conversations:export", args=[imported.id, "json"])).content
    listed = next(m for m in json.loads(again)["conversations"][0]["messages"] if m["content"] == "What does it say?")
    assert [(a["name"], a.get("missing")) for a in listed["attachments"]] == [
        ("photo [1].png", True),
        ("manual.docx", True),
    ]


def zip_with(document: dict, files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("conversations.json", json.dumps(document))
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def app_document(attached: list[dict]) -> dict:
    return {
        "format": "chatbot.conversations",
        "version": 1,
        "conversations": [
            {
                "title": "Hostile",
                "messages": [{"id": "q", "parent": None, "role": "user", "content": "hi", "attachments": attached}],
            }
        ],
    }


def test_files_in_a_zip_are_typed_and_limited_as_uploads_and_a_refused_one_is_a_name(user, settings):
    exe = b"MZ\x90\x00" + b"\x00" * 200
    bomb = b"A" * (attachments.MAX_TEXT_BYTES + 10)  # text over its limit, tiny once deflated
    data = zip_with(
        app_document(
            [
                {"name": "invoice.pdf", "file": "attachments/x/invoice.pdf"},
                {"name": "notes.txt", "file": "attachments/y/notes.txt"},
                {"name": "ok.png", "file": "attachments/z/ok.png"},
                {"name": "elsewhere.png", "file": "../../etc/passwd"},
            ]
        ),
        {"attachments/x/invoice.pdf": exe, "attachments/y/notes.txt": bomb, "attachments/z/ok.png": png_bytes()},
    )
    [imported] = imports.import_file(user=user, name="x.zip", data=data).created
    message = imported.messages.get()
    assert [row.original_name for row in message.attachments.all()] == ["ok.png"]
    assert message.metadata["attachments_missing"] == ["invoice.pdf", "notes.txt", "elsewhere.png"]
    assert len(stored_files(settings)) == 1


def test_an_import_that_fails_leaves_no_file_behind(user, settings, monkeypatch):
    data = zip_with(app_document([{"name": "ok.png", "file": "a/ok.png"}]), {"a/ok.png": png_bytes()})

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(imports.Vote.objects, "bulk_create", broken)
    with pytest.raises(RuntimeError):
        imports.import_file(user=user, name="x.zip", data=data)
    assert not Attachment.objects.exists() and stored_files(settings) == []
    assert not Message.objects.filter(conversation__user=user).exists()


def test_another_users_import_cannot_reach_my_files(user):
    """An import's file references are paths inside its own zip, never stored names: nothing of anyone else's."""
    chat_with_files(user)
    mine = Attachment.objects.filter(user=user).first()
    other = UserFactory()
    data = zip_with(app_document([{"name": "stolen.png", "file": mine.file.name}]), {})
    [imported] = imports.import_file(user=other, name="x.zip", data=data).created
    assert not Attachment.objects.filter(user=other).exists()
    assert imported.messages.get().metadata["attachments_missing"] == ["stolen.png"]
