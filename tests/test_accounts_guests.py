"""Guests: starting without an account, the daily message quota, signing up without losing anything, the purge."""

from __future__ import annotations

import datetime as dt
import re
import threading
from io import StringIO

import pytest
from allauth.account.models import EmailAddress
from django.conf import settings as django_settings
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.services import guests_purge_inactive, message_quota_consume
from conversations.models import Conversation, Message
from tests import factories

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def limits(settings):
    settings.GUEST_DAILY_MESSAGE_LIMIT = 3
    settings.USER_DAILY_MESSAGE_LIMIT = 7
    return settings


def utc_today() -> dt.date:
    return timezone.now().astimezone(dt.UTC).date()


# --- Starting as a guest -------------------------------------------------------------------------------------


def test_try_it_as_a_guest_creates_and_signs_in_a_guest(client, limits):
    assert "Try it as a guest" in client.get(reverse("home")).content.decode()
    response = client.post(reverse("accounts:guest_start"))
    assert response.status_code == 302 and response.url == reverse("home")
    guest = User.objects.get()
    assert guest.is_guest and guest.email is None
    assert not guest.has_usable_password()
    assert guest.last_active_at is not None
    assert client.session[SESSION_KEY] == str(guest.id)

    page = client.get(reverse("accounts:preferences")).content.decode()
    assert "You are chatting as a guest (3 messages a day)." in page
    assert "Sign up to keep your chats" in page

    client.post(reverse("accounts:guest_start"))
    assert User.objects.count() == 1, "a signed-in visitor does not get a second guest"
    assert client.session[SESSION_KEY] == str(guest.id)


def test_guest_start_only_accepts_post(client):
    assert client.get(reverse("accounts:guest_start")).status_code == 405
    assert not User.objects.exists()


def test_a_signed_in_user_stays_themselves(user_client, user):
    user_client.post(reverse("accounts:guest_start"))
    assert User.objects.count() == 1 and user_client.session[SESSION_KEY] == str(user.id)


# --- The daily message quota ---------------------------------------------------------------------------------


def test_guests_get_the_guest_limit_then_a_friendly_refusal(limits):
    guest = factories.GuestFactory()
    results = [message_quota_consume(user=guest) for _ in range(4)]
    assert [r.allowed for r in results] == [True, True, True, False]
    assert [r.used for r in results] == [1, 2, 3, 3]
    assert {r.limit for r in results} == {3}
    assert results[0].message == ""

    refusal = results[-1]
    midnight = dt.datetime.combine(utc_today() + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
    assert refusal.resets_at == midnight
    text = refusal.message
    assert "You have sent your 3 messages for today." in text
    assert "The limit resets at midnight UTC" in text
    assert text.endswith("Sign up for a higher limit.")
    wait = re.search(r"\(in (?:(\d+) h )?(\d+) min\)", text)
    assert wait, text
    minutes = int(wait.group(1) or 0) * 60 + int(wait.group(2))
    assert abs(minutes - (midnight - timezone.now()).total_seconds() / 60) <= 2

    guest.refresh_from_db()
    assert (guest.daily_message_count, guest.daily_message_reset_on) == (3, utc_today())


def test_a_new_utc_day_resets_the_count(limits):
    guest = factories.GuestFactory(daily_message_count=3, daily_message_reset_on=utc_today() - dt.timedelta(days=1))
    result = message_quota_consume(user=guest)
    assert result.allowed and result.used == 1
    guest.refresh_from_db()
    assert (guest.daily_message_count, guest.daily_message_reset_on) == (1, utc_today())


def test_a_user_who_never_sent_anything_starts_at_one(limits):
    user = factories.UserFactory(daily_message_count=0, daily_message_reset_on=None)
    assert message_quota_consume(user=user).used == 1


def test_registered_users_get_the_user_limit_without_a_sign_up_nudge(limits):
    user = factories.UserFactory()
    results = [message_quota_consume(user=user) for _ in range(8)]
    assert [r.allowed for r in results] == [True] * 7 + [False]
    assert results[-1].limit == 7
    assert "You have sent your 7 messages for today." in results[-1].message
    assert "Sign up" not in results[-1].message


def test_registered_users_are_not_told_to_sign_up_even_when_the_limits_are_equal(settings):
    settings.GUEST_DAILY_MESSAGE_LIMIT = settings.USER_DAILY_MESSAGE_LIMIT = 2
    user = factories.UserFactory(daily_message_count=2, daily_message_reset_on=utc_today())
    refusal = message_quota_consume(user=user)
    assert not refusal.allowed
    assert "Sign up" not in refusal.message
    guest = factories.GuestFactory(daily_message_count=2, daily_message_reset_on=utc_today())
    assert "Sign up for a higher limit." in message_quota_consume(user=guest).message


def test_the_quota_never_lets_more_than_the_limit_through(limits):
    guest = factories.GuestFactory()
    stale = User.objects.get(id=guest.id)  # another tab's copy of the user, never refreshed
    allowed = sum(message_quota_consume(user=u).allowed for u in [guest, stale] * 4)
    assert allowed == 3
    assert User.objects.get(id=guest.id).daily_message_count == 3


@pytest.mark.django_db(transaction=True)
def test_the_quota_holds_under_concurrent_requests(settings):
    settings.GUEST_DAILY_MESSAGE_LIMIT = 3
    guest = factories.GuestFactory()
    attempts = settings.GUEST_DAILY_MESSAGE_LIMIT + 5  # eight threads: within the connection pool's ten
    barrier = threading.Barrier(attempts)
    outcomes: list[bool] = []
    errors: list[BaseException] = []

    def send(user: User) -> None:
        try:
            barrier.wait(timeout=10)
            outcomes.append(message_quota_consume(user=user).allowed)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    copies = [User.objects.get(id=guest.id) for _ in range(attempts)]  # each request loads its own user
    threads = [threading.Thread(target=send, args=(copy,)) for copy in copies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert len(outcomes) == attempts
    assert outcomes.count(True) == 3
    assert User.objects.get(id=guest.id).daily_message_count == 3


# --- A guest signing up keeps everything ---------------------------------------------------------------------


def test_a_guest_who_signs_up_keeps_their_id_and_conversations(client):
    client.post(reverse("accounts:guest_start"))
    guest = User.objects.get(is_guest=True)
    conversation = factories.ConversationFactory(user=guest, title="Before signing up")
    factories.MessageFactory(conversation=conversation, content="hello from a guest")

    page = client.get(reverse("account_signup"))
    assert page.status_code == 200, "a guest can open the sign-up form"
    assert 'name="password2"' in page.content.decode()
    response = client.post(
        reverse("account_signup"), {"email": "Keeper@Example.com", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 302
    assert response.url == reverse("account_email_verification_sent")

    assert User.objects.count() == 1, "no second account"
    user = User.objects.get(id=guest.id)
    assert (user.email, user.is_guest) == ("keeper@example.com", False)
    assert user.check_password(PASSWORD)
    assert list(Conversation.objects.filter(user=user)) == [conversation]
    assert Message.objects.get(conversation=conversation).author_id == user.id
    assert EmailAddress.objects.get(user=user).email == "keeper@example.com"

    assert client.session.get(SESSION_KEY) is None, "signed out until the address is confirmed"
    assert client.get(reverse("accounts:preferences")).status_code == 302

    confirm_url = re.search(r"https?://testserver(/\S+)", mail.outbox[0].body).group(1)
    client.post(confirm_url)
    assert client.session[SESSION_KEY] == str(guest.id)
    assert EmailAddress.objects.get(user=user).verified
    assert client.get(reverse("accounts:keys")).status_code == 200, "now a registered user"


def test_a_guest_signing_up_with_a_taken_address_stays_a_guest(client):
    taken = factories.UserFactory(email="taken@example.com")
    client.post(reverse("accounts:guest_start"))
    guest = User.objects.get(is_guest=True)
    factories.ConversationFactory(user=guest)
    client.post(reverse("account_signup"), {"email": "taken@example.com", "password1": PASSWORD, "password2": PASSWORD})
    guest.refresh_from_db()
    assert guest.is_guest and guest.email is None
    assert Conversation.objects.filter(user=guest).count() == 1
    taken.refresh_from_db()
    assert taken.check_password(PASSWORD) and not taken.is_guest


def test_registered_users_are_still_sent_away_from_the_sign_up_form(user_client):
    response = user_client.get(reverse("account_signup"))
    assert response.status_code == 302 and response.url == "/"


# --- Purging inactive guests ---------------------------------------------------------------------------------


@pytest.fixture
def population(settings):
    settings.GUEST_RETENTION_DAYS = 30
    now = timezone.now()
    old = now - dt.timedelta(days=31)
    stale = factories.GuestFactory(last_active_at=old)
    stale_conversation = factories.ConversationFactory(user=stale)
    factories.MessageFactory(conversation=stale_conversation)
    never_active = factories.GuestFactory(last_active_at=None, created_at=old)
    return {
        "purged": [stale, never_active],
        "kept": [
            factories.GuestFactory(last_active_at=now - dt.timedelta(days=29)),
            factories.GuestFactory(last_active_at=None, created_at=now - dt.timedelta(days=2)),
            factories.UserFactory(last_active_at=now - dt.timedelta(days=400)),
        ],
        "stale_conversation": stale_conversation,
    }


def test_inactive_guests_are_deleted_with_everything_they_own(population):
    kept_conversation = factories.ConversationFactory(user=population["kept"][0])
    assert guests_purge_inactive() == 2
    remaining = set(User.objects.values_list("id", flat=True))
    assert remaining == {u.id for u in population["kept"]}
    assert not Conversation.objects.filter(id=population["stale_conversation"].id).exists()
    assert not Message.objects.filter(conversation_id=population["stale_conversation"].id).exists()
    assert Conversation.objects.filter(id=kept_conversation.id).exists()


def test_purging_in_small_batches_deletes_them_all(settings):
    settings.GUEST_RETENTION_DAYS = 30
    old = timezone.now() - dt.timedelta(days=60)
    factories.GuestFactory.create_batch(5, last_active_at=old)
    assert guests_purge_inactive(batch_size=2) == 5
    assert not User.objects.exists()


def test_the_purge_runs_hourly_on_celery_beat(population):
    from chatbot.celery import app

    entries = [e for e in django_settings.CELERY_BEAT_SCHEDULE.values() if e["task"].endswith("purge_inactive_guests")]
    assert len(entries) == 1 and entries[0]["task"] == "accounts.tasks.purge_inactive_guests"
    assert entries[0]["schedule"] == 3600
    app.loader.import_default_modules()
    assert "accounts.tasks.purge_inactive_guests" in app.tasks
    assert app.tasks["accounts.tasks.purge_inactive_guests"].apply().get() == 2
    assert User.objects.filter(is_guest=True).count() == 2


def test_purge_guests_command(population):
    out = StringIO()
    call_command("purge_guests", days=400, stdout=out)
    assert out.getvalue().strip() == "deleted 0 inactive guest(s)"
    assert User.objects.count() == 5
    call_command("purge_guests", days=1, stdout=out)
    assert out.getvalue().splitlines()[-1] == "deleted 4 inactive guest(s)"
    assert list(User.objects.values_list("is_guest", flat=True)) == [False], "registered users are never purged"


def test_purge_guests_refuses_a_negative_number_of_days(population):
    # A cutoff in the future would delete every guest, those chatting right now included.
    with pytest.raises(CommandError, match="--days must be 0 or more, not -1"):
        call_command("purge_guests", days=-1, stdout=StringIO())
    assert User.objects.count() == 5


@pytest.mark.parametrize(
    "name",
    ["account_email", "account_change_password", "account_set_password", "mfa_index", "mfa_activate_totp",
     "account_reauthenticate"],
)  # fmt: skip
def test_a_guest_cannot_give_itself_an_email_password_or_second_factor(client, name):
    guest = factories.GuestFactory()
    password = guest.password
    client.force_login(guest)
    for method in ("get", "post"):
        response = getattr(client, method)(reverse(name), {"email": "guest@example.com", "action_add": "1"})
        assert response.status_code == 302 and response.url == reverse("account_signup"), (name, method)
    assert not EmailAddress.objects.filter(user=guest).exists()
    guest.refresh_from_db()
    assert guest.is_guest and guest.password == password


def test_a_guest_may_still_sign_up_and_log_out(client):
    client.force_login(factories.GuestFactory())
    assert client.get(reverse("account_signup")).status_code == 200
    assert client.post(reverse("account_logout")).status_code == 302


def test_a_limit_of_one_reads_as_one_message(client, settings):
    settings.GUEST_DAILY_MESSAGE_LIMIT = 1
    response = client.post(reverse("accounts:guest_start"), follow=True)
    assert "(1 message a day)" in response.content.decode()
    guest = User.objects.get(is_guest=True)
    assert message_quota_consume(user=guest).allowed
    refused = message_quota_consume(user=guest)
    assert not refused.allowed and "You have sent your 1 message for today." in refused.message


def test_a_retention_of_zero_keeps_every_guest_as_the_other_retention_settings_zero_does(population, settings):
    settings.GUEST_RETENTION_DAYS = 0
    guests = User.objects.filter(is_guest=True).count()
    assert guests_purge_inactive() == 0
    out = StringIO()
    call_command("purge_guests", stdout=out)
    assert "kept" in out.getvalue()
    assert User.objects.filter(is_guest=True).count() == guests
    # Asked for by name, 0 days is every guest inactive since now: the operator's explicit choice.
    call_command("purge_guests", "--days", "0", stdout=StringIO())
    assert not User.objects.filter(is_guest=True).exists()
