"""Security emails (issue 16): a new API key, a sign-in from a new device, a data export ready; sent only while the
user's email_notifications preference is on, never with a secret in them, and a mail server that is down breaks
nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Preferences, ProviderKey
from accounts.notifications import send_security_email
from tests.factories import GuestFactory, UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"
KEY = "sk-ant-secret-0123456789-wxyz"


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()  # allauth counts sign-ins per address in the shared cache
    yield
    cache.clear()


def verified_user(**kwargs):
    user = UserFactory(**kwargs)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def sign_in(client: Client, user, **extra):
    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD}, **extra)
    assert response.status_code == 302, response.content.decode()[:500]
    return response


def subjects() -> list[str]:
    return [message.subject for message in mail.outbox]


# --- The function other features call --------------------------------------------------------------------------


def test_send_security_email_honours_the_preference_default_on(user):
    assert send_security_email(user=user, kind="export_ready", context={"download_url": "https://x/dl"})
    [message] = mail.outbox
    assert message.to == [user.email] and message.subject == "[Chatbot] Your data export is ready"
    assert "https://x/dl" in message.body

    Preferences.objects.create(user=user, email_notifications=False)
    assert not send_security_email(user=user, kind="export_ready")
    assert len(mail.outbox) == 1


def test_export_ready_says_until_when(user):
    expires = timezone.make_aware(dt.datetime(2026, 5, 2, 14, 30), dt.UTC)
    send_security_email(user=user, kind="export_ready", context={"download_url": "/x", "expires_at": expires})
    assert "until 2026-05-02 14:30 UTC" in mail.outbox[0].body


def test_no_email_for_a_guest_or_an_unknown_kind():
    assert not send_security_email(user=GuestFactory(), kind="api_key_added")
    assert mail.outbox == []
    with pytest.raises(ValueError):
        send_security_email(user=UserFactory(), kind="password_changed_maybe")


def test_a_mail_server_that_is_down_is_logged_not_raised(user, settings, caplog):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, False, 2
    assert send_security_email(user=user, kind="new_device_sign_in") is False
    assert "could not be sent" in caplog.text


# --- A new API key ---------------------------------------------------------------------------------------------


def test_adding_or_replacing_an_api_key_sends_an_email_without_the_key(
    user, user_client, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    with capture(execute=True):
        response = user_client.post(reverse("accounts:keys"), {"provider": "anthropic", "api_key": KEY})
    assert response.status_code == 302 and ProviderKey.objects.filter(user=user).exists()
    [message] = mail.outbox
    assert message.subject == "[Chatbot] A new API key was added to your account"
    assert "Anthropic" in message.body and "…wxyz" in message.body
    assert KEY not in message.body and KEY[:-4] not in message.body

    with capture(execute=True):
        user_client.post(reverse("accounts:keys"), {"provider": "anthropic", "api_key": KEY + "-2nd-abcd"})
    assert "was replaced" in mail.outbox[1].body


def test_no_key_email_when_notifications_are_off(user, user_client, django_capture_on_commit_callbacks):
    Preferences.objects.create(user=user, email_notifications=False)
    with django_capture_on_commit_callbacks(execute=True):
        user_client.post(reverse("accounts:keys"), {"provider": "anthropic", "api_key": KEY})
    assert ProviderKey.objects.filter(user=user).exists()
    assert mail.outbox == []


def test_a_key_refused_by_the_form_sends_nothing(user, user_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = user_client.post(reverse("accounts:keys"), {"provider": "anthropic", "api_key": "short"})
    assert response.status_code == 400
    assert mail.outbox == []


# --- A sign-in from a new device ---------------------------------------------------------------------------------


def test_a_sign_in_from_a_new_device_sends_an_email_once():
    user = verified_user()
    browser = Client(HTTP_USER_AGENT="Mozilla/5.0 (Test) NewBrowser/1.0")
    sign_in(browser, user)
    [message] = mail.outbox
    assert message.subject == "[Chatbot] New sign-in to your account"
    assert "NewBrowser/1.0" in message.body and "http://testserver/settings/sessions/" in message.body

    browser.post(reverse("account_logout"))
    sign_in(browser, user)
    assert len(mail.outbox) == 1, "the same browser again is a known device"

    sign_in(Client(), user)
    assert len(mail.outbox) == 2, "another browser is a new device"


def test_no_sign_in_email_when_notifications_are_off():
    user = verified_user()
    Preferences.objects.create(user=user, email_notifications=False)
    sign_in(Client(), user)
    assert mail.outbox == []


def test_the_settings_page_switch_turns_the_emails_off(user, user_client):
    response = user_client.post(reverse("accounts:preferences"), {"theme": "system", "layout": "sidebar"})
    assert response.status_code == 302
    assert Preferences.objects.get(user=user).email_notifications is False  # an unticked box
    assert not send_security_email(user=user, kind="export_ready")
    assert mail.outbox == []


def test_signing_up_is_not_reported_as_a_new_device(client):
    client.post(reverse("account_signup"), {"email": "fresh@example.com", "password1": PASSWORD, "password2": PASSWORD})
    [confirmation] = mail.outbox
    path = confirmation.body.split("http://testserver", 1)[1].split()[0]
    client.post(path)
    assert client.session.get("_auth_user_id"), "signed in on confirming"
    assert subjects() == [confirmation.subject], "no 'new sign-in' email for the account's first device"


def test_the_preference_says_which_emails_it_turns_off(user_client):
    page = user_client.get(reverse("accounts:preferences")).content.decode()
    assert "Security emails" in page and "a sign-in from a new device, your data export ready" in page
