"""Seed 001's retention table, row by row, with time moved by a clock fixture; and the account purge."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest
import redis
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.db import models

from chatbot.cleanup import cleanup_run
from conversations.models import Attachment, Conversation, Message, Stream, UsageLog
from documents.models import Chunk, Document
from tests import factories
from tests.clock import clock_fixture  # noqa: F401  (the clock fixture)

pytestmark = pytest.mark.django_db


def reload(conversation: Conversation) -> Conversation:
    return Conversation.objects.get(id=conversation.id)


# --- Active and inactive conversations --------------------------------------------------------------------------


def test_untouched_conversations_are_archived_after_the_archive_days_and_active_or_pinned_ones_never(clock, settings):
    settings.CONVERSATION_ARCHIVE_DAYS = 90
    idle = factories.ConversationFactory()
    factories.MessageFactory.create_batch(2, conversation=idle)
    pinned = factories.ConversationFactory(pinned=True)
    busy = factories.StreamFactory().conversation  # a reply is streaming in it right now
    active = factories.ConversationFactory()

    clock.advance(days=89)
    Conversation.objects.filter(id=active.id).update(updated_at=clock.now())  # used on day 89
    assert cleanup_run()["inactive conversations archived"] == 0

    clock.advance(days=2)  # day 91
    counts = cleanup_run()

    assert counts["inactive conversations archived"] == 1
    assert abs(reload(idle).archived_at - clock.now()) < dt.timedelta(seconds=5), "archived at the cleanup's now"
    assert Message.objects.filter(conversation=idle).count() == 2, "archived, not deleted: restorable"
    assert reload(idle).updated_at < clock.now() - dt.timedelta(days=90), "activity untouched"
    for kept in (pinned, busy, active):
        assert reload(kept).archived_at is None
    assert cleanup_run()["inactive conversations archived"] == 0, "archived once"


def test_a_chat_restored_from_the_archive_is_not_archived_again_by_the_next_run(clock, settings, client):
    settings.CONVERSATION_ARCHIVE_DAYS = 90
    conversation = factories.ConversationFactory()
    clock.advance(days=91)
    assert cleanup_run()["inactive conversations archived"] == 1
    client.force_login(conversation.user)
    response = client.post(f"/c/{conversation.id}/archive/", {"archived": "0"})
    assert response.status_code == 302 and reload(conversation).archived_at is None
    clock.advance(days=1)
    assert cleanup_run()["inactive conversations archived"] == 0
    assert reload(conversation).archived_at is None


def test_no_archiving_when_the_archive_days_are_zero(clock, settings):
    settings.CONVERSATION_ARCHIVE_DAYS = 0
    conversation = factories.ConversationFactory()
    clock.advance(days=3650)
    assert "inactive conversations archived" not in cleanup_run()
    assert reload(conversation).archived_at is None


def test_archived_conversations_are_kept_by_default(clock, settings):
    assert settings.CONVERSATION_RETENTION_DAYS == 0
    conversation = factories.ConversationFactory()
    clock.advance(days=91)
    cleanup_run()
    clock.advance(days=3650)
    counts = cleanup_run()
    assert "archived conversations deleted" not in counts
    assert Conversation.objects.filter(id=conversation.id).exists()


def test_archived_conversations_are_deleted_the_retention_days_after_archiving_with_their_rows(clock, settings):
    settings.CONVERSATION_ARCHIVE_DAYS, settings.CONVERSATION_RETENTION_DAYS = 90, 30
    doomed = factories.ConversationFactory()
    root = factories.MessageFactory(conversation=doomed)
    reply = factories.MessageFactory(conversation=doomed, parent=root, role="assistant")
    factories.MessageFactory(conversation=doomed, parent=root, role="assistant")  # a regenerated sibling
    Conversation.objects.filter(id=doomed.id).update(active_leaf=reply)
    factories.VoteFactory(message=reply)
    usage = factories.UsageLogFactory(conversation=doomed, user=doomed.user, message=reply)
    attachment = factories.AttachmentFactory(conversation=doomed, message=root)
    stored = Path(attachment.file.path)
    pinned_later = factories.ConversationFactory()
    kept = factories.ConversationFactory()

    clock.advance(days=91)
    assert cleanup_run()["inactive conversations archived"] == 3
    Conversation.objects.filter(id=pinned_later.id).update(pinned=True)  # pinned while archived
    clock.advance(days=29)
    assert cleanup_run()["archived conversations deleted"] == 0
    Conversation.objects.filter(id=kept.id).update(archived_at=clock.now())  # archived again (restored) today

    clock.advance(days=2)  # 31 days after archiving
    counts = cleanup_run()

    assert counts["archived conversations deleted"] == 1
    assert not Conversation.objects.filter(id=doomed.id).exists()
    assert not Message.objects.filter(conversation_id=doomed.id).exists()
    assert not Attachment.objects.filter(id=attachment.id).exists()
    assert not stored.exists(), "the attachment's file went with it"
    usage.refresh_from_db()
    assert usage.conversation_id is None and usage.message_id is None, "usage is kept for accounting, unlinked"
    assert set(Conversation.objects.values_list("id", flat=True)) == {pinned_later.id, kept.id}


def test_a_long_conversation_is_deleted_in_batches(clock, settings, monkeypatch):
    import chatbot.cleanup

    monkeypatch.setattr(chatbot.cleanup, "BATCH", 7)
    settings.CONVERSATION_ARCHIVE_DAYS, settings.CONVERSATION_RETENTION_DAYS = 1, 1
    conversation = factories.ConversationFactory()
    parent = None
    for _ in range(40):  # one long branch: each message the parent of the next
        parent = factories.MessageFactory(conversation=conversation, parent=parent)
    clock.advance(days=2)
    cleanup_run()
    clock.advance(days=2)
    with chatbot.cleanup.longest_statement() as timer:
        assert cleanup_run()["archived conversations deleted"] == 1
    assert not Message.objects.filter(conversation_id=conversation.id).exists()
    assert timer.count > 6, "several batches, not one statement"


# --- System messages --------------------------------------------------------------------------------------------


def test_system_messages_older_than_30_days_go_and_the_replies_under_them_stay(clock, settings):
    assert settings.SYSTEM_MESSAGE_RETENTION_DAYS == 30
    conversation = factories.ConversationFactory(pinned=True)  # retention of system messages applies even here
    system = factories.MessageFactory(conversation=conversation, role="system", content="You are terse.")
    question = factories.MessageFactory(conversation=conversation, parent=system)
    nested = factories.MessageFactory(conversation=conversation, parent=question, role="system")
    answer = factories.MessageFactory(conversation=conversation, parent=nested, role="assistant")
    lone = factories.MessageFactory(conversation=factories.ConversationFactory(), role="system")
    Conversation.objects.filter(id=lone.conversation_id).update(active_leaf=lone)
    clock.advance(days=29)
    fresh = factories.MessageFactory(conversation=conversation, role="system")
    Message.objects.filter(id=fresh.id).update(created_at=clock.now())

    assert cleanup_run()["system messages deleted"] == 0
    clock.advance(days=2)
    assert cleanup_run()["system messages deleted"] == 3

    assert set(Message.objects.filter(conversation=conversation).values_list("id", flat=True)) == {
        question.id,
        answer.id,
        fresh.id,
    }
    question.refresh_from_db()
    answer.refresh_from_db()
    assert question.parent_id is None and answer.parent_id == question.id, "the thread closes over the gap"
    assert reload(lone.conversation).active_leaf_id is None


# --- Orphaned files ----------------------------------------------------------------------------------------------


def test_orphaned_files_older_than_a_day_are_deleted_and_referenced_or_new_ones_kept(clock, settings):
    # A sent one: an upload never sent is deleted with its row after a day (the "unsent attachments" rule).
    attachment = factories.AttachmentFactory(message=factories.MessageFactory())
    document = factories.DocumentFactory(file=ContentFile(b"handbook", name="handbook.txt"))
    root = Path(settings.MEDIA_ROOT)
    orphans = [root / "attachments" / "gone" / "a.txt", root / "exports" / str(uuid.uuid4()) / "export.zip"]
    for path in orphans:
        path.parent.mkdir(parents=True)
        path.write_bytes(b"nobody points at me")

    assert cleanup_run()["orphaned files deleted"] == 0, "a day's grace: an upload's row may not be committed yet"
    clock.advance(days=1, hours=1)
    assert cleanup_run(dry_run=True)["orphaned files deleted"] == 2
    assert all(path.exists() for path in orphans)
    assert cleanup_run()["orphaned files deleted"] == 2

    assert not any(path.exists() for path in orphans)
    assert not (root / "attachments" / "gone").exists() and not (root / "exports").exists(), "empty folders too"
    assert Path(attachment.file.path).exists() and Path(document.file.path).exists()


# --- The account purge ------------------------------------------------------------------------------------------


def user_references() -> list[tuple[type[models.Model], str]]:
    """Every (model, field) pointing at the user model, from the model graph: foreign keys, one-to-ones and
    many-to-many tables (their through models are auto-created models)."""
    user_model = get_user_model()
    found = []
    for model in apps.get_models(include_auto_created=True):
        for field in model._meta.get_fields():
            if field.concrete and (field.many_to_one or field.one_to_one) and field.related_model is user_model:
                found.append((model, field.name))
    return found


def rows_of(user_id) -> dict[str, int]:
    return {
        f"{model._meta.label}.{field}": model._default_manager.filter(**{field: user_id}).count()
        for model, field in user_references()
    }


def test_the_reference_discovery_sees_every_kind_of_owner_field():
    labels = {f"{model._meta.label}.{field}" for model, field in user_references()}
    for expected in [
        "conversations.Conversation.user",
        "conversations.UsageLog.user",
        "documents.Document.owner",
        "documents.Chunk.owner",
        "accounts.Preferences.user",
        "accounts.Session.user",
        "account.EmailAddress.user",
        "admin.LogEntry.user",
        "accounts.User_groups.user",
        "conversations.Message.author",
    ]:
        assert expected in labels, expected


def test_deleting_an_account_purges_every_row_file_chunk_and_redis_key_at_once(
    django_capture_on_commit_callbacks,
):
    from accounts.services import user_delete
    from conversations.streams import alive_key, stop_key, stream_key
    from conversations.titles import title_pending_key

    user = factories.UserFactory()
    user_id = user.id
    conversation = factories.ConversationFactory(user=user)
    message = factories.MessageFactory(conversation=conversation)
    stream = factories.StreamFactory(message__conversation=conversation)
    factories.VoteFactory(message__conversation=conversation)
    factories.UsageLogFactory(conversation=conversation, user=user)
    factories.ContextOptimizationFactory(conversation=conversation)
    factories.ToolExecutionFactory(message=message, conversation=conversation)
    attachment = factories.AttachmentFactory(conversation=conversation, message=message)
    document = factories.DocumentFactory(owner=user, file=ContentFile(b"my handbook", name="handbook.txt"))
    factories.DocumentVersionFactory(document=document)
    chunks = [factories.ChunkFactory(document=document, owner=user, ordinal=n) for n in range(3)]
    factories.ProjectFactory(user=user)
    factories.ProviderKeyFactory(user=user)
    factories.KeyAuditLogFactory(user=user)
    factories.PreferencesFactory(user=user)
    factories.RetrievalSettingsFactory(user=user)
    factories.AutoApprovalSettingsFactory(user=user)
    factories.FeedbackFactory(user=user)
    factories.SessionFactory(user=user)
    media = Path(settings.MEDIA_ROOT)
    files = [Path(attachment.file.path), Path(document.file.path)]
    assert all(path.exists() for path in files)

    client = redis.Redis.from_url(settings.REDIS_URL)
    theirs = [
        stream_key(stream.id),
        stop_key(stream.id),
        alive_key(stream.id),
        f"chatbot:1:{title_pending_key(conversation.id)}",
        f"chatbot:1:ratelimit:key-test:{user.id}:123",
    ]
    other_stream = factories.StreamFactory()
    bystanders = [stream_key(other_stream.id), f"chatbot:1:ratelimit:key-test:{other_stream.conversation.user_id}:1"]
    for key in theirs + bystanders:
        client.set(key, "1", ex=600)
    bystander_attachment = factories.AttachmentFactory(conversation=other_stream.conversation)
    shared = factories.DocumentFactory(owner=None, file=ContentFile(b"for all", name="all.txt"))

    before = rows_of(user_id)
    assert sum(before.values()) >= 15, before

    with django_capture_on_commit_callbacks(execute=True):
        user_delete(user=user)

    assert not any(rows_of(user_id).values()), {label: n for label, n in rows_of(user_id).items() if n}
    for model in (Conversation, Message, Stream, Attachment, Document, Chunk):
        assert not model.objects.filter(pk__in=[conversation.id, message.id, stream.id, attachment.id, document.id])
    assert not Chunk.objects.filter(id__in=[chunk.id for chunk in chunks]).exists()
    assert not Chunk.objects.filter(document_id=document.id).exists()
    assert not UsageLog.objects.filter(user_id=user.id).exists()
    assert not any(path.exists() for path in files)
    leftovers = [path for path in media.rglob("*") if str(user_id) in str(path)]
    assert leftovers == [], "no media folder is named after them any more"
    assert [key for key in theirs if client.exists(key)] == []
    assert all(client.exists(key) for key in bystanders), "only their keys"
    assert Path(bystander_attachment.file.path).exists() and Path(shared.file.path).exists()
    client.delete(*bystanders)
    client.close()


def test_the_admin_deleting_a_user_purges_the_same(django_capture_on_commit_callbacks):
    user = factories.UserFactory()
    attachment = factories.AttachmentFactory(conversation=factories.ConversationFactory(user=user))
    stream = factories.StreamFactory(message__conversation=attachment.conversation)
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.set(f"chat:stream:{stream.id}", "1", ex=600)
    with django_capture_on_commit_callbacks(execute=True):
        get_user_model().objects.filter(id=user.id).delete()  # the admin's bulk delete action does this
    assert not client.exists(f"chat:stream:{stream.id}")
    assert not (Path(settings.MEDIA_ROOT) / "attachments" / str(user.id)).exists()
    client.close()
