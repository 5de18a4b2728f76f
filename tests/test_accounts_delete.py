"""Deleting one's account: behind a fresh password check, exact confirmation, and then everything is gone."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from allauth.account.internal.flows.login import AUTHENTICATION_METHODS_SESSION_KEY
from allauth.account.models import EmailAddress
from django.contrib.auth import SESSION_KEY
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse

from accounts.models import (
    AutoApprovalSettings,
    Feedback,
    KeyAuditLog,
    Preferences,
    ProviderKey,
    RetrievalSettings,
    Session,
    User,
)
from conversations.models import Attachment, Conversation, Message, Project, UsageLog, Vote
from documents.models import Chunk, Document, DocumentVersion
from tests import factories

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"
DELETE_URL = "/settings/delete-account/"


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def account(db) -> User:
    user = factories.UserFactory()
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def reauthenticate(client: Client, password: str = PASSWORD):
    return client.post(f"{reverse('account_reauthenticate')}?next={DELETE_URL}", {"password": password})


def fresh_client(user: User) -> Client:
    client = Client()
    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302 and client.session[SESSION_KEY] == str(user.id)
    response = reauthenticate(client)
    assert response.status_code == 302 and response.url == DELETE_URL
    return client


def test_the_url():
    assert reverse("accounts:delete_account") == DELETE_URL


def test_deleting_requires_entering_the_password_again(client, account):
    client.force_login(account)  # signed in long ago: no recent password in this session
    response = client.get(DELETE_URL)
    assert response.status_code == 302
    assert response.url == f"{reverse('account_reauthenticate')}?next=%2Fsettings%2Fdelete-account%2F"
    page = client.get(response.url).content.decode()
    assert 'name="password"' in page and '<a class="brand' in page  # the site's own layout

    response = reauthenticate(client, "not my password")
    assert response.status_code == 200
    assert "Incorrect password." in response.content.decode()
    assert client.get(DELETE_URL).status_code == 302, "a wrong password does not count"

    response = reauthenticate(client)
    assert response.status_code == 302 and response.url == DELETE_URL
    page = client.get(DELETE_URL)
    assert page.status_code == 200
    assert "Delete your account" in page.content.decode()
    assert "Type &quot;delete my account&quot; to confirm" in page.content.decode()


def test_an_old_password_check_has_to_be_repeated(account):
    client = fresh_client(account)
    assert client.get(DELETE_URL).status_code == 200
    session = client.session
    records = session[AUTHENTICATION_METHODS_SESSION_KEY]
    for record in records:
        record["at"] = time.time() - 3600  # an hour ago
    session[AUTHENTICATION_METHODS_SESSION_KEY] = records
    session.save()
    response = client.get(DELETE_URL)
    assert response.status_code == 302 and response.url.startswith(reverse("account_reauthenticate"))


def test_a_post_without_a_recent_password_check_deletes_nothing(client, account):
    client.force_login(account)
    response = client.post(DELETE_URL, {"confirm": "delete my account"})
    assert response.status_code == 302 and response.url.startswith(reverse("account_reauthenticate"))
    assert User.objects.filter(id=account.id).exists()


def test_guests_and_visitors_cannot_reach_it(client):
    response = client.get(DELETE_URL)
    assert response.status_code == 302 and response.url.startswith(reverse("account_login"))
    guest = factories.GuestFactory()
    client.force_login(guest)
    response = client.post(DELETE_URL, {"confirm": "delete my account"})
    assert response.status_code == 302 and response.url == reverse("account_signup")
    assert User.objects.filter(id=guest.id).exists()


@pytest.mark.parametrize("text", ["", "delete", "delete my acount", "yes"])
def test_the_wrong_confirmation_deletes_nothing(account, text):
    client = fresh_client(account)
    conversation = factories.ConversationFactory(user=account)
    response = client.post(DELETE_URL, {"confirm": text})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Please type &quot;delete my account&quot; exactly." in page or "This field is required." in page
    assert User.objects.filter(id=account.id).exists()
    assert Conversation.objects.filter(id=conversation.id).exists()
    assert client.session[SESSION_KEY] == str(account.id), "still signed in"


def test_deleting_removes_the_user_everything_they_own_and_their_files(account, django_capture_on_commit_callbacks):
    client = fresh_client(account)
    other_device = Client()
    other_device.post(reverse("account_login"), {"login": account.email, "password": PASSWORD})
    assert other_device.session[SESSION_KEY] == str(account.id)

    project = factories.ProjectFactory(user=account)
    conversation = factories.ConversationFactory(user=account)
    message = factories.MessageFactory(conversation=conversation)
    factories.VoteFactory(message__conversation=conversation)
    factories.UsageLogFactory(conversation=conversation)
    attachment = factories.AttachmentFactory(conversation=conversation, message=message)
    document = factories.DocumentFactory(owner=account, file=ContentFile(b"my handbook", name="handbook.txt"))
    factories.DocumentVersionFactory(document=document)
    factories.ChunkFactory(document=document)
    factories.ProviderKeyFactory(user=account)
    factories.KeyAuditLogFactory(user=account)
    factories.PreferencesFactory(user=account)
    factories.RetrievalSettingsFactory(user=account)
    factories.AutoApprovalSettingsFactory(user=account)
    factories.FeedbackFactory(user=account)
    files = [Path(attachment.file.path), Path(document.file.path)]
    assert all(path.read_bytes() for path in files)

    bystander = factories.UserFactory()
    their_conversation = factories.ConversationFactory(user=bystander)
    their_attachment = factories.AttachmentFactory(conversation=their_conversation)
    their_key = factories.ProviderKeyFactory(user=bystander)
    their_session = factories.SessionFactory(user=bystander)
    shared_document = factories.DocumentFactory(owner=None)

    assert Session.objects.filter(user=account).count() == 2
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(DELETE_URL, {"confirm": "  Delete My Account "})
    assert response.status_code == 302 and response.url == reverse("home")
    assert len(callbacks) >= 2, "file removal waits for the commit"

    assert not User.objects.filter(id=account.id).exists()
    for model, lookup in [
        (Project, {"id": project.id}),
        (Conversation, {"user_id": account.id}),
        (Message, {"conversation_id": conversation.id}),
        (Vote, {"conversation_id": conversation.id}),
        (UsageLog, {"user_id": account.id}),
        (Attachment, {"user_id": account.id}),
        (Document, {"owner_id": account.id}),
        (DocumentVersion, {"document_id": document.id}),
        (Chunk, {"document_id": document.id}),
        (ProviderKey, {"user_id": account.id}),
        (KeyAuditLog, {"user_id": account.id}),
        (Preferences, {"user_id": account.id}),
        (RetrievalSettings, {"user_id": account.id}),
        (AutoApprovalSettings, {"user_id": account.id}),
        (Feedback, {"user_id": account.id}),
        (EmailAddress, {"user_id": account.id}),
        (Session, {"user_id": account.id}),
    ]:
        assert not model.objects.filter(**lookup).exists(), model.__name__
    assert not any(path.exists() for path in files), "uploaded files are removed from storage"

    assert Conversation.objects.filter(id=their_conversation.id).exists()
    assert Path(their_attachment.file.path).exists()
    assert ProviderKey.objects.filter(id=their_key.id).exists()
    assert Session.objects.filter(pk=their_session.pk).exists()
    assert Document.objects.filter(id=shared_document.id).exists()

    assert client.session.get(SESSION_KEY) is None
    home = client.get(reverse("home"))
    assert "Your account and everything in it have been deleted." in home.content.decode()
    assert client.get(reverse("accounts:preferences")).status_code == 302
    assert other_device.get(reverse("accounts:preferences")).status_code == 302, "every device is signed out"
    assert not Client().login(username=account.email, password=PASSWORD)


def test_files_stay_if_the_deletion_rolls_back(account, django_capture_on_commit_callbacks):
    from django.db import transaction

    from accounts.services import user_delete

    attachment = factories.AttachmentFactory(conversation=factories.ConversationFactory(user=account))
    path, user_id = Path(attachment.file.path), account.id
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        user_delete(user=account)
        raise RuntimeError("something failed after the delete")
    assert callbacks == []
    assert User.objects.filter(id=user_id).exists()
    assert Attachment.objects.filter(id=attachment.id).exists()
    assert path.exists()
