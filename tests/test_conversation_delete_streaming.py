"""A conversation deleted while its reply is still being written (in another tab): the reply is told to stop, and
its open tabs are told the conversation was deleted, not that the reply could not be saved."""

from __future__ import annotations

import pytest
import redis
from django.conf import settings
from playwright.sync_api import expect

from conversations import services, streams
from conversations.generation import DELETED_REPLY_HTML, finish_safely
from conversations.models import Conversation, Message
from conversations.projects import project_delete
from tests.factories import ConversationFactory, MessageFactory, ProjectFactory, UserFactory
from tests.live import session_for


@pytest.fixture
def sync_redis():
    client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    yield client
    client.close()


def streaming_reply(conversation: Conversation) -> services.Generation:
    return services.message_send(user=conversation.user, conversation_id=conversation.id, content="Write a lot.")


@pytest.mark.django_db
def test_deleting_a_conversation_tells_its_running_reply_to_stop(sync_redis, django_capture_on_commit_callbacks):
    conversation = ConversationFactory()
    running = streaming_reply(conversation)
    other = streaming_reply(ConversationFactory(user=conversation.user))  # another chat's reply goes on
    with django_capture_on_commit_callbacks(execute=True):
        deleted = services.conversations_delete(conversations=Conversation.objects.filter(id=conversation.id))
    assert deleted == 1 and not Conversation.objects.filter(id=conversation.id).exists()
    assert sync_redis.get(streams.stop_key(running.stream.id)) == "1"
    assert sync_redis.get(streams.stop_key(other.stream.id)) is None


@pytest.mark.django_db
def test_a_project_deleted_with_its_chats_stops_their_replies(sync_redis, django_capture_on_commit_callbacks):
    user = UserFactory()
    project = ProjectFactory(user=user)
    conversation = ConversationFactory(user=user, project=project)
    running = streaming_reply(conversation)
    with django_capture_on_commit_callbacks(execute=True):
        assert project_delete(project=project, with_chats=True) == 1
    assert sync_redis.get(streams.stop_key(running.stream.id)) == "1"


@pytest.mark.django_db
def test_a_reply_whose_conversation_was_deleted_finishes_quietly_saying_so(caplog):
    conversation = ConversationFactory()
    running = streaming_reply(conversation)
    conversation.delete()
    outcome = services.GenerationOutcome(text="Half a reply", status=Message.Status.CANCELLED)
    with caplog.at_level("ERROR"):
        status, html = finish_safely(running.stream.id, outcome)
    assert (status, html) == (Message.Status.CANCELLED, DELETED_REPLY_HTML)
    assert not [record for record in caplog.records if record.levelname == "ERROR"]


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_sending_in_a_chat_deleted_in_another_tab_says_so_and_keeps_the_text(new_page, live_app):
    user = UserFactory()
    conversation = ConversationFactory(user=user, title="Soon gone")
    question = MessageFactory(conversation=conversation, role="user", content="A question")
    MessageFactory(conversation=conversation, parent=question, role="assistant", content="An answer.", model="x")
    page = new_page()
    page.context.add_cookies([{"name": "sessionid", "value": session_for(user), "url": live_app.url}])
    page.goto(f"/c/{conversation.id}/")
    page.wait_for_load_state("load")  # app.js binds its handlers
    conversation.delete()  # in another tab

    page.locator("#composer-input").fill("Are you still there?")
    page.locator("#composer-input").press("Enter")
    expect(page.locator("#composer-error")).to_contain_text("no longer exists")
    expect(page.locator("#composer-input")).to_have_value("Are you still there?")

    # Regenerate, a form without an error slot of its own, says it in the composer's too.
    page.locator("#composer-error").evaluate("slot => { slot.textContent = '' }")
    page.get_by_role("button", name="Regenerate").first.click()
    expect(page.locator("#composer-error")).to_contain_text("no longer exists")
