"""What the tenth walk saw and left, fixed (view and service tests; the browser ones are in
test_browser_tenth_walk_leftovers.py)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db


def test_an_archived_pinned_chat_keeps_its_pin_and_says_so_where_it_is_listed(user, user_client):
    chat = ConversationFactory(user=user, title="Holiday plans", pinned=True, archived_at=timezone.now())
    ConversationFactory(user=user, title="Recipes", archived_at=timezone.now())

    listed = user_client.get(reverse("conversations:archived")).content.decode()
    assert listed.count("it comes back to your pinned chats") == 1, "only the pinned one"
    page = user_client.get(reverse("conversations:detail", args=[chat.id])).content.decode()
    assert ">Unpin</button>" in page, "the form is there, for a Restore to swap back in"
    assert 'id="chat-pin-form"' in page and 'hx-swap="innerHTML" hidden' in page, "but hidden while archived"

    user_client.post(reverse("conversations:archive", args=[chat.id]), {"archived": "0"})
    chat.refresh_from_db()
    assert chat.pinned and chat.archived_at is None


def key_statuses(user) -> dict[str, str]:
    from accounts import selectors

    keys = selectors.provider_keys_checked(user=user)
    return {key.provider: key.failed_test.error_message if key.failed_test else "" for key in keys}


def test_a_keys_failed_test_is_its_status_until_a_later_test_or_use_goes_through_or_it_is_replaced(user):
    from accounts.models import KeyAuditLog
    from accounts.services import SYSTEM, audit_log_write, provider_key_save

    Action = KeyAuditLog.Action

    def log(action, *, success=True, error="", provider="openai"):
        audit_log_write(user=user, provider=provider, action=action, client=SYSTEM, success=success, error=error)

    provider_key_save(user=user, provider="openai", api_key="sk-one-1111", client=SYSTEM)
    provider_key_save(user=user, provider="anthropic", api_key="sk-ant-2222", client=SYSTEM)
    assert key_statuses(user) == {"openai": "", "anthropic": ""}
    log(Action.TEST, success=False, error="OpenAI rejected this key.")
    assert key_statuses(user) == {"openai": "OpenAI rejected this key.", "anthropic": ""}, "that key only"
    # A chat use that failed is not held against it (the provider may be down), nor an activation.
    log(Action.USE, success=False, error="Overloaded.")
    log(Action.DEACTIVATE)
    log(Action.ACTIVATE)
    assert key_statuses(user)["openai"] == "OpenAI rejected this key."
    log(Action.USE)  # one that went through
    assert key_statuses(user)["openai"] == ""
    log(Action.TEST, success=False, error="Again.")
    log(Action.TEST)
    assert key_statuses(user)["openai"] == ""
    log(Action.TEST, success=False, error="Once more.")
    provider_key_save(user=user, provider="openai", api_key="sk-new-3333", client=SYSTEM)  # a new key starts afresh
    assert key_statuses(user)["openai"] == ""
    assert KeyAuditLog.objects.filter(user=user, action=Action.TEST, success=False).count() == 3, "the trail is kept"


def test_the_keys_statuses_take_two_queries_however_many_keys(user, django_assert_num_queries):
    from accounts import selectors
    from accounts.models import KeyAuditLog
    from accounts.services import SYSTEM, audit_log_write, provider_key_save

    for provider in ("openai", "anthropic", "google"):
        provider_key_save(user=user, provider=provider, api_key=f"sk-{provider}-0000", client=SYSTEM)
        audit_log_write(user=user, provider=provider, action=KeyAuditLog.Action.TEST, client=SYSTEM, success=False)
    with django_assert_num_queries(2):
        assert all(key.failed_test for key in selectors.provider_keys_checked(user=user))


def test_a_key_test_brings_the_keys_status_and_another_users_key_is_a_404(user, user_client, monkeypatch):
    from accounts import services
    from accounts.models import KeyAuditLog
    from accounts.services import SYSTEM, provider_key_save
    from tests.factories import UserFactory

    key = provider_key_save(user=user, provider="openai", api_key="sk-one-1111", client=SYSTEM)

    def refused(*, key, client):
        services.audit_log_write(
            user=key.user, provider=key.provider, action=KeyAuditLog.Action.TEST, client=client, success=False,
            error="OpenAI rejected this key.",
        )  # fmt: skip
        return False, "OpenAI rejected this key."

    monkeypatch.setattr(services, "provider_key_test", refused)
    url = reverse("accounts:key_test", args=[key.id])
    body = user_client.post(url, HTTP_HX_REQUEST="true").content.decode()
    assert f'hx-swap-oob="innerHTML:#key-status-{key.id}"' in body and "Last test failed" in body
    assert body.count("OpenAI rejected this key.") == 1, "the reason once, beside the buttons"

    other = UserFactory()
    theirs = provider_key_save(user=other, provider="openai", api_key="sk-two-2222", client=SYSTEM)
    assert user_client.post(reverse("accounts:key_test", args=[theirs.id]), HTTP_HX_REQUEST="true").status_code == 404


def test_a_finished_replys_fragment_brings_its_chats_preview_when_its_owner_shows_them(user):
    from accounts.models import Preferences
    from conversations.generation import render_finished
    from tests.factories import MessageFactory

    chat = ConversationFactory(user=user, title="Teapots")
    question = MessageFactory(conversation=chat, role="user", content="Which teapot keeps tea hot?")
    reply = MessageFactory(conversation=chat, parent=question, role="assistant", content="**Porcelain** keeps heat.")
    html = render_finished(reply)
    assert f'<span hidden data-sidebar-preview="{chat.id}" data-text="Porcelain keeps heat."></span>' in html

    # The offline assistant's notice and a reply that failed without text are never a preview: the question is.
    later = MessageFactory(conversation=chat, parent=reply, role="user", content="And   cast iron?")
    offline = MessageFactory(conversation=chat, parent=later, role="assistant", provider="offline", content="No model.")
    empty = MessageFactory(conversation=chat, parent=later, role="assistant", content="", status="failed")
    for finished in (offline, empty):
        assert 'data-text="And cast iron?"' in render_finished(finished)

    Preferences.objects.create(user=user, conversation_previews=False)
    assert "data-sidebar-preview" not in render_finished(reply), "previews off: none to update"
    Preferences.objects.filter(user=user).update(conversation_previews=True)
    chat.archived_at = timezone.now()
    chat.save(update_fields=["archived_at"])
    assert "data-sidebar-preview" not in render_finished(reply), "archived: not in the sidebar"


@pytest.mark.django_db(transaction=True)  # the stream's view gives its connection back (closes it) before it streams
def test_a_finished_reply_seen_late_brings_the_preview_and_another_users_stream_is_a_404(user, client):
    from asgiref.sync import async_to_sync
    from django.test import Client

    from conversations.models import Stream
    from tests.factories import MessageFactory, UserFactory

    chat = ConversationFactory(user=user, title="Teapots")
    question = MessageFactory(conversation=chat, role="user", content="Which teapot keeps tea hot?")
    reply = MessageFactory(conversation=chat, parent=question, role="assistant", content="Porcelain keeps heat.")
    stream = Stream.objects.create(conversation=chat, message=reply, status=Stream.Status.COMPLETE)
    url = reverse("conversations:stream_events", args=[stream.id])

    # A tab that reconnects once the reply was saved (its record expired) gets its done event: with the preview.
    client.force_login(user)
    response = client.get(url)

    async def read() -> bytes:
        return b"".join([chunk async for chunk in response.streaming_content])

    body = async_to_sync(read)().decode()
    assert "event: done" in body and f'data-sidebar-preview="{chat.id}" data-text="Porcelain keeps heat."' in body

    other = Client()
    other.force_login(UserFactory())
    assert other.get(url).status_code == 404


def test_a_redrawn_thread_brings_the_preview_when_no_reply_is_left_streaming(user, rf):
    """An edit's or a retry's reply that finished before the thread was drawn (a fast model) has no done event left
    to bring the chat's new preview: the thread brings it (a CI run caught the old branch's reply still shown)."""
    from conversations.models import Stream
    from conversations.views import _thread_response
    from tests.factories import MessageFactory

    chat = ConversationFactory(user=user, title="Teapots")
    question = MessageFactory(conversation=chat, role="user", content="Which teapot keeps tea hot?")
    reply = MessageFactory(conversation=chat, parent=question, role="assistant", content="Cast iron does.")
    chat.active_leaf = reply
    chat.save(update_fields=["active_leaf"])
    request = rf.post("/", HTTP_HX_REQUEST="true")
    request.user = user
    body = _thread_response(request, chat.id).content.decode()
    assert f'data-sidebar-preview="{chat.id}" data-text="Cast iron does."' in body

    # Still streaming: its done event brings the preview, the thread does not.
    reply.status = "streaming"
    reply.save(update_fields=["status"])
    Stream.objects.create(conversation=chat, message=reply)
    assert "data-sidebar-preview" not in _thread_response(request, chat.id).content.decode()
