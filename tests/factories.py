"""factory_boy factories for every model."""

from __future__ import annotations

import hashlib
import random

import factory
from django.conf import settings
from django.core.files.base import ContentFile

from accounts import models as accounts
from conversations import models as conversations
from documents import models as documents


def unit_vector(seed: int | None = None, dimensions: int | None = None) -> list[float]:
    rng = random.Random(seed)
    values = [rng.gauss(0, 1) for _ in range(dimensions or settings.EMBEDDING_DIMENSIONS)]
    norm = sum(v * v for v in values) ** 0.5
    return [v / norm for v in values]


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = accounts.User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    display_name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery staple")

    @factory.post_generation
    def _save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save(update_fields=["password"])


class GuestFactory(UserFactory):
    email = None
    is_guest = True
    display_name = ""


class SessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = accounts.Session

    session_key = factory.Sequence(lambda n: f"session{n:032d}")
    session_data = ""
    expire_date = factory.Faker("future_datetime", tzinfo=__import__("datetime").UTC)
    user = factory.SubFactory(UserFactory)
    ip = "203.0.113.7"
    user_agent = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"


class PreferencesFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = accounts.Preferences

    user = factory.SubFactory(UserFactory)
    theme = "dark"


class RetrievalSettingsFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = accounts.RetrievalSettings

    user = factory.SubFactory(UserFactory)


class ProviderKeyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = accounts.ProviderKey

    user = factory.SubFactory(UserFactory)
    provider = accounts.Provider.ANTHROPIC
    encrypted_key = "gAAAAA-not-a-real-token"
    key_hint = "abcd"


class KeyAuditLogFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = accounts.KeyAuditLog

    user = factory.SubFactory(UserFactory)
    provider = accounts.Provider.ANTHROPIC
    action = accounts.KeyAuditLog.Action.CREATE
    ip = "198.51.100.4"
    user_agent = "pytest"


class AutoApprovalSettingsFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = accounts.AutoApprovalSettings

    user = factory.SubFactory(UserFactory)


class FeedbackFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = accounts.Feedback

    user = factory.SubFactory(UserFactory)
    message = factory.Faker("sentence")


class DataExportFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = accounts.DataExport

    user = factory.SubFactory(UserFactory)


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = conversations.Project

    user = factory.SubFactory(UserFactory)
    name = factory.Faker("catch_phrase")


class ConversationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = conversations.Conversation

    user = factory.SubFactory(UserFactory)
    title = factory.Faker("sentence", nb_words=4)


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = conversations.Message

    conversation = factory.SubFactory(ConversationFactory)
    role = conversations.Message.Role.USER
    author = factory.LazyAttribute(lambda m: m.conversation.user if m.role == "user" else None)
    content = factory.Faker("paragraph")


class VoteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = conversations.Vote

    message = factory.SubFactory(MessageFactory, role="assistant")
    conversation = factory.LazyAttribute(lambda v: v.message.conversation)
    user = factory.LazyAttribute(lambda v: v.message.conversation.user)
    is_upvoted = True
    rating = 4


class StreamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = conversations.Stream

    message = factory.SubFactory(MessageFactory, role="assistant", status="streaming")
    conversation = factory.LazyAttribute(lambda s: s.message.conversation)


class AttachmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = conversations.Attachment

    conversation = factory.SubFactory(ConversationFactory)
    user = factory.LazyAttribute(lambda a: a.conversation.user)
    original_name = "notes.txt"
    mime_type = "text/plain"
    file = factory.LazyAttribute(lambda a: ContentFile(b"some notes\n", name=a.original_name))
    size = 11
    content_hash = hashlib.sha256(b"some notes\n").hexdigest()


class ToolExecutionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = conversations.ToolExecution

    message = factory.SubFactory(MessageFactory, role="assistant")
    conversation = factory.LazyAttribute(lambda t: t.message.conversation)
    tool_name = "search_documents"
    parameters = factory.LazyFunction(lambda: {"query": "pgvector"})


class ContextOptimizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = conversations.ContextOptimization

    conversation = factory.SubFactory(ConversationFactory)
    trigger_reason = "token_limit"
    optimization_type = "truncation"
    tokens_before = 9000
    tokens_after = 7000


class UsageLogFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = conversations.UsageLog

    conversation = factory.SubFactory(ConversationFactory)
    user = factory.LazyAttribute(lambda u: u.conversation.user)
    provider = "anthropic"
    model = "claude-sonnet-5-5"
    input_tokens = 120
    output_tokens = 340


class DocumentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = documents.Document

    owner = factory.SubFactory(UserFactory)
    title = factory.Faker("sentence", nb_words=3)
    status = documents.Document.Status.READY
    progress = 100


class DocumentVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = documents.DocumentVersion

    document = factory.SubFactory(DocumentFactory)
    number = factory.Sequence(lambda n: n + 1)
    content = factory.Faker("paragraph")
    author = factory.LazyAttribute(lambda v: v.document.owner)


class SuggestionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = documents.Suggestion

    version = factory.SubFactory(DocumentVersionFactory)
    user = factory.LazyAttribute(lambda s: s.version.document.owner)
    original_text = "teh"
    suggested_text = "the"
    description = "Fix a typo"


class ChunkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = documents.Chunk

    document = factory.SubFactory(DocumentFactory)
    owner = factory.LazyAttribute(lambda c: c.document.owner)
    ordinal = factory.Sequence(lambda n: n)
    text = factory.Faker("paragraph")
    chapter = "Chapter 1"
    section = "Introduction"
    char_start = 0
    char_end = factory.LazyAttribute(lambda c: len(c.text))
    embedding = factory.Sequence(lambda n: unit_vector(n))
