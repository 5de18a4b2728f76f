"""Signing up, in and out with allauth (email login, mandatory verification), rate limits and CSRF."""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from accounts.models import KeyAuditLog, Preferences, ProviderKey, RetrievalSettings, Session, User
from tests import factories

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a different, longer passphrase 42"
URL = re.compile(r"https?://testserver(/\S+)")


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    # allauth counts logins and signups per IP in the shared Redis cache; every test starts from zero.
    cache.clear()
    yield
    cache.clear()


def verified_user(**kwargs) -> User:
    user = factories.UserFactory(**kwargs)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def log_in(client: Client, email: str, password: str = PASSWORD, **extra):
    return client.post(reverse("account_login"), {"login": email, "password": password}, **extra)


def logged_in_user_id(client: Client) -> str | None:
    return client.session.get(SESSION_KEY)


def link_in(message) -> str:
    match = URL.search(message.body)
    assert match, message.body
    return match.group(1)


# --- Sign-up and email verification ----------------------------------------------------------------------


def test_signup_sends_a_confirmation_link_and_confirming_it_logs_in(client):
    response = client.post(
        reverse("account_signup"),
        {"email": "New.Person@Example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302
    assert response.url == reverse("account_email_verification_sent")
    user = User.objects.get(email="new.person@example.com")
    assert user.is_guest is False and user.check_password(PASSWORD)
    assert not EmailAddress.objects.get(user=user).verified
    assert logged_in_user_id(client) is None, "not signed in before the address is confirmed"

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["new.person@example.com"]
    assert message.subject.startswith("[Chatbot] ")
    confirm_url = link_in(message)
    assert confirm_url.startswith("/accounts/confirm-email/")

    page = client.get(confirm_url)
    assert page.status_code == 200
    assert "Confirm that <strong>new.person@example.com</strong> is your address" in page.content.decode()
    assert "is an email address for user" not in page.content.decode(), "the address named once, in plain words"
    assert not EmailAddress.objects.get(user=user).verified, "a GET alone confirms nothing"

    response = client.post(confirm_url)
    assert response.status_code == 302
    assert EmailAddress.objects.get(user=user).verified
    assert logged_in_user_id(client) == str(user.id)
    assert client.get(reverse("accounts:preferences")).status_code == 200


def test_an_unconfirmed_account_cannot_log_in(client):
    client.post(
        reverse("account_signup"), {"email": "pending@example.com", "password1": PASSWORD, "password2": PASSWORD}
    )
    other = Client()
    response = log_in(other, "pending@example.com", follow=True)
    assert response.redirect_chain[-1][0] == reverse("account_email_verification_sent")
    assert "Verify your email address" in response.content.decode()
    assert logged_in_user_id(other) is None
    assert other.get(reverse("accounts:preferences")).status_code == 302


def test_allauth_pages_render_inside_our_layout(client):
    page = client.get(reverse("account_login")).content.decode()
    assert '<a class="brand" href="/">Chatbot</a>' in page
    assert 'href="/static/css/app.css"' in page
    assert "<title>" in page and "· Chatbot</title>" in page
    assert 'name="login"' in page and 'name="password"' in page
    signup = client.get(reverse("account_signup")).content.decode()
    assert 'href="/static/css/app.css"' in signup and 'name="password2"' in signup


TITLE_CASE = re.compile(r"\b[A-Z][a-z]+(?: [A-Z][a-z]+)+\b")


@pytest.mark.parametrize(
    "name",
    ["account_login", "account_signup", "account_reset_password", "account_reset_password_done", "account_logout",
     "account_email", "account_change_password", "account_email_verification_sent", "account_inactive"],
)  # fmt: skip
def test_allauth_pages_write_in_sentence_case_like_the_rest_of_the_app(client, name):
    if name in ("account_logout", "account_email", "account_change_password"):
        client.force_login(verified_user())
    response = client.get(reverse(name))
    assert response.status_code == 200
    page = response.content.decode()
    text = re.sub(r"<[^>]+>", " ", page.split("<main", 1)[1].split("</main>", 1)[0])
    title = re.search(r"<title>(.*?)</title>", page, re.S).group(1)
    # allauth wrote "Sign In", "Remember Me", "Verify Your Email Address", where the app says "Sign in".
    assert TITLE_CASE.findall(text + " " + title) == []


def test_the_compiled_catalogue_says_what_its_source_does():
    """The .mo is committed (no build step needs gettext): it must not lag behind the .po it is compiled from."""
    from pathlib import Path

    from django.conf import settings
    from django.utils import translation

    source = (Path(settings.BASE_DIR) / "locale/en/LC_MESSAGES/django.po").read_text()
    pairs = re.findall(r'^msgid "(.+)"\nmsgstr "(.*)"$', source, re.M)
    assert len(pairs) > 20
    with translation.override("en-us"):
        assert [(msgid, translation.gettext(msgid)) for msgid, _ in pairs] == pairs


# --- Logging in and out, passwords -------------------------------------------------------------------------


def test_login_with_email_and_logout(client):
    user = verified_user()
    response = log_in(client, user.email.upper())
    assert response.status_code == 302 and response.url == "/"
    assert logged_in_user_id(client) == str(user.id)
    assert client.get(reverse("accounts:preferences")).status_code == 200

    response = client.post(reverse("account_logout"))
    assert response.status_code == 302
    assert logged_in_user_id(client) is None
    assert client.get(reverse("accounts:preferences")).status_code == 302


def test_a_wrong_password_does_not_log_in(client):
    user = verified_user()
    response = log_in(client, user.email, "not the password")
    assert response.status_code == 200
    assert "The email address and/or password you specified are not correct." in response.content.decode()
    assert logged_in_user_id(client) is None


def test_the_session_key_changes_on_login(client):
    user = verified_user()
    session = client.session  # an anonymous session, as a visitor would have before signing in
    session["visited"] = True
    session.save()
    before = client.cookies["sessionid"].value
    assert Session.objects.filter(session_key=before, user=None).exists()

    log_in(client, user.email)
    after = client.cookies["sessionid"].value
    assert after != before
    assert not Session.objects.filter(session_key=before).exists(), "the pre-login session is gone"
    assert Session.objects.get(session_key=after).user_id == user.id


def test_password_reset_by_email(client):
    user = verified_user()
    response = client.post(reverse("account_reset_password"), {"email": user.email})
    assert response.status_code == 302
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [user.email]
    reset_url = link_in(mail.outbox[0])
    assert reset_url.startswith("/accounts/password/reset/key/")

    form_page = client.get(reset_url, follow=True)  # allauth moves the token into the session
    set_url = form_page.redirect_chain[-1][0] if form_page.redirect_chain else reset_url
    response = client.post(set_url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD) and not user.check_password(PASSWORD)


def test_password_reset_for_an_unknown_address_reveals_nothing(client):
    response = client.post(reverse("account_reset_password"), {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert all("reset/key" not in message.body for message in mail.outbox)


def test_password_change(client):
    user = verified_user()
    log_in(client, user.email)
    response = client.post(
        reverse("account_change_password"),
        {"oldpassword": "wrong old password", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 200
    user.refresh_from_db()
    assert user.check_password(PASSWORD), "a wrong current password changes nothing"

    response = client.post(
        reverse("account_change_password"),
        {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert logged_in_user_id(client) == str(user.id), "still signed in (ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE=False)"
    client.post(reverse("account_logout"))

    assert logged_in_user_id(client) is None
    log_in(client, user.email, PASSWORD)
    assert logged_in_user_id(client) is None, "the old password no longer works"
    log_in(client, user.email, NEW_PASSWORD)
    assert logged_in_user_id(client) == str(user.id)


# --- Rate limits ---------------------------------------------------------------------------------------------


def test_repeated_failed_logins_are_limited_then_refused_with_429(client):
    user = verified_user()
    statuses, too_many_seen = [], False
    for _ in range(40):
        response = log_in(client, user.email, "guessing the password")
        statuses.append(response.status_code)
        too_many_seen |= "Too many failed login attempts" in response.content.decode()
        if response.status_code == 429:
            break
    assert statuses[:5] == [200] * 5, "the first failures are ordinary form errors"
    assert too_many_seen, "allauth's per-address limit kicks in before the per-IP one"
    assert statuses[-1] == 429

    # While limited, even the right password does not get in.
    log_in(client, user.email)
    assert logged_in_user_id(client) is None


def test_a_strangers_wrong_passwords_do_not_lock_the_owner_out_of_a_known_device():
    user = verified_user()
    owner = Client(REMOTE_ADDR="198.51.100.7")
    log_in(owner, user.email)  # the owner signed in on this browser once: it is a known device from now on
    assert logged_in_user_id(owner) == str(user.id)
    owner.post(reverse("account_logout"))

    attacker = Client(REMOTE_ADDR="203.0.113.66")
    for _ in range(8):
        log_in(attacker, user.email, "guessing the password")
    assert "Too many failed login attempts" in log_in(attacker, user.email).content.decode()
    assert logged_in_user_id(attacker) is None, "the account's limit holds for strangers, even with the password"

    response = log_in(owner, user.email)
    assert response.status_code == 302 and logged_in_user_id(owner) == str(user.id)


def test_a_known_device_is_still_held_to_the_per_address_limit():
    user = verified_user()
    device = Client(REMOTE_ADDR="198.51.100.8")
    log_in(device, user.email)
    device.post(reverse("account_logout"))
    pages = [log_in(device, user.email, "wrong").content.decode() for _ in range(11)]
    assert "Too many failed login attempts" not in pages[9], "ten a minute from one address, as allauth allows"
    assert "Too many failed login attempts" in pages[10]
    # Another account's cookie, or a forged one, is no exemption.
    other = Client(REMOTE_ADDR="198.51.100.9")
    other.cookies["known_device"] = f"{user.id}:forged"
    for _ in range(6):
        log_in(other, user.email, "wrong")
    assert "Too many failed login attempts" in log_in(other, user.email, "wrong").content.decode()


def test_admin_login_is_rate_limited_per_ip(client, settings):
    settings.ADMIN_LOGIN_RATE_LIMIT = 3
    settings.ADMIN_LOGIN_RATE_WINDOW = 3600
    admin = factories.UserFactory(is_staff=True, is_superuser=True)
    wrong = {"username": admin.email, "password": "not it", "next": "/admin/"}
    for _ in range(3):
        response = client.post("/admin/login/", wrong, REMOTE_ADDR="198.51.100.20")
        assert response.status_code == 200
        assert "Please enter the correct email address and password" in response.content.decode()

    response = client.post("/admin/login/", wrong, REMOTE_ADDR="198.51.100.20")
    assert response.status_code == 429
    assert response["Retry-After"] == "3600"
    assert "Too many failed sign-in attempts" in response.content.decode()
    right = {**wrong, "password": PASSWORD}
    assert client.post("/admin/login/", right, REMOTE_ADDR="198.51.100.20").status_code == 429
    assert logged_in_user_id(client) is None

    other = Client()
    response = other.post("/admin/login/", wrong, REMOTE_ADDR="198.51.100.21")
    assert response.status_code == 200
    response = other.post("/admin/login/", right, REMOTE_ADDR="198.51.100.21")
    assert response.status_code == 302 and response.url == "/admin/"
    assert logged_in_user_id(other) == str(admin.id)


# --- CSRF ----------------------------------------------------------------------------------------------------


def test_every_state_changing_accounts_url_requires_a_csrf_token(user):
    key = factories.ProviderKeyFactory(user=user)
    other_session = factories.SessionFactory(user=user)
    Preferences.objects.create(user=user, theme="light")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    audit_before = KeyAuditLog.objects.count()
    posts = {
        reverse("accounts:keys"): {"provider": "openai", "api_key": "sk-0123456789abcdef"},
        reverse("accounts:key_toggle", args=[key.id]): {},
        reverse("accounts:key_delete", args=[key.id]): {},
        reverse("accounts:key_test", args=[key.id]): {},
        reverse("accounts:sessions_revoke_others"): {},
        reverse("accounts:session_revoke", args=[other_session.session_key]): {},
        reverse("accounts:preferences"): {"theme": "dark", "layout": "sidebar"},
        reverse("accounts:retrieval"): {"max_results": 9, "similarity_threshold": 0.5},
        reverse("accounts:tools"): {"max_cost_per_tool": "0", "max_cost_per_hour": "0"},
        reverse("accounts:theme"): {"theme": "dark"},
        reverse("account_logout"): {},
    }
    for url, data in posts.items():
        response = client.post(url, data)
        assert response.status_code == 403, url
        assert b"CSRF" in response.content, url

    key.refresh_from_db()
    assert key.is_active and ProviderKey.objects.filter(user=user).count() == 1
    assert KeyAuditLog.objects.count() == audit_before
    assert Session.objects.filter(session_key=other_session.session_key).exists()
    assert Preferences.objects.get(user=user).theme == "light"
    assert not RetrievalSettings.objects.filter(user=user, max_results=9).exists()
    assert client.get(reverse("accounts:preferences")).status_code == 200, "still signed in"

    anonymous = Client(enforce_csrf_checks=True)
    users_before = User.objects.count()
    assert anonymous.post(reverse("accounts:guest_start")).status_code == 403
    assert User.objects.count() == users_before


def test_with_the_token_the_same_post_succeeds(user):
    # The counterpart of the test above: the 403s come from the missing token, not from the views.
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get(reverse("accounts:preferences"))
    token = client.cookies["csrftoken"].value
    response = client.post(reverse("accounts:theme"), {"theme": "dark", "csrfmiddlewaretoken": token})
    assert response.status_code == 204
    assert Preferences.objects.get(user=user).theme == "dark"


@pytest.mark.django_db
def test_a_refused_email_change_is_read_with_its_field(client):
    """A screen reader on the refused field hears why: its aria-describedby names the error, which exists."""
    user = verified_user()
    client.force_login(user)
    response = client.post(reverse("account_email"), {"action_add": "", "email": "not an address"})
    page = response.content.decode()
    field = re.search(r'<input[^>]*name="email"[^>]*>', page).group(0)
    assert 'aria-invalid="true"' in field
    described = re.search(r'aria-describedby="([^"]+)"', field).group(1).split()
    assert described and all(f'id="{name}"' in page for name in described)
    assert "_error" in " ".join(described)
