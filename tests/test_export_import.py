"""Export and import: a chat as Markdown and JSON, the full export (zip, Celery job, 24 hours, owner only), importing
this app's JSON and ChatGPT's conversations.json, and a corpus of hostile files that import nothing."""

from __future__ import annotations

import datetime as dt
import io
import json
import time
import uuid
import zipfile

import pytest
from django.core import mail
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone

from accounts.models import DataExport, Preferences
from conversations.models import Conversation, Message, UsageLog, Vote
from conversations.portability import exports, full_export, import_reading, imports
from tests.factories import (
    ConversationFactory,
    DataExportFactory,
    DocumentFactory,
    DocumentVersionFactory,
    KeyAuditLogFactory,
    MessageFactory,
    ProviderKeyFactory,
    UserFactory,
    VoteFactory,
)

CHUNK_ID = str(uuid.uuid4())
DOCUMENT_ID = str(uuid.uuid4())
SOURCE = {
    "n": 1, "chunk_id": CHUNK_ID, "document_id": DOCUMENT_ID, "title": "Postgres manual", "chapter": "Indexes",
    "section": "HNSW", "page": 12, "score": 0.81, "char_start": 0, "char_end": 40, "text": "HNSW builds a graph.",
}  # fmt: skip


def branched_conversation(user) -> Conversation:
    """A question with two replies (a regenerated branch), the second answered again; sources, usage and a vote."""
    conversation = ConversationFactory(user=user, title="Vector indexes", provider="anthropic", model="claude-x")
    start = timezone.now() - dt.timedelta(hours=1)
    question = MessageFactory(conversation=conversation, role="user", content="What is HNSW?", created_at=start)
    first = MessageFactory(
        conversation=conversation, parent=question, role="assistant", content="A graph index [1].", model="claude-x",
        provider="anthropic", metadata={"sources": [SOURCE]}, input_tokens=10, output_tokens=5,
        created_at=start + dt.timedelta(seconds=1),
    )  # fmt: skip
    second = MessageFactory(
        conversation=conversation, parent=question, role="assistant", content="Hierarchical small worlds.",
        model="claude-y", provider="anthropic", created_at=start + dt.timedelta(seconds=2),
    )  # fmt: skip
    follow_up = MessageFactory(
        conversation=conversation, parent=second, role="user", content="And IVFFlat?",
        created_at=start + dt.timedelta(seconds=3),
    )  # fmt: skip
    last = MessageFactory(
        conversation=conversation, parent=follow_up, role="assistant", content="Lists of clusters.",
        model="claude-y", provider="anthropic", created_at=start + dt.timedelta(seconds=4),
    )  # fmt: skip
    conversation.active_leaf = first  # the first branch on screen
    conversation.save()
    VoteFactory(message=first, user=user, is_upvoted=False, rating=2, comment="Too short")
    UsageLog.objects.create(
        user=user, conversation=conversation, message=first, provider="anthropic", model="claude-x", input_tokens=10,
        output_tokens=5,
    )  # fmt: skip
    assert last.parent_id == follow_up.id
    return conversation


def tree(conversation: Conversation) -> set[tuple]:
    """A conversation's shape, independent of ids: each message by its path of contents from the root."""
    messages = {message.id: message for message in conversation.messages.all()}

    def path(message):
        steps = []
        while message is not None:
            steps.append((message.role, message.content))
            message = messages.get(message.parent_id)
        return tuple(reversed(steps))

    return {path(message) for message in messages.values()}


# --- One chat as a file ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_chat_exports_as_json_with_every_branch_sources_model_usage_and_votes(user_client, user):
    conversation = branched_conversation(user)
    response = user_client.get(reverse("conversations:export", args=[conversation.id, "json"]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"].startswith("attachment;") and ".json" in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    document = json.loads(response.content)
    assert document["format"] == exports.FORMAT and document["version"] == 1
    [chat] = document["conversations"]
    assert len(chat["messages"]) == 5
    first = next(m for m in chat["messages"] if m["content"] == "A graph index [1].")
    assert chat["active_leaf"] == first["id"]
    assert first["sources"][0]["chunk_id"] == CHUNK_ID and first["sources"][0]["text"] == "HNSW builds a graph."
    assert first["model"] == "claude-x" and first["input_tokens"] == 10
    assert first["usage"][0]["output_tokens"] == 5
    assert first["vote"] == {"is_upvoted": False, "rating": 2, "comment": "Too short"}


@pytest.mark.django_db
def test_a_chat_exports_as_markdown_with_the_branch_on_screen_then_the_others(user_client, user):
    conversation = branched_conversation(user)
    response = user_client.get(reverse("conversations:export", args=[conversation.id, "md"]))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/markdown")
    text = response.content.decode()
    assert text.startswith("# Vector indexes\n")
    assert text.index("A graph index [1].") < text.index("## Other version 2") < text.index("Lists of clusters.")
    assert f"(passage {CHUNK_ID})" in text and "Postgres manual › Indexes › HNSW, page 12" in text
    assert "👎 Bad reply, 2/5" in text and "Too short" in text
    assert "### Assistant (claude-y)" in text


@pytest.mark.django_db
def test_the_chat_menu_links_both_downloads(user_client, user):
    conversation = branched_conversation(user)
    page = user_client.get(reverse("conversations:detail", args=[conversation.id])).content.decode()
    assert reverse("conversations:export", args=[conversation.id, "md"]) in page
    assert reverse("conversations:export", args=[conversation.id, "json"]) in page


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["json", "md"])
def test_another_users_chat_does_not_export(client, user, kind):
    conversation = branched_conversation(user)
    client.force_login(UserFactory())
    assert client.get(reverse("conversations:export", args=[conversation.id, kind])).status_code == 404


@pytest.mark.django_db
def test_an_unknown_export_kind_is_a_404(user_client, user):
    conversation = ConversationFactory(user=user)
    assert user_client.get(reverse("conversations:export", args=[conversation.id, "html"])).status_code == 404


# --- Round trip ----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_export_delete_import_gives_back_the_same_chats_branches_sources_and_votes(user_client, user):
    conversation = branched_conversation(user)
    before = tree(conversation)
    exported = user_client.get(reverse("conversations:export", args=[conversation.id, "json"])).content
    conversation.delete()
    assert not Conversation.objects.filter(user=user).exists()

    upload = ContentFile(exported, name="chat.json")
    response = user_client.post(reverse("accounts:chats_import"), {"file": upload})
    assert response.status_code == 302
    imported = Conversation.objects.get(user=user)
    assert response.url == reverse("conversations:detail", args=[imported.id])
    assert imported.id != conversation.id  # new ids: a file never reaches existing rows
    assert tree(imported) == before
    assert imported.title == "Vector indexes" and (imported.provider, imported.model) == ("anthropic", "claude-x")
    first = imported.messages.get(content="A graph index [1].")
    assert imported.active_leaf_id == first.id
    assert first.metadata["sources"] == [SOURCE]
    assert (first.model, first.input_tokens, first.output_tokens) == ("claude-x", 10, 5)
    vote = Vote.objects.get(message=first)
    assert (vote.user_id, vote.is_upvoted, vote.rating, vote.comment) == (user.id, False, 2, "Too short")
    # The imported chat opens, its sources and branch arrows drawn as any chat's.
    page = user_client.get(response.url).content.decode()
    assert "Postgres manual" in page and "1/2" in page


@pytest.mark.django_db
def test_the_full_export_zip_imports_back_too(user):
    branched_conversation(user)
    export = DataExport.objects.create(user=user)
    full_export.data_export_build(export_id=export.id)
    export.refresh_from_db()
    data = export.file.read()
    Conversation.objects.filter(user=user).delete()
    [imported] = imports.import_file(user=user, name="export.zip", data=data).created
    assert imported.messages.count() == 5


@pytest.mark.django_db
def test_an_export_imported_back_beside_its_chats_makes_no_copy_of_them(user_client, user):
    """The walk's user exported a chat and everything, imported both back, and had every chat twice: the chats the
    file came from are still here, unchanged, and are linked as already there."""
    conversation = branched_conversation(user)
    exported = user_client.get(reverse("conversations:export", args=[conversation.id, "json"])).content
    response = user_client.post(reverse("accounts:chats_import"), {"file": ContentFile(exported, name="chat.json")})
    assert response.status_code == 200 and "already imported" in response.content.decode()
    assert list(Conversation.objects.filter(user=user)) == [conversation]

    export = DataExport.objects.create(user=user)
    full_export.data_export_build(export_id=export.id)
    export.refresh_from_db()
    result = imports.import_file(user=user, name="export.zip", data=export.file.read())
    assert (result.created, result.already) == ([], [conversation])

    # Continued since the export, the chat is no longer the file's: the file's version comes in as its own chat.
    MessageFactory(conversation=conversation, role="user", content="One more question")
    [copy] = imports.import_file(user=user, name="chat.json", data=exported).created
    assert copy.id != conversation.id and copy.messages.count() == 5


# --- ChatGPT ---------------------------------------------------------------------------------------------------


def chatgpt_export() -> list:
    def node(key, parent, children, role=None, text=None, model=None, created=1_700_000_000):
        message = None
        if role:
            message = {
                "id": key, "author": {"role": role}, "create_time": created,
                "content": {"content_type": "text", "parts": [text]},
                "metadata": {"model_slug": model} if model else {},
            }  # fmt: skip
        return {"id": key, "message": message, "parent": parent, "children": children}

    mapping = {
        "root": node("root", None, ["sys"]),
        "sys": node("sys", "root", ["q1"], role="system", text=""),
        "q1": node("q1", "sys", ["a1", "a2"], role="user", text="Name a prime."),
        "a1": node("a1", "q1", [], role="assistant", text="Two.", model="gpt-4o", created=1_700_000_010),
        "a2": node("a2", "q1", ["q2"], role="assistant", text="Seven.", model="gpt-4o", created=1_700_000_020),
        "q2": node("q2", "a2", ["a3"], role="user", text="Another?", created=1_700_000_030),
        "a3": node(
            "a3", "q2", [], role="assistant", text="Eleven <script>alert(1)</script>", model="o3", created=1_700_000_040
        ),
    }
    return [
        {
            "title": "Primes", "create_time": 1_700_000_000.5, "update_time": 1_700_000_050.0, "mapping": mapping,
            "current_node": "a3", "conversation_id": "abc",
        }
    ]  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize("packed", ["json", "zip"])
def test_a_chatgpt_export_keeps_its_message_tree_as_branches(user_client, user, packed):
    data = json.dumps(chatgpt_export()).encode()
    if packed == "zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("conversations.json", data)
            archive.writestr("chat.html", "<html></html>")
        data = buffer.getvalue()
    response = user_client.post(
        reverse("accounts:chats_import"), {"file": ContentFile(data, name=f"conversations.{packed}")}
    )
    assert response.status_code == 302
    conversation = Conversation.objects.get(user=user)
    assert conversation.title == "Primes"
    question, seven, again = ("user", "Name a prime."), ("assistant", "Seven."), ("user", "Another?")
    assert tree(conversation) == {
        (question,),
        (question, ("assistant", "Two.")),
        (question, seven),
        (question, seven, again),
        (question, seven, again, ("assistant", "Eleven <script>alert(1)</script>")),
    }
    leaf = conversation.messages.get(content__startswith="Eleven")
    assert conversation.active_leaf_id == leaf.id and leaf.model == "o3"
    assert not conversation.messages.filter(role="system").exists()  # ChatGPT's hidden system turn is left out
    # Shown through the same sanitiser as every reply: the script is text, never markup.
    page = user_client.get(reverse("conversations:detail", args=[conversation.id])).content.decode()
    assert "<script>alert(1)</script>" not in page and "Eleven" in page


# --- Hostile files -------------------------------------------------------------------------------------------------


def app_file(*messages, **conversation) -> bytes:
    chat = {"title": "t", "messages": list(messages), **conversation}
    return json.dumps({"format": exports.FORMAT, "version": 1, "conversations": [chat]}).encode()


def zipped(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


GOOD = {"id": "1", "parent": None, "role": "user", "content": "hi"}
HOSTILE = {
    "not json": (b"{'format': 1", "not valid JSON"),
    "not utf-8": (b"\xff\xfe\x00{", "not UTF-8"),
    "deep nesting": (b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
    "deep nesting in a field": (app_file({**GOOD, "content": json.loads("[" * 500 + "]" * 500)}), "should be text"),
    "a bare string": (b'"hello"', "not a conversation export"),
    "an unknown object": (b'{"conversations": []}', "not a conversation export"),
    "a newer version": (json.dumps({"format": exports.FORMAT, "version": 2}).encode(), "version"),
    "no conversation": (json.dumps({"format": exports.FORMAT, "version": 1, "conversations": []}).encode(), "no conv"),
    "conversations not a list": (
        json.dumps({"format": exports.FORMAT, "version": 1, "conversations": {"a": 1}}).encode(),
        "should be a list",
    ),
    "a message not an object": (app_file("hello"), "should be an object"),
    "content a number": (app_file({**GOOD, "content": 42}), "content should be text"),
    "a huge string": (app_file({**GOOD, "content": "x" * (import_reading.MAX_TEXT + 1)}), "too long"),
    "a huge title": (app_file(GOOD, title="t" * 501), "title is too long"),
    "a role the app has not": (app_file({**GOOD, "role": "system"}), "role should be"),
    "a parent that comes later": (app_file({**GOOD, "parent": "2"}, {**GOOD, "id": "2"}), "names no earlier"),
    "a message its own parent": (app_file({**GOOD, "parent": "1"}), "names no earlier"),
    "an id twice": (app_file(GOOD, {**GOOD, "parent": "1"}, {**GOOD, "parent": "1"}), "appears twice"),
    "tokens not a number": (app_file({**GOOD, "role": "assistant", "input_tokens": "9"}), "whole number"),
    "negative tokens": (app_file({**GOOD, "role": "assistant", "output_tokens": -1}), "whole number"),
    "a rating of 9": (app_file({**GOOD, "role": "assistant", "vote": {"is_upvoted": False, "rating": 9}}), "1 to 5"),
    "a source with a bad chunk id": (
        app_file({**GOOD, "role": "assistant", "sources": [{"chunk_id": "../../etc"}]}),
        "should be an id",
    ),
    "a date that is not one": (app_file({**GOOD, "created_at": "yesterday"}), "date and time"),
    "a status the app has not": (app_file({**GOOD, "status": "exploded"}), "status"),
    "chatgpt: mapping a list": (json.dumps([{"mapping": []}]).encode(), "should be an object"),
    "chatgpt: a loop": (
        json.dumps(
            [
                {
                    "mapping": {
                        "a": {"parent": "b", "children": ["b"], "message": None},
                        "b": {"parent": "a", "children": ["a"], "message": None},
                    }
                }
            ]
        ).encode(),
        "do not form a tree",
    ),
    "chatgpt: parts not a list": (
        json.dumps(
            [
                {
                    "mapping": {
                        "a": {
                            "parent": None,
                            "children": [],
                            "message": {"author": {"role": "user"}, "content": {"content_type": "text", "parts": "hi"}},
                        }
                    }
                }
            ]
        ).encode(),
        "should be a list",
    ),
    "chatgpt: a parent that is an object": (
        json.dumps([{"mapping": {"a": {"parent": {"x": 1}, "children": [], "message": None}}}]).encode(),
        "an id",
    ),
    "chatgpt: a time far in the future": (
        json.dumps([{"create_time": 1e300, "mapping": {}}]).encode(),
        "seconds since 1970",
    ),
    "a zip without conversations.json": (zipped({"chat.html": b"<html>"}), "no conversations.json"),
    "a damaged zip": (b"PK\x03\x04" + b"\x00" * 100, "damaged"),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_file_is_refused_with_a_reason_and_imports_nothing(user_client, user, case):
    data, reason = HOSTILE[case]
    before = (Conversation.objects.count(), Message.objects.count(), Vote.objects.count())
    response = user_client.post(reverse("accounts:chats_import"), {"file": ContentFile(data, name="x.json")})
    assert response.status_code == 400
    body = response.content.decode()
    assert "Nothing was imported" in body and reason.split()[0] in body
    assert (Conversation.objects.count(), Message.objects.count(), Vote.objects.count()) == before


@pytest.mark.django_db
def test_one_bad_conversation_after_good_ones_imports_none_of_them(user):
    good = {"title": "fine", "messages": [GOOD]}
    bad = {"title": "bad", "messages": [{**GOOD, "content": {"$gt": ""}}]}
    data = json.dumps({"format": exports.FORMAT, "version": 1, "conversations": [good, good, bad]}).encode()
    with pytest.raises(import_reading.ImportRefused, match=r"conversations\[2\]\.messages\[0\]\.content"):
        imports.import_file(user=user, name="x.json", data=data)
    assert not Conversation.objects.exists()


@pytest.mark.django_db
def test_an_oversized_file_is_refused_before_it_is_read(user_client, monkeypatch):
    monkeypatch.setattr(import_reading, "MAX_IMPORT_BYTES", 1000)
    response = user_client.post(reverse("accounts:chats_import"), {"file": ContentFile(b" " * 1001, name="x.json")})
    assert response.status_code == 400 and "too large" in response.content.decode()
    assert not Conversation.objects.exists()


@pytest.mark.django_db
def test_a_zip_bomb_is_refused_by_its_inflated_size(user, monkeypatch):
    monkeypatch.setattr(import_reading, "MAX_IMPORT_BYTES", 10_000)
    data = zipped({"conversations.json": b" " * 1_000_000})  # a few kB that inflate to 1 MB
    assert len(data) < 10_000
    with pytest.raises(import_reading.ImportRefused, match="too large"):
        imports.import_file(user=user, name="x.zip", data=data)


@pytest.mark.django_db
def test_nul_and_control_characters_are_cleaned_not_fatal(user):
    data = app_file({**GOOD, "content": "a\x00b\x07c\r\nd", "created_at": "2024-01-01T00:00:00"}, title="T\x00itle")
    [conversation] = imports.import_file(user=user, name="x.json", data=data).created
    assert conversation.title == "Title"
    assert conversation.messages.get().content == "abc\nd"


# --- Imports that bring nothing new ----------------------------------------------------------------------------


def import_post(client, data: bytes, name: str = "x.json"):
    return client.post(reverse("accounts:chats_import"), {"file": ContentFile(data, name=name)}, follow=True)


def app_chats(*chats: dict) -> bytes:
    return json.dumps({"format": exports.FORMAT, "version": 1, "conversations": list(chats)}).encode()


REPLY = {"id": "2", "parent": "1", "role": "assistant", "content": "Hello."}
SYSTEM_TURN = {  # ChatGPT's hidden turn, left out of an import
    "parent": None, "children": [],
    "message": {"author": {"role": "system"}, "content": {"content_type": "text", "parts": ["You are helpful."]}},
}  # fmt: skip


@pytest.mark.django_db
def test_importing_the_same_file_twice_links_the_chat_already_imported_and_makes_no_copy(user_client, user):
    data = app_file(GOOD, REPLY, title="Greetings", created_at="2024-05-01T10:00:00+00:00")
    first = import_post(user_client, data)
    [imported] = Conversation.objects.filter(user=user)
    assert first.redirect_chain[-1][0] == reverse("conversations:detail", args=[imported.id])

    again = import_post(user_client, data)
    page = again.content.decode()
    assert again.status_code == 200 and "already imported" in page
    assert f'<a href="{reverse("conversations:detail", args=[imported.id])}">Greetings</a>' in page
    assert Conversation.objects.filter(user=user).count() == 1
    # The same conversation under other ids in the file (an export of the imported chat) is the same one too.
    renumbered = app_file({**GOOD, "id": "a"}, {**REPLY, "id": "b", "parent": "a"}, title="Greetings",
                          created_at="2024-05-01T10:00:00+00:00")  # fmt: skip
    assert "already imported" in import_post(user_client, renumbered).content.decode()
    assert Conversation.objects.filter(user=user).count() == 1


@pytest.mark.django_db
def test_a_file_with_new_and_already_imported_chats_imports_only_the_new_ones(user_client, user):
    old = {"title": "Old", "messages": [GOOD]}
    import_post(user_client, app_chats(old))
    response = import_post(user_client, app_chats(old, {"title": "New", "messages": [GOOD, REPLY]}))
    assert "Imported 1 conversation (1 already imported left out)." in response.content.decode()
    assert sorted(Conversation.objects.filter(user=user).values_list("title", flat=True)) == ["New", "Old"]


@pytest.mark.django_db
def test_another_users_import_of_the_same_file_is_theirs_and_not_a_duplicate(user_client, user, client):
    data = app_file(GOOD, title="Shared file")
    import_post(user_client, data)
    other = UserFactory()
    client.force_login(other)
    response = import_post(client, data)
    [theirs] = Conversation.objects.filter(user=other)
    assert response.redirect_chain[-1][0] == reverse("conversations:detail", args=[theirs.id])
    assert str(Conversation.objects.get(user=user).id) not in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "data",
    [
        app_file(title="Nothing said"),
        app_chats({"title": "a", "messages": []}, {"title": "b"}),
        json.dumps([{"title": "Only a system turn", "mapping": {"s": SYSTEM_TURN}}]).encode(),
    ],
    ids=["app", "app-several", "chatgpt"],
)
def test_a_conversation_without_messages_is_refused_not_imported_as_an_empty_chat(user_client, user, data):
    response = import_post(user_client, data)
    page = response.content.decode()
    assert response.status_code == 400 and "Nothing was imported" in page
    assert "has no messages" in page or "has a message" in page
    assert not Conversation.objects.filter(user=user).exists()


@pytest.mark.django_db
def test_empty_conversations_beside_others_are_left_out_and_said(user_client, user):
    response = import_post(user_client, app_chats({"title": "Empty"}, {"title": "Full", "messages": [GOOD]}))
    assert "Imported 1 conversation (1 without messages left out)." in response.content.decode()
    assert list(Conversation.objects.filter(user=user).values_list("title", flat=True)) == ["Full"]


@pytest.mark.django_db
def test_only_imports_that_brought_something_count_against_the_hourly_limit(user_client, user, monkeypatch):
    from conversations.portability import views

    monkeypatch.setattr(views, "IMPORTS_PER_HOUR", 2)
    for _ in range(3):  # refused files: the user fixes the file and tries again, without losing an import
        assert import_post(user_client, b"{'not json").status_code == 400
    assert import_post(user_client, app_file(GOOD, title="One")).redirect_chain
    assert "already imported" in import_post(user_client, app_file(GOOD, title="One")).content.decode()
    assert import_post(user_client, app_file(GOOD, title="Two")).redirect_chain
    refused = import_post(user_client, app_file(GOOD, title="Three"))
    assert refused.status_code == 429 and "Too many imports this hour" in refused.content.decode()
    assert Conversation.objects.filter(user=user).count() == 2


@pytest.mark.django_db
def test_refused_files_are_still_limited_by_the_attempts_per_hour(user_client, monkeypatch):
    from conversations.portability import views

    monkeypatch.setattr(views, "IMPORT_ATTEMPTS_PER_HOUR", 3)
    assert [import_post(user_client, b"[").status_code for _ in range(4)] == [400, 400, 400, 429]


@pytest.mark.django_db
def test_import_needs_an_account_and_csrf(client, user):
    from django.test import Client

    data = ContentFile(app_file(GOOD), name="x.json")
    assert client.post(reverse("accounts:chats_import"), {"file": data}).status_code == 302
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    assert strict.post(reverse("accounts:chats_import"), {"file": data}).status_code == 403
    assert not Conversation.objects.exists()


# --- The full export ---------------------------------------------------------------------------------------------


def full_user():
    user = UserFactory()
    branched_conversation(user)
    document = DocumentFactory(
        owner=user, title="Notes", original_name="notes.txt", file=ContentFile(b"my notes\n", name="notes.txt")
    )
    DocumentVersionFactory(document=document, number=1, content="first draft")
    DocumentVersionFactory(document=document, number=2, content="second draft")
    ProviderKeyFactory(user=user, encrypted_key="gAAAA-SECRET-CIPHERTEXT", key_hint="wxyz")
    KeyAuditLogFactory(user=user, action="create")
    Preferences.objects.create(user=user, theme="dark", email_notifications=True)
    return user


def read_zip(export: DataExport) -> dict[str, bytes]:
    with export.file.open("rb") as handle, zipfile.ZipFile(handle) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.mark.django_db
def test_the_full_export_holds_chats_documents_settings_and_the_key_log_never_a_key(settings):
    user = full_user()
    export = DataExport.objects.create(user=user)
    built = full_export.data_export_build(export_id=export.id, download_url="https://chat.example/settings/data/")
    assert built.status == "ready" and built.progress == 100
    assert built.expires_at - built.finished_at == dt.timedelta(hours=24)
    files = read_zip(built)
    chats = json.loads(files["conversations.json"])
    assert len(chats["conversations"]) == 1 and len(chats["conversations"][0]["messages"]) == 5
    assert any(name.startswith("chats/") and name.endswith(".md") for name in files)
    originals = [name for name in files if "/original/" in name]
    assert len(originals) == 1 and files[originals[0]] == b"my notes\n"
    assert sorted(c for n, c in files.items() if "/versions/" in n) == [b"first draft", b"second draft"]
    assert json.loads(files["settings.json"])["preferences"]["theme"] == "dark"
    assert json.loads(files["key_audit_log.json"])[0]["action"] == "create"
    everything = b"".join(files.values())
    assert b"SECRET-CIPHERTEXT" not in everything and b"wxyz" not in everything
    # The owner is told, with the link to the page where the download is.
    [email] = mail.outbox
    assert email.to == [user.email] and "https://chat.example/settings/data/" in email.body


@pytest.mark.django_db
def test_no_email_when_the_owner_turned_security_emails_off():
    user = full_user()
    Preferences.objects.filter(user=user).update(email_notifications=False)
    export = DataExport.objects.create(user=user)
    assert full_export.data_export_build(export_id=export.id).status == "ready"
    assert mail.outbox == []


@pytest.mark.django_db
def test_the_export_downloads_for_its_owner_only_and_only_for_24_hours(client):
    user = full_user()
    export = full_export.data_export_build(export_id=DataExport.objects.create(user=user).id)
    url = reverse("accounts:data_export_download", args=[export.id])
    client.force_login(UserFactory())
    assert client.get(url).status_code == 404
    assert client.get(reverse("accounts:data_export_status", args=[export.id])).status_code == 404
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;") and response["X-Content-Type-Options"] == "nosniff"
    assert zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).read("conversations.json")
    DataExport.objects.filter(id=export.id).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert client.get(url).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_the_cleanup_job_deletes_expired_exports_and_their_files():
    from chatbot.cleanup import cleanup_run

    user = full_user()
    export = full_export.data_export_build(export_id=DataExport.objects.create(user=user).id)
    fresh = full_export.data_export_build(export_id=DataExport.objects.create(user=user).id)
    storage, name = export.file.storage, export.file.name
    assert storage.exists(name)
    DataExport.objects.filter(id=export.id).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    counts = cleanup_run()
    assert counts["expired data exports"] == 1
    assert not DataExport.objects.filter(id=export.id).exists() and not storage.exists(name)
    assert DataExport.objects.filter(id=fresh.id).exists() and storage.exists(fresh.file.name)


@pytest.mark.django_db
def test_the_data_page_starts_an_export_and_shows_its_progress(user_client, user, django_capture_on_commit_callbacks):
    page = user_client.get(reverse("accounts:data"))
    assert page.status_code == 200 and "Export all my data" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = user_client.post(reverse("accounts:data_export"), headers={"HX-Request": "true"})
    assert len(callbacks) == 1  # the job is queued once the row is committed
    body = response.content.decode()
    export = DataExport.objects.get(user=user)
    assert "<progress" in body and f'hx-get="{reverse("accounts:data_export_status", args=[export.id])}"' in body
    # A second one while the first is built is refused.
    again = user_client.post(reverse("accounts:data_export"), headers={"HX-Request": "true"})
    assert again.status_code == 400 and "already" in again.content.decode()
    # Polling: 200 while it runs, 286 (stop) once it is ready, with the download link.
    assert user_client.get(reverse("accounts:data_export_status", args=[export.id])).status_code == 200
    full_export.data_export_build(export_id=export.id)
    done = user_client.get(reverse("accounts:data_export_status", args=[export.id]))
    assert done.status_code == 286
    assert reverse("accounts:data_export_download", args=[export.id]) in done.content.decode()


@pytest.mark.django_db
def test_the_data_pages_are_for_accounts_not_guests(client):
    from tests.factories import GuestFactory

    client.force_login(GuestFactory())
    assert client.get(reverse("accounts:data")).status_code == 302
    assert client.post(reverse("accounts:data_export")).status_code == 302
    assert not DataExport.objects.exists()


@pytest.mark.django_db
def test_another_users_export_is_a_404_on_every_url(client):
    export = DataExportFactory(status="ready", expires_at=timezone.now() + dt.timedelta(hours=1))
    client.force_login(UserFactory())
    for name in ("accounts:data_export_status", "accounts:data_export_download"):
        assert client.get(reverse(name, args=[export.id])).status_code == 404


@pytest.mark.slow
def test_a_real_worker_builds_the_export_dispatched_after_commit(celery_worker_process):
    user = full_user()
    export = full_export.data_export_request(user=user, download_url="")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        export.refresh_from_db()
        if export.status in ("ready", "failed"):
            break
        time.sleep(0.2)
    assert export.status == "ready", export.error
    assert "conversations.json" in read_zip(export)
