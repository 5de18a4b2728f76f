"""The Sessions page: every signed-in device, with where it is, and signing devices out."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import SESSION_KEY
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Session, User
from accounts.selectors import describe_user_agent
from accounts.sessions import SessionStore
from tests import factories

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
)


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


def device(user: User, user_agent: str, ip: str) -> Client:
    """A browser signed in through the real login form."""
    client = Client(HTTP_USER_AGENT=user_agent, REMOTE_ADDR=ip)
    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.content
    assert client.session[SESSION_KEY] == str(user.id)
    return client


def key_of(client: Client) -> str:
    return client.cookies["sessionid"].value


def is_signed_in(client: Client) -> bool:
    response = client.get(reverse("accounts:preferences"))
    if response.status_code == 302:
        assert response.url.startswith(reverse("account_login"))
        return False
    assert response.status_code == 200
    return True


def test_the_sessions_page_lists_every_device_and_marks_this_one(account):
    laptop = device(account, FIREFOX_LINUX, "203.0.113.5")
    desktop = device(account, CHROME_WINDOWS, "198.51.100.77")
    rows = {s.session_key: s for s in Session.objects.filter(user=account)}
    assert set(rows) == {key_of(laptop), key_of(desktop)}
    assert (rows[key_of(laptop)].ip, rows[key_of(laptop)].user_agent) == ("203.0.113.5", FIREFOX_LINUX)
    assert (rows[key_of(desktop)].ip, rows[key_of(desktop)].user_agent) == ("198.51.100.77", CHROME_WINDOWS)

    page = laptop.get(reverse("accounts:sessions")).content.decode()
    assert "Firefox on Linux" in page and "Chrome on Windows" in page
    assert "203.0.113.5" in page and "198.51.100.77" in page
    assert page.count("This device") == 1
    current = page[page.index(f'data-session="{key_of(laptop)[:8]}"') :]
    assert current.index("This device") < current.index("</li>"), "the badge is on the laptop's row"
    assert "Sign out all other sessions" in page

    other_page = desktop.get(reverse("accounts:sessions")).content.decode()
    current = other_page[other_page.index(f'data-session="{key_of(desktop)[:8]}"') :]
    assert current.index("Chrome on Windows") < current.index("This device") < current.index("</li>")


def test_other_users_sessions_are_not_listed(account):
    laptop = device(account, FIREFOX_LINUX, "203.0.113.5")
    factories.SessionFactory(user_agent="Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) Safari/605.1.15", ip="192.0.2.99")
    page = laptop.get(reverse("accounts:sessions")).content.decode()
    assert "192.0.2.99" not in page and "Safari on macOS" not in page
    assert "Sign out all other sessions" not in page, "a single session has no others to sign out"


def test_revoking_another_session_signs_that_device_out(account):
    laptop = device(account, FIREFOX_LINUX, "203.0.113.5")
    desktop = device(account, CHROME_WINDOWS, "198.51.100.77")
    response = laptop.post(reverse("accounts:session_revoke", args=[key_of(desktop)]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("accounts:sessions")
    page = response.content.decode()
    assert "That device has been signed out." in page
    assert "Chrome on Windows" not in page
    assert not Session.objects.filter(session_key=key_of(desktop)).exists()
    assert not is_signed_in(desktop)
    assert is_signed_in(laptop)


def test_sign_out_all_other_sessions(account):
    laptop = device(account, FIREFOX_LINUX, "203.0.113.5")
    desktop = device(account, CHROME_WINDOWS, "198.51.100.77")
    phone = device(account, "Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/126.0 Mobile Safari/537.36", "192.0.2.3")
    someone_else = factories.SessionFactory()

    response = laptop.post(reverse("accounts:sessions_revoke_others"), follow=True)
    assert "Signed out 2 other sessions." in response.content.decode()
    assert list(Session.objects.filter(user=account).values_list("session_key", flat=True)) == [key_of(laptop)]
    assert Session.objects.filter(pk=someone_else.pk).exists()
    assert not is_signed_in(desktop) and not is_signed_in(phone)
    assert is_signed_in(laptop)


def test_another_users_session_cannot_be_revoked(account):
    laptop = device(account, FIREFOX_LINUX, "203.0.113.5")
    theirs = factories.SessionFactory()
    response = laptop.post(reverse("accounts:session_revoke", args=[theirs.session_key]))
    assert response.status_code == 404
    assert Session.objects.filter(pk=theirs.pk, user=theirs.user).exists()
    assert is_signed_in(laptop)


def test_revoking_the_current_session_signs_out_here(account):
    laptop = device(account, FIREFOX_LINUX, "203.0.113.5")
    desktop = device(account, CHROME_WINDOWS, "198.51.100.77")
    old_key = key_of(laptop)
    response = laptop.post(reverse("accounts:session_revoke", args=[old_key]))
    assert response.status_code == 302 and response.url == reverse("account_login")
    assert not Session.objects.filter(session_key=old_key).exists()
    assert not is_signed_in(laptop)
    assert is_signed_in(desktop), "only this device was signed out"


def test_guests_cannot_manage_sessions(client):
    guest = factories.GuestFactory()
    client.force_login(guest)
    response = client.get(reverse("accounts:sessions"))
    assert response.status_code == 302 and response.url == reverse("account_signup")
    response = client.post(reverse("accounts:sessions_revoke_others"))
    assert response.status_code == 302 and response.url == reverse("account_signup")
    assert Session.objects.filter(user=guest).exists()


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        (FIREFOX_LINUX, "Firefox on Linux"),
        (CHROME_WINDOWS, "Chrome on Windows"),
        (CHROME_WINDOWS + " Edg/126.0.2592.68", "Edge on Windows"),
        (CHROME_WINDOWS + " OPR/111.0.0.0", "Opera on Windows"),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/17.5 Safari/605.1.15",
            "Safari on macOS",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/17.5 Mobile/15E148 Safari/604.1",
            "Safari on iPhone",
        ),
        (
            "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/17.5 Mobile/15E148 Safari/604.1",
            "Safari on iPad",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Mobile Safari/537.36",
            "Chrome on Android",
        ),
        (
            "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Safari/537.36",
            "Chrome on ChromeOS",
        ),
        ("Mozilla/5.0 (X11; Linux x86_64) Chromium", "Chromium on Linux"),
        ("python-httpx/0.27.0", "python-httpx/0.27.0"),
        ("x" * 200, "x" * 60),
        ("", "Unknown device"),
    ],
)
def test_describe_user_agent(user_agent, expected):
    assert describe_user_agent(user_agent) == expected


def test_last_seen_is_written_at_most_every_five_minutes(account):
    laptop = device(account, FIREFOX_LINUX, "203.0.113.5")
    key = key_of(laptop)
    long_ago = timezone.now() - dt.timedelta(hours=3)

    def age_the_timestamps() -> None:
        Session.objects.filter(session_key=key).update(last_seen_at=long_ago)
        User.objects.filter(id=account.id).update(last_active_at=long_ago)

    def timestamps() -> tuple[dt.datetime, dt.datetime]:
        return (
            Session.objects.get(session_key=key).last_seen_at,
            User.objects.get(id=account.id).last_active_at,
        )

    assert is_signed_in(laptop)  # the first signed-in request stamps both
    first_stamp = SessionStore(key).get("_last_seen")
    assert first_stamp == pytest.approx(time.time(), abs=30)
    session_seen, user_active = timestamps()
    assert timezone.now() - session_seen < dt.timedelta(seconds=30)
    assert timezone.now() - user_active < dt.timedelta(seconds=30)

    age_the_timestamps()
    assert is_signed_in(laptop)
    assert is_signed_in(laptop)
    assert timestamps() == (long_ago, long_ago), "within five minutes nothing is written"
    assert SessionStore(key).get("_last_seen") == first_stamp

    # Pretend the last stamp is just over five minutes old.
    store = SessionStore(key)
    store["_last_seen"] = time.time() - 301
    store.save()
    age_the_timestamps()
    assert is_signed_in(laptop)
    session_seen, user_active = timestamps()
    assert timezone.now() - session_seen < dt.timedelta(seconds=30)
    assert timezone.now() - user_active < dt.timedelta(seconds=30)
    assert SessionStore(key).get("_last_seen") == pytest.approx(time.time(), abs=30)
    assert Session.objects.get(session_key=key).ip == "203.0.113.5", "the device's address is kept"


def test_anonymous_sessions_are_not_stamped(client):
    session = client.session
    session["something"] = 1
    session.save()
    long_ago = timezone.now() - dt.timedelta(hours=3)
    Session.objects.filter(session_key=session.session_key).update(last_seen_at=long_ago)
    client.get(reverse("home"))
    assert "_last_seen" not in SessionStore(session.session_key).load()
    assert Session.objects.get(session_key=session.session_key).last_seen_at == long_ago
