"""Titles (issue 14): after a conversation's first reply a small model of the same provider names it, in the
background; the question's first words stay when it cannot; a title the user set is never replaced."""

from __future__ import annotations

import asyncio
import time

import pytest

from chatbot.llm.anthropic import AnthropicProvider
from chatbot.llm.catalog import TITLE_MODELS
from chatbot.llm.http import close_http_clients
from conversations.generation import Prepared
from conversations.models import Conversation, UsageLog
from conversations.services import title_clean
from conversations.titles import name_conversation
from tests.factories import ConversationFactory, UserFactory
from tests.test_chat_streaming import latest_stream_url, reply_of, start_chat, wait_for, with_key

pytestmark = [pytest.mark.slow]
QUESTION = "What should I pack for a week of hiking in the Alps in late September?"


def title_requests(fake):
    return fake.title_requests


def test_after_the_first_reply_a_small_model_names_the_conversation_and_its_cost_is_logged(live_client, fake_anthropic):
    client = live_client(with_key(UserFactory()))
    fake_anthropic.behaviour.reply = '"Packing for an Alpine hike."'
    conversation, url = start_chat(client, QUESTION)
    assert conversation.title == QUESTION[:80]  # the words title, at once
    events = list(client.events(url))
    assert events[-1].event == "done"
    # The finished bubble brings a watcher that asks for the title until it is written.
    assert f'hx-get="/c/{conversation.id}/title/"' in events[-1].data
    conversation = wait_for(
        lambda: Conversation.objects.filter(id=conversation.id, title="Packing for an Alpine hike").first()
    )
    assert not conversation.title_set_by_user
    (request,) = title_requests(fake_anthropic)
    assert QUESTION in str(request["messages"])
    usage = wait_for(
        lambda: UsageLog.objects.filter(conversation=conversation, model=TITLE_MODELS["anthropic"]).first()
    )
    assert usage.message_id is None and usage.output_tokens > 0 and usage.cost > 0
    assert UsageLog.objects.filter(conversation=conversation, message=reply_of(conversation)).exists()


def test_the_reply_is_done_before_the_title_is_asked_for(live_client, fake_anthropic):
    client = live_client(with_key(UserFactory()))
    fake_anthropic.behaviour.reply = "Alpine hiking packing list"
    fake_anthropic.behaviour.token_delay = 0.4  # the title call takes over a second too
    conversation, url = start_chat(client, QUESTION)
    events = list(client.events(url))
    assert events[-1].event == "done"
    # The done event is out while the title is still being written (or not even asked for).
    assert Conversation.objects.get(id=conversation.id).title == QUESTION[:80]
    wait_for(lambda: Conversation.objects.filter(id=conversation.id, title="Alpine hiking packing list").exists())


def test_a_later_reply_does_not_rename(live_client, fake_anthropic):
    client = live_client(with_key(UserFactory()))
    fake_anthropic.behaviour.reply = "First title words here"
    conversation, url = start_chat(client, QUESTION)
    list(client.events(url))
    wait_for(lambda: Conversation.objects.filter(id=conversation.id, title="First title words here").exists())
    fake_anthropic.behaviour.reply = "Another title entirely now"
    response = client.post(f"/c/{conversation.id}/messages/", {"content": "And for October?"})
    assert response.status_code == 200, response.text
    later = list(client.events(latest_stream_url(conversation)))
    assert later[-1].event == "done" and "/title/" not in later[-1].data
    wait_for(lambda: reply_of(conversation).content == "Another title entirely now")
    time.sleep(0.5)
    assert Conversation.objects.get(id=conversation.id).title == "First title words here"
    assert len(title_requests(fake_anthropic)) == 1


def run_title_step(conversation, fake, *, question: str = QUESTION, provider=None, name: str = "anthropic") -> None:
    provider = provider or AnthropicProvider(api_key="sk-ant-title-test-0001", base_url=fake.url, user_base_url=False)

    async def run():
        try:
            await name_conversation(
                Prepared(
                    provider=provider,
                    request=None,
                    provider_name=name,
                    model="the-reply-model",
                    first_question=question,
                    conversation_id=conversation.id,
                    user_id=conversation.user_id,
                )
            )
        finally:
            await close_http_clients()

    asyncio.run(run())


@pytest.mark.django_db(transaction=True)
def test_a_title_the_user_renamed_is_never_replaced(fake_anthropic, client):
    user = UserFactory()
    conversation = ConversationFactory(user=user, provider="anthropic", title=QUESTION[:80])
    client.force_login(user)
    response = client.post(f"/c/{conversation.id}/rename/", {"title": "My Alps trip"})
    assert response.status_code == 302
    conversation.refresh_from_db()
    assert conversation.title_set_by_user
    fake_anthropic.behaviour.reply = "Packing for an Alpine hike"
    run_title_step(conversation, fake_anthropic)
    assert title_requests(fake_anthropic), "the call was made (and paid for): only the save is refused"
    assert Conversation.objects.get(id=conversation.id).title == "My Alps trip"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("fail", ["500", "overloaded", "429"])
def test_when_the_title_call_fails_the_question_words_stay(fake_anthropic, fail):
    conversation = ConversationFactory(user=UserFactory(), provider="anthropic", title=QUESTION[:80])
    fake_anthropic.behaviour.fail = fail
    run_title_step(conversation, fake_anthropic)
    assert Conversation.objects.get(id=conversation.id).title == QUESTION[:80]


def test_offline_conversations_keep_the_question_words(live_client):
    client = live_client()
    conversation, url = start_chat(client, QUESTION)
    list(client.events(url))
    time.sleep(0.3)
    assert Conversation.objects.get(id=conversation.id).title == QUESTION[:80]


@pytest.mark.parametrize(
    ("answer", "title"),
    [
        ('"Packing for an Alpine hike."', "Packing for an Alpine hike"),
        ("Title: **Alps packing list**\nMore text", "Alps packing list"),
        ("one two three four five six seven eight nine", "one two three four five six seven"),
        ("  \n\u200b\n", ""),
    ],
)
def test_a_models_answer_becomes_a_short_title(answer, title):
    assert title_clean(answer) == title


@pytest.mark.django_db(transaction=True)
def test_the_title_url_waits_then_sends_the_title_out_of_band_and_is_the_owners_only(client):
    from django.core.cache import cache

    from conversations.titles import title_pending_key

    owner, other = UserFactory(), UserFactory()
    conversation = ConversationFactory(user=owner, title="Alpine packing list")
    url = f"/c/{conversation.id}/title/"
    client.force_login(owner)
    cache.set(title_pending_key(conversation.id), 1, 30)
    try:
        assert client.get(url).status_code == 204  # still being written: the page asks again
    finally:
        cache.delete(title_pending_key(conversation.id))
    response = client.get(url)
    assert response.status_code == 286  # htmx stops polling on 286
    html = response.content.decode()
    assert "<title>Alpine packing list · Chatbot</title>" in html
    assert f'id="conversation-link-{conversation.id}" hx-swap-oob="innerHTML">Alpine packing list<' in html
    assert f'id="conversation-title-{conversation.id}" hx-swap-oob="innerHTML">Alpine packing list<' in html
    client.force_login(other)
    assert client.get(url).status_code == 404
    client.logout()
    assert client.get(url).status_code == 302


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_sidebar_heading_and_page_title_take_the_new_title_without_a_reload(new_page, live_app, fake_anthropic):
    from playwright.sync_api import expect

    from tests.test_browser_chat import send, signed_in_page

    fake_anthropic.behaviour.reply = "Alpine hiking packing list"
    fake_anthropic.behaviour.token_delay = 0.1
    page, _user = signed_in_page(new_page, live_app)
    send(page, QUESTION)
    page.locator(".message[data-streaming]").wait_for()
    expect(page.locator(".message-assistant .markdown:not(.streaming-markdown)")).to_contain_text(
        "Alpine hiking packing list"
    )
    conversation = Conversation.objects.get(user=_user)
    page.evaluate("window.__sameDocument = true")
    expect(page.locator(f"#conversation-link-{conversation.id}")).to_have_text("Alpine hiking packing list")
    expect(page.locator(f"#conversation-link-{conversation.id}")).to_have_attribute("aria-current", "page")
    expect(page.locator("h1.chat-title")).to_have_text("Alpine hiking packing list")
    expect(page).to_have_title("Alpine hiking packing list · Chatbot")
    assert page.evaluate("window.__sameDocument"), "no reload"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", [name for name in TITLE_MODELS if name != "anthropic"])
def test_every_provider_with_a_small_model_names_through_it_and_logs_its_cost(name, fake_openai, fake_gemini):
    from chatbot.llm.catalog import PROVIDERS
    from chatbot.llm.providers import provider_for

    fake = fake_gemini if name == "google" else fake_openai
    base_url = fake.url if name == "google" else fake.base_url(name)
    provider = provider_for(PROVIDERS[name], api_key=f"key-{name}-title-0001", base_url=base_url, user_base_url=False)
    conversation = ConversationFactory(user=UserFactory(), provider=name, title=QUESTION[:80])
    fake.behaviour.reply = "Packing for the Alps"
    run_title_step(conversation, fake, provider=provider, name=name)
    assert Conversation.objects.get(id=conversation.id).title == "Packing for the Alps"
    assert len(fake.title_requests) == 1 and not fake.requests
    if name == "mistral":
        return  # the fake sends usage only when stream_options asks for it, which a request to Mistral does not
    usage = UsageLog.objects.get(conversation=conversation)
    assert (usage.provider, usage.model, usage.message_id) == (name, TITLE_MODELS[name], None)
    assert usage.input_tokens > 0 and usage.output_tokens > 0 and usage.cost > 0


@pytest.mark.django_db(transaction=True)
def test_the_document_suggestions_call_is_logged_with_its_cost_too(user_client, user, fake_anthropic):
    """The same class of call as a title (one model call outside a reply): its tokens were dropped before."""
    import json

    from django.urls import reverse

    from accounts.services import SYSTEM, provider_key_save
    from tests.test_documents_views import TYPO_TEXT, manual_document

    provider_key_save(user=user, provider="anthropic", api_key="sk-ant-test-0123456789", client=SYSTEM)
    document = manual_document(user, TYPO_TEXT)
    fake_anthropic.behaviour.reply = json.dumps([{"original_text": "brwon", "suggested_text": "brown"}])
    user_client.post(reverse("documents:suggest", args=[document.id]))
    usage = UsageLog.objects.get(user=user)
    assert (usage.provider, usage.conversation_id, usage.message_id, usage.own_key) == ("anthropic", None, None, True)
    assert usage.input_tokens > 0 and usage.output_tokens > 0 and usage.cost > 0
