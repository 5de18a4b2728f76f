"""Every admin page of the three apps renders, and the big tables' pages stay cheap."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.contrib.admin.widgets import AutocompleteSelect, ForeignKeyRawIdWidget
from django.db import connection
from django.db.models import Model
from django.forms import ModelChoiceField, ModelMultipleChoiceField
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from accounts.models import KeyAuditLog, Session, User
from conversations.models import Message, Stream, ToolExecution, UsageLog, Vote
from documents.models import Chunk
from tests import factories

APPS = ("accounts", "conversations", "documents")

FACTORIES: dict[str, type[factories.factory.django.DjangoModelFactory]] = {
    "accounts.user": factories.UserFactory,
    "accounts.session": factories.SessionFactory,
    "accounts.preferences": factories.PreferencesFactory,
    "accounts.retrievalsettings": factories.RetrievalSettingsFactory,
    "accounts.providerkey": factories.ProviderKeyFactory,
    "accounts.keyauditlog": factories.KeyAuditLogFactory,
    "accounts.autoapprovalsettings": factories.AutoApprovalSettingsFactory,
    "accounts.feedback": factories.FeedbackFactory,
    "accounts.dataexport": factories.DataExportFactory,
    "conversations.project": factories.ProjectFactory,
    "conversations.conversation": factories.ConversationFactory,
    "conversations.message": factories.MessageFactory,
    "conversations.vote": factories.VoteFactory,
    "conversations.stream": factories.StreamFactory,
    "conversations.attachment": factories.AttachmentFactory,
    "conversations.toolexecution": factories.ToolExecutionFactory,
    "conversations.contextoptimization": factories.ContextOptimizationFactory,
    "conversations.usagelog": factories.UsageLogFactory,
    "documents.document": factories.DocumentFactory,
    "documents.documentversion": factories.DocumentVersionFactory,
    "documents.suggestion": factories.SuggestionFactory,
    "documents.chunk": factories.ChunkFactory,
}

# Tables only: a dashboard (an unmanaged model with a page of its own) has no rows to list or change.
REGISTERED = sorted(
    model._meta.label_lower for model in admin.site._registry if model._meta.app_label in APPS and model._meta.managed
)


def admin_url(model: type[Model] | Model, view: str, *args: object) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def rows(db, settings, tmp_path) -> dict[str, Model]:
    """One row of every model, keyed by model label."""
    settings.MEDIA_ROOT = tmp_path  # the attachment's file
    return {label: factory() for label, factory in FACTORIES.items()}


@pytest.fixture
def superuser_request(admin_user):
    request = RequestFactory().get("/admin/")
    request.user = admin_user
    return request


def test_every_model_of_the_three_apps_is_registered():
    models = {
        model._meta.label_lower
        for app in APPS
        for model in apps.get_app_config(app).get_models()
        if model._meta.managed
    }
    assert set(REGISTERED) == models
    assert set(FACTORIES) == models


@pytest.mark.django_db
@pytest.mark.parametrize("label", REGISTERED)
def test_admin_pages_render(label, rows, admin_client, superuser_request):
    obj = rows[label]
    model_admin = admin.site._registry[type(obj)]

    response = admin_client.get(admin_url(obj, "changelist"))
    assert response.status_code == 200
    assert escape(str(obj)) in response.content.decode()

    response = admin_client.get(admin_url(obj, "changelist"), {"q": "x"})
    assert response.status_code == 200

    response = admin_client.get(admin_url(obj, "change", quote(obj.pk)))
    assert response.status_code == 200

    response = admin_client.get(admin_url(obj, "add"))
    assert response.status_code == (200 if model_admin.has_add_permission(superuser_request) else 403)


@pytest.mark.django_db
@pytest.mark.parametrize("label", REGISTERED)
def test_no_form_offers_a_whole_table_in_a_select(label, rows, superuser_request):
    obj = rows[label]
    model_admin = admin.site._registry[type(obj)]

    for instance in (None, obj):
        if instance is None and not model_admin.has_add_permission(superuser_request):
            continue
        if instance is not None and not model_admin.has_change_permission(superuser_request, instance):
            continue  # every field is rendered read-only: no form field, no choices
        form = model_admin.get_form(superuser_request, instance)
        for name, field in form.base_fields.items():
            # Many-to-many fields here are groups and permissions: small tables, shown with filter_horizontal.
            if isinstance(field, ModelChoiceField) and not isinstance(field, ModelMultipleChoiceField):
                widget = getattr(field.widget, "widget", field.widget)  # unwrap RelatedFieldWidgetWrapper
                assert isinstance(widget, ForeignKeyRawIdWidget | AutocompleteSelect), f"{label}.{name}"


@pytest.mark.parametrize("model", [Message, Chunk, KeyAuditLog, UsageLog, Session, Vote, Stream, ToolExecution])
def test_big_tables_are_never_counted_whole(model):
    model_admin = admin.site._registry[model]
    assert model_admin.show_full_result_count is False
    assert model_admin.show_facets == admin.ShowFacets.NEVER
    assert model_admin.list_per_page <= 100


@pytest.mark.django_db
@pytest.mark.parametrize("label", ["accounts.keyauditlog", "conversations.usagelog"])
def test_audit_trails_are_read_only(label, rows, admin_client):
    obj = rows[label]
    before = {field.attname: getattr(obj, field.attname) for field in obj._meta.concrete_fields}

    assert admin_client.post(admin_url(obj, "change", quote(obj.pk)), {"user": ""}).status_code == 403
    assert admin_client.post(admin_url(obj, "delete", quote(obj.pk)), {"post": "yes"}).status_code == 403
    assert admin_client.post(admin_url(obj, "add"), {}).status_code == 403

    obj.refresh_from_db()
    assert {field.attname: getattr(obj, field.attname) for field in obj._meta.concrete_fields} == before
    # Still readable, every field as text.
    response = admin_client.get(admin_url(obj, "change", quote(obj.pk)))
    assert response.status_code == 200
    assert "<select" not in response.content.decode()


@pytest.mark.django_db
def test_provider_key_pages_never_show_the_encrypted_key(admin_client):
    key = factories.ProviderKeyFactory(encrypted_key="gAAAAA-secret-ciphertext-0123456789")

    for url in (admin_url(key, "changelist"), admin_url(key, "change", quote(key.pk))):
        page = admin_client.get(url).content.decode()
        assert "gAAAAA-secret-ciphertext" not in page
        assert "encrypted_key" not in page
        assert key.key_hint in page

    # Saving the form (only flags are editable) leaves the ciphertext alone.
    response = admin_client.post(
        admin_url(key, "change", quote(key.pk)), {"config": "{}", "is_active": "", "is_default": "on"}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    key.refresh_from_db()
    assert key.encrypted_key == "gAAAAA-secret-ciphertext-0123456789"
    assert (key.is_active, key.is_default) == (False, False), "is_default is read by nothing: not offered"


@pytest.mark.django_db
def test_the_admin_offers_no_field_that_nothing_reads(admin_client):
    """A setting that changes nothing is a defect: ProviderKey.is_default and User.profile_image are read by no
    code, so the admin does not offer them."""
    key = factories.ProviderKeyFactory()
    page = admin_client.get(admin_url(key, "change", quote(key.pk))).content.decode()
    assert 'name="is_active"' in page and 'name="is_default"' not in page
    assert "is_default" not in admin_client.get(admin_url(key, "changelist")).content.decode()
    page = admin_client.get(admin_url(key.user, "change", quote(key.user.pk))).content.decode()
    assert 'name="display_name"' in page and 'name="profile_image"' not in page


@pytest.mark.django_db
def test_chunk_pages_show_at_most_a_preview_of_the_embedding(admin_client):
    chunk = factories.ChunkFactory(embedding=[0.5] * settings.EMBEDDING_DIMENSIONS)

    listing = admin_client.get(admin_url(chunk, "changelist")).content.decode()
    assert "0.5000" not in listing

    page = admin_client.get(admin_url(chunk, "change", quote(chunk.pk))).content.decode()
    assert f"[0.5000, 0.5000, 0.5000, 0.5000, 0.5000, …] ({settings.EMBEDDING_DIMENSIONS} dimensions)" in page
    assert 'name="embedding"' not in page
    assert 'name="search_vector"' not in page


@pytest.mark.django_db
def test_user_admin_creates_a_user_by_email(admin_client):
    response = admin_client.post(
        admin_url(User, "add"),
        {
            "email": "  New.Person@Example.com ",
            "usable_password": "true",
            "password1": "a-long-enough-passphrase",
            "password2": "a-long-enough-passphrase",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    user = User.objects.get(email="new.person@example.com")
    assert user.check_password("a-long-enough-passphrase")
    assert not user.is_staff


@pytest.mark.django_db
def test_user_admin_rejects_an_email_differing_only_in_case(admin_client):
    factories.UserFactory(email="taken@example.com")
    response = admin_client.post(
        admin_url(User, "add"),
        {
            "email": "Taken@Example.com",
            "usable_password": "true",
            "password1": "a-long-enough-passphrase",
            "password2": "a-long-enough-passphrase",
        },
    )
    assert response.status_code == 200
    assert User.objects.filter(email__iexact="taken@example.com").count() == 1


@pytest.mark.django_db
def test_message_search_uses_words_and_ids(admin_client):
    message = factories.MessageFactory(content="The robot publishes odometry on a topic.")
    other = factories.MessageFactory(content="Simmer the onions until golden.")
    url = admin_url(Message, "changelist")

    for query in ("odometry topics", str(message.pk), str(message.conversation_id)):
        page = admin_client.get(url, {"q": query}).content.decode()
        assert escape(str(message)) in page, query
        assert escape(str(other)) not in page, query


@pytest.mark.django_db
@pytest.mark.parametrize("label", REGISTERED)
def test_changelist_queries_do_not_grow_with_rows(label, admin_client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    factory = FACTORIES[label]
    url = admin_url(factory._meta.model, "changelist")
    factory()
    admin_client.get(url)  # the first request after logging in stamps the session; not what is measured here

    with CaptureQueriesContext(connection) as one_row:
        admin_client.get(url)
    factory.create_batch(20)
    with CaptureQueriesContext(connection) as many_rows:
        response = admin_client.get(url)

    assert response.status_code == 200
    assert len(many_rows) == len(one_row), "\n".join(query["sql"] for query in many_rows.captured_queries)


@pytest.mark.django_db
def test_message_changelist_queries_are_bounded(admin_client, django_assert_max_num_queries):
    for _ in range(30):
        conversation = factories.ConversationFactory(project=factories.ProjectFactory())
        factories.MessageFactory(conversation=conversation)
    url = admin_url(Message, "changelist")
    admin_client.get(url)  # the first request after logging in stamps the session; not what is measured here

    with django_assert_max_num_queries(12):
        response = admin_client.get(url)
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 30


def test_a_keys_config_promises_only_what_the_app_reads():
    """Its help text said "base_url, model": nothing reads a "model" there (a chat's model is picked in the
    composer), so an admin setting one changed nothing."""
    from accounts.models import ProviderKey

    help_text = ProviderKey._meta.get_field("config").help_text
    assert "base_url" in help_text and "models" in help_text and "model." not in help_text


def test_a_user_with_usage_and_audit_trails_can_be_deleted_from_the_admin(
    admin_client, settings, tmp_path, django_capture_on_commit_callbacks
):
    # An operator's walk: Django refused ("doesn't have permission to delete ... usage log, key audit log"), since
    # those trails are read-only in the admin; any user who had chatted once could not be deleted.
    settings.MEDIA_ROOT = tmp_path
    user = factories.UserFactory()
    usage = factories.UsageLogFactory(conversation=factories.ConversationFactory(user=user))
    audit = factories.KeyAuditLogFactory(user=user)
    export = factories.DataExportFactory(user=user)
    attachment = factories.AttachmentFactory(conversation=usage.conversation)
    folder = tmp_path / "attachments" / str(user.pk)
    assert Path(attachment.file.path).is_relative_to(folder)

    page = admin_client.get(admin_url(User, "delete", quote(user.pk)))
    assert page.status_code == 200 and b"Are you sure" in page.content

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(admin_url(User, "delete", quote(user.pk)), {"post": "yes"})
    assert response.status_code == 302
    assert not User.objects.filter(pk=user.pk).exists()
    assert not UsageLog.objects.filter(pk=usage.pk).exists() and not KeyAuditLog.objects.filter(pk=audit.pk).exists()
    assert not type(export).objects.filter(pk=export.pk).exists()
    assert not folder.exists(), "the user's files go once the deletion commits"


def test_the_trails_stay_undeletable_on_their_own(admin_client):
    audit = factories.KeyAuditLogFactory()
    assert admin_client.post(admin_url(KeyAuditLog, "delete", quote(audit.pk)), {"post": "yes"}).status_code == 403
    assert KeyAuditLog.objects.filter(pk=audit.pk).exists()


def test_the_user_delete_page_counts_what_goes_instead_of_listing_every_row(admin_client, settings, tmp_path):
    # An operator's walk: for a user with 5,000 messages and 3,000 passages Django's page listed and linked each
    # row, 1.2 MB in 3-6 s. Now a count per kind of row, in queries that do not grow with the rows.
    from chatbot.cleanup import owned_counts, owned_rows

    settings.MEDIA_ROOT = tmp_path

    def user_with(messages: int):
        user = factories.UserFactory()
        conversation = factories.ConversationFactory(user=user)
        factories.MessageFactory.create_batch(messages, conversation=conversation)
        factories.UsageLogFactory(conversation=conversation)
        factories.ChunkFactory.create_batch(messages, document=factories.DocumentFactory(owner=user), owner=user)
        return user

    admin_client.get(reverse("admin:index"))  # the first request fills per-process caches
    queries = {}
    for messages in (2, 20):
        user = user_with(messages)
        with CaptureQueriesContext(connection) as captured:
            page = admin_client.get(admin_url(User, "delete", quote(user.pk)))
        queries[messages] = len(captured)
        text = page.content.decode()
        assert page.status_code == 200 and "Are you sure" in text
        assert f"<li>{messages} messages</li>" in text and f"<li>{messages} chunks</li>" in text
        assert "<li>1 usage logs</li>" in text, re.findall(r"<li>\d[^<]*</li>", text)
        assert not any(str(message.pk) in text for message in Message.objects.filter(conversation__user=user))
        expected = {model: len(pks) for model, pks in owned_rows([user.pk]).items()}
        assert owned_counts([user.pk]) == expected
    assert queries[20] == queries[2]
