"""Constraints in both layers (model validation and the database), cascades, and files owned by rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError, transaction

from accounts.models import KeyAuditLog, ProviderKey, User
from conversations.models import (
    Attachment,
    ContextOptimization,
    Conversation,
    Message,
    Stream,
    ToolExecution,
    UsageLog,
    Vote,
)
from documents.models import Chunk, Document
from tests import factories

pytestmark = pytest.mark.django_db


def database_rejects(make) -> str:
    with pytest.raises((IntegrityError, DataError)) as caught, transaction.atomic():
        make()
    return str(caught.value)


def test_message_role_bot_is_rejected_by_validation_and_by_the_database():
    conversation = factories.ConversationFactory()
    message = Message(conversation=conversation, role="bot", content="hi")
    with pytest.raises(ValidationError) as caught:
        message.full_clean()
    assert "role" in caught.value.message_dict
    error = database_rejects(lambda: Message.objects.create(conversation=conversation, role="bot", content="hi"))
    assert "messages_role_valid" in error


def test_vote_rating_7_is_rejected_by_validation_and_by_the_database():
    message = factories.MessageFactory(role="assistant")
    vote = Vote(conversation=message.conversation, message=message, user=message.conversation.user, rating=7)
    with pytest.raises(ValidationError) as caught:
        vote.full_clean()
    assert "rating" in str(caught.value)
    error = database_rejects(
        lambda: Vote.objects.create(
            conversation=message.conversation, message=message, user=message.conversation.user, rating=7
        )
    )
    assert "votes_rating_1_to_5" in error


def test_one_vote_per_message_and_user():
    vote = factories.VoteFactory()
    second = Vote(conversation=vote.conversation, message=vote.message, user=vote.user, is_upvoted=False)
    with pytest.raises(ValidationError):
        second.full_clean()
    assert "votes_one_per_message_and_user" in database_rejects(second.save)


def test_a_second_key_for_the_same_provider_is_rejected_by_validation_and_by_the_database():
    key = factories.ProviderKeyFactory(provider="anthropic")
    second = ProviderKey(user=key.user, provider="anthropic", encrypted_key="x", key_hint="wxyz")
    with pytest.raises(ValidationError) as caught:
        second.full_clean()
    assert "already exists" in str(caught.value)
    assert "user_keys_one_per_provider" in database_rejects(second.save)
    # Another provider, or another user, is fine.
    ProviderKey.objects.create(user=key.user, provider="openai", encrypted_key="x")
    ProviderKey.objects.create(user=factories.UserFactory(), provider="anthropic", encrypted_key="x")


def test_an_unknown_provider_is_rejected_by_the_database():
    user = factories.UserFactory()
    error = database_rejects(lambda: ProviderKey.objects.create(user=user, provider="acme", encrypted_key="x"))
    assert "user_keys_provider_valid" in error


def test_a_vector_of_the_wrong_dimension_is_rejected_by_validation_and_by_the_database():
    document = factories.DocumentFactory()
    chunk = Chunk(document=document, owner=document.owner, ordinal=0, text="short", char_end=5, embedding=[0.1] * 3)
    with pytest.raises(ValidationError) as caught:
        chunk.full_clean()
    assert "384 dimensions" in str(caught.value)
    assert "expected 384 dimensions, not 3" in database_rejects(chunk.save)


def test_chunk_ordinals_are_unique_per_document():
    chunk = factories.ChunkFactory()
    error = database_rejects(lambda: factories.ChunkFactory(document=chunk.document, ordinal=chunk.ordinal))
    assert "chunks_document_ordinal_uniq" in error


@pytest.mark.parametrize(
    ("factory", "field", "value", "constraint"),
    [
        (factories.ToolExecutionFactory, "status", "exploded", "tool_executions_status_valid"),
        (factories.ConversationFactory, "visibility", "secret", "conversations_visibility_valid"),
        (factories.ConversationFactory, "provider", "acme", "conversations_provider_valid"),
        (factories.DocumentFactory, "kind", "video", "documents_kind_valid"),
        (factories.DocumentFactory, "status", "lost", "documents_status_valid"),
        (factories.StreamFactory, "status", "paused", "streams_status_valid"),
        (factories.ContextOptimizationFactory, "optimization_type", "magic", "context_opt_type_valid"),
        (factories.KeyAuditLogFactory, "action", "steal", "key_audit_action_valid"),
        (factories.PreferencesFactory, "theme", "neon", "user_preferences_theme_valid"),
        (factories.RetrievalSettingsFactory, "max_results", 500, "retrieval_max_results_range"),
    ],
)
def test_every_enum_has_a_check_constraint(factory, field, value, constraint):
    row = factory()
    setattr(row, field, value)
    with pytest.raises(ValidationError):
        row.full_clean()
    assert constraint in database_rejects(row.save)


def test_a_registered_user_needs_an_email_but_a_guest_does_not():
    guest = factories.GuestFactory()
    assert guest.email is None and guest.is_guest
    error = database_rejects(lambda: User.objects.create(email=None, is_guest=False))
    assert "users_registered_has_email" in error


def test_emails_are_unique_whatever_their_case():
    factories.UserFactory(email="Ada@Example.com")
    assert User.objects.get(email="ada@example.com")
    with pytest.raises(ValidationError):
        User(email="ADA@example.com").validate_constraints()
    assert "users_email" in database_rejects(lambda: User.objects.bulk_create([User(email="ADA@example.com")]))


def test_json_fields_default_to_empty_objects_and_lists():
    message = factories.MessageFactory()
    message.refresh_from_db()
    assert message.metadata == {} and message.parts == [] and message.provider_metadata == {}
    assert factories.ConversationFactory().metadata == {}


def every_row_of(user_id) -> dict[str, int]:
    return {
        "conversations": Conversation.objects.filter(user_id=user_id).count(),
        "messages": Message.objects.filter(conversation__user_id=user_id).count(),
        "documents": Document.objects.filter(owner_id=user_id).count(),
        "chunks": Chunk.objects.filter(owner_id=user_id).count(),
        "keys": ProviderKey.objects.filter(user_id=user_id).count(),
        "audit": KeyAuditLog.objects.filter(user_id=user_id).count(),
        "usage": UsageLog.objects.filter(user_id=user_id).count(),
        "attachments": Attachment.objects.filter(user_id=user_id).count(),
        "votes": Vote.objects.filter(user_id=user_id).count(),
    }


def populate(user: User) -> None:
    conversation = factories.ConversationFactory(user=user)
    factories.VoteFactory(message__conversation=conversation)
    factories.StreamFactory(message__conversation=conversation)
    factories.UsageLogFactory(conversation=conversation)
    factories.AttachmentFactory(conversation=conversation)
    factories.ChunkFactory(document__owner=user)
    factories.ProviderKeyFactory(user=user)
    factories.KeyAuditLogFactory(user=user)


def test_deleting_a_user_deletes_everything_of_theirs_and_nothing_else(django_capture_on_commit_callbacks):
    doomed, bystander = factories.UserFactory(), factories.UserFactory()
    populate(doomed)
    populate(bystander)
    files = [Path(a.file.path) for a in Attachment.objects.filter(user=doomed)]
    doomed_id = doomed.id
    assert all(count > 0 for count in every_row_of(doomed_id).values())
    before = every_row_of(bystander.id)
    with django_capture_on_commit_callbacks(execute=True):
        doomed.delete()
    assert set(every_row_of(doomed_id).values()) == {0}
    assert every_row_of(bystander.id) == before
    assert files and not any(path.exists() for path in files)


def test_deleting_a_conversation_deletes_its_messages_votes_streams_tools_optimisations_attachments():
    conversation = factories.ConversationFactory()
    vote = factories.VoteFactory(message__conversation=conversation)
    factories.StreamFactory(message__conversation=conversation)
    factories.ToolExecutionFactory(message__conversation=conversation)
    factories.ContextOptimizationFactory(conversation=conversation)
    factories.AttachmentFactory(conversation=conversation)
    usage = factories.UsageLogFactory(conversation=conversation, message=vote.message)
    conversation.delete()
    for model in (Message, Vote, Stream, ToolExecution, ContextOptimization, Attachment):
        assert not model.objects.filter(conversation_id=conversation.id).exists(), model.__name__
    usage.refresh_from_db()
    assert usage.conversation_id is None and usage.message_id is None, "usage is kept for accounting"


def test_a_file_is_deleted_only_after_the_deletion_commits(django_capture_on_commit_callbacks):
    attachment = factories.AttachmentFactory()
    path = Path(attachment.file.path)
    assert path.exists()

    class Abort(Exception):
        pass

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Abort), transaction.atomic():
        Attachment.objects.get(id=attachment.id).delete()
        raise Abort
    assert path.exists(), "a rolled-back delete must keep the file"
    assert Attachment.objects.filter(id=attachment.id).exists()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        attachment.delete()
        assert path.exists(), "the file stays until the transaction commits"
    for callback in callbacks:
        callback()
    assert not path.exists()


def test_deleting_a_document_removes_its_uploaded_file(django_capture_on_commit_callbacks):
    from django.core.files.base import ContentFile

    document = factories.DocumentFactory(file=ContentFile(b"# Notes\n", name="notes.md"))
    path = Path(document.file.path)
    assert path.exists()
    with django_capture_on_commit_callbacks(execute=True):
        document.delete()
    assert not path.exists()


@pytest.mark.django_db
def test_conversations_and_preferences_on_retired_models_move_to_the_current_ones():
    import importlib

    from django.apps import apps

    from accounts.models import Preferences
    from chatbot.llm.anthropic import MODELS

    migration = importlib.import_module("conversations.migrations.0003_current_models")
    assert set(migration.SUCCESSORS.values()) <= {model for model, _ in MODELS}, "successors are offered models"
    retiring = factories.ConversationFactory(model="claude-sonnet-4-5")
    custom = factories.ConversationFactory(model="claude-private-finetune")
    reply = factories.MessageFactory(conversation=retiring, role="assistant", model="claude-sonnet-4-5")
    preferences = Preferences.objects.create(user=factories.UserFactory(), default_model="claude-opus-4-1")

    migration.move_to_current_models(apps, None)

    for row in (retiring, custom, reply, preferences):
        row.refresh_from_db()
    assert (retiring.model, custom.model) == ("claude-sonnet-5-5", "claude-private-finetune")
    assert reply.model == "claude-sonnet-4-5", "a message keeps the model that wrote it"
    assert preferences.default_model == "claude-opus-5-5"
