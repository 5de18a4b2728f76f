"""API keys: encrypted at rest, shown once as a hint, every action audited, scoped to their owner."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from accounts.crypto import decrypt_secret
from accounts.models import KeyAuditLog, ProviderKey
from accounts.services import SYSTEM, provider_key_for_chat, provider_key_save
from tests import factories

pytestmark = pytest.mark.django_db
SECRET = "sk-ant-test-0123456789-SECRETVALUE-wxyz"
UA = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"


def add_key(client, secret=SECRET, provider="anthropic"):
    return client.post(
        reverse("accounts:keys"),
        {"provider": provider, "api_key": secret},
        HTTP_USER_AGENT=UA,
        REMOTE_ADDR="203.0.113.9",
    )


def test_adding_a_key_stores_it_encrypted_and_shows_only_the_hint(user_client, user):
    response = add_key(user_client)
    assert response.status_code == 302
    page = user_client.get(reverse("accounts:keys")).content.decode()
    assert "…wxyz" in page
    assert SECRET not in page and "SECRETVALUE" not in page
    with connection.cursor() as cursor:  # what a database dump would contain
        cursor.execute("SELECT * FROM user_keys")
        dumped = repr(cursor.fetchall())
    assert "SECRETVALUE" not in dumped and "sk-ant" not in dumped
    key = ProviderKey.objects.get(user=user)
    assert decrypt_secret(key.encrypted_key) == SECRET
    audit = KeyAuditLog.objects.get(user=user)
    assert (audit.action, audit.ip, audit.user_agent, audit.success) == ("create", "203.0.113.9", UA, True)


def test_the_key_is_never_logged(user_client, caplog):
    caplog.set_level("DEBUG")
    add_key(user_client)
    assert "SECRETVALUE" not in caplog.text


def test_replacing_a_key_keeps_one_row_and_audits_an_update(user_client, user):
    add_key(user_client)
    add_key(user_client, secret="sk-ant-test-second-key-9999")
    key = ProviderKey.objects.get(user=user)
    assert key.key_hint == "9999" and decrypt_secret(key.encrypted_key) == "sk-ant-test-second-key-9999"
    assert list(KeyAuditLog.objects.filter(user=user).order_by("created_at").values_list("action", flat=True)) == [
        "create",
        "update",
    ]


@pytest.mark.parametrize("bad", ["short", "has spaces in the key value", ""])
def test_a_malformed_key_is_refused_with_a_clear_error(user_client, user, bad):
    response = add_key(user_client, secret=bad)
    assert response.status_code == 400
    assert not ProviderKey.objects.filter(user=user).exists()
    assert b"does not look like an API key" in response.content or b"This field is required" in response.content


def test_testing_a_key_asks_the_provider_and_audits_the_result(user_client, user, fake_anthropic):
    add_key(user_client)
    key = ProviderKey.objects.get(user=user)
    response = user_client.post(reverse("accounts:key_test", args=[key.id]), HTTP_HX_REQUEST="true")
    assert "The key works." in response.content.decode()
    add_key(user_client, secret="sk-ant-revoked-000000000")
    response = user_client.post(reverse("accounts:key_test", args=[key.id]), HTTP_HX_REQUEST="true")
    assert "rejected this key (401)" in response.content.decode()
    tests = KeyAuditLog.objects.filter(user=user, action="test").order_by("created_at")
    assert [t.success for t in tests] == [True, False]
    assert "401" in tests[1].error_message


def test_deactivate_and_delete_are_audited(user_client, user):
    add_key(user_client)
    key = ProviderKey.objects.get(user=user)
    user_client.post(reverse("accounts:key_toggle", args=[key.id]))
    key.refresh_from_db()
    assert key.is_active is False
    assert provider_key_for_chat(user=user, provider="anthropic", client=SYSTEM) is None, "inactive keys are not used"
    user_client.post(reverse("accounts:key_delete", args=[key.id]))
    assert not ProviderKey.objects.filter(user=user).exists()
    actions = set(KeyAuditLog.objects.filter(user=user).values_list("action", flat=True))
    assert {"create", "deactivate", "delete"} <= actions


def test_a_chat_use_decrypts_and_audits(user):
    provider_key_save(user=user, provider="anthropic", api_key=SECRET, client=SYSTEM)
    use = provider_key_for_chat(user=user, provider="anthropic", client=SYSTEM)
    assert (use.secret, use.config) == (SECRET, {})
    key = ProviderKey.objects.get(user=user)
    assert key.last_used_at is not None
    assert KeyAuditLog.objects.filter(user=user, action="use", success=True).count() == 1


def test_every_use_is_audited_and_last_used_is_kept_to_the_minute(user):
    provider_key_save(user=user, provider="anthropic", api_key=SECRET, client=SYSTEM)
    provider_key_for_chat(user=user, provider="anthropic", client=SYSTEM)
    first = ProviderKey.objects.get(user=user).last_used_at
    provider_key_for_chat(user=user, provider="anthropic", client=SYSTEM)
    assert ProviderKey.objects.get(user=user).last_used_at == first, "no write for a use within the minute"
    ProviderKey.objects.filter(user=user).update(last_used_at=first - dt.timedelta(minutes=2))
    provider_key_for_chat(user=user, provider="anthropic", client=SYSTEM)
    assert ProviderKey.objects.get(user=user).last_used_at > first
    assert KeyAuditLog.objects.filter(user=user, action="use", success=True).count() == 3


def test_a_key_that_cannot_be_decrypted_is_audited_as_a_failure(user, settings):
    provider_key_save(user=user, provider="anthropic", api_key=SECRET, client=SYSTEM)
    settings.KEY_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # the old key is lost
    assert provider_key_for_chat(user=user, provider="anthropic", client=SYSTEM) is None
    failure = KeyAuditLog.objects.get(user=user, action="decrypt_failure")
    assert failure.success is False and "cannot be decrypted" in failure.error_message


def test_rotate_keys_reencrypts_under_the_newest_key(user, settings):
    old = settings.KEY_ENCRYPTION_KEYS[0]
    provider_key_save(user=user, provider="anthropic", api_key=SECRET, client=SYSTEM)
    before = ProviderKey.objects.get(user=user).encrypted_key
    new = Fernet.generate_key().decode()
    settings.KEY_ENCRYPTION_KEYS = [new, old]
    call_command("rotate_keys")
    after = ProviderKey.objects.get(user=user).encrypted_key
    assert after != before
    settings.KEY_ENCRYPTION_KEYS = [new]  # the old key can now be retired
    assert decrypt_secret(after) == SECRET
    assert KeyAuditLog.objects.filter(user=user, action="rotate").count() == 1


def test_another_users_key_is_a_404_for_every_url(client, user):
    key = factories.ProviderKeyFactory()
    client.force_login(user)
    for name in ("accounts:key_test", "accounts:key_toggle", "accounts:key_delete"):
        assert client.post(reverse(name, args=[key.id])).status_code == 404, name
    key.refresh_from_db()
    assert key.is_active


def test_users_see_only_their_own_audit_trail(user_client, user):
    factories.KeyAuditLogFactory(user=user, user_agent="mine-agent")
    factories.KeyAuditLogFactory(user_agent="someone-elses-agent")
    page = user_client.get(reverse("accounts:audit_log")).content.decode()
    assert "mine-agent" in page and "someone-elses-agent" not in page


def test_guests_cannot_store_keys(client):
    client.force_login(factories.GuestFactory())
    response = client.post(reverse("accounts:keys"), {"provider": "anthropic", "api_key": SECRET})
    assert response.status_code == 302 and response.url == reverse("account_signup")
    assert not ProviderKey.objects.exists()
