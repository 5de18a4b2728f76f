"""The model picker in the composer (issue 14): only models the user can use, grouped by provider, favourites first
(starred from the picker), hidden ones left out (set on the preferences page), the preferred one by default; keyed
by provider and model; changing it mid-conversation moves the next reply to it. Every new URL is its owner's alone."""

from __future__ import annotations

import html
import re

import pytest
from django.db import transaction
from django.urls import reverse

from accounts.models import Preferences, User
from accounts.selectors import model_menu, offered_models
from accounts.services import SYSTEM, provider_key_save
from conversations.models import Conversation, Stream
from conversations.services import conversation_create, message_send
from tests.factories import ConversationFactory, UserFactory

pytestmark = pytest.mark.django_db
OPTION = re.compile(r'<option value="([^"]+)" data-favourite="(true|false)"( selected)?>([^<]*)</option>')


def with_key(user, provider: str, config: dict | None = None):
    provider_key_save(user=user, provider=provider, api_key=f"key-{provider}-0123456789-abcd", client=SYSTEM,
                      config=config)  # fmt: skip
    return user


def picker(page: str) -> list[tuple[str, list[tuple[str, bool, bool, str]]]]:
    """The composer's menu as [(group, [(value, favourite, selected, label)])]."""
    block = page.split('id="model-picker"', 1)[1].split("</select>", 1)[0]
    groups = []
    for label, body in re.findall(r'<optgroup label="([^"]+)">(.*?)</optgroup>', block, re.S):
        options = [(v, f == "true", bool(s), html.unescape(t)) for v, f, s, t in OPTION.findall(body)]
        groups.append((html.unescape(label), options))
    return groups


def values(groups) -> list[str]:
    return [value for _, options in groups for value, *_ in options]


@pytest.fixture
def no_operator_keys(settings, fake_openai, fake_gemini, fake_anthropic):
    """No provider is usable until a test gives the user a key (or the operator one)."""
    return settings


# --- What the menu offers ---------------------------------------------------------------------------------------


def test_no_key_means_only_the_offline_assistant(user_client, no_operator_keys):
    groups = picker(user_client.get(reverse("conversations:index")).content.decode())
    assert groups == [("Offline", [("offline:offline", False, True, "Offline assistant (no language model)")])]


def test_the_menu_groups_the_usable_providers_models_and_a_users_key_opens_its_provider(
    user, user_client, no_operator_keys
):
    no_operator_keys.OPENAI_API_KEY = "operator-openai-key"
    with_key(user, "xai")
    groups = picker(user_client.get(reverse("conversations:index")).content.decode())
    assert [label for label, _ in groups] == ["OpenAI", "xAI", "Offline"], "in the providers' order, offline last"
    assert values(groups) == [
        "openai:gpt-5.5", "openai:gpt-5.4-mini", "openai:gpt-5.4-nano", "openai:gpt-4.1", "xai:grok-4",
        "xai:grok-3-mini", "offline:offline",
    ]  # fmt: skip
    assert not any(value.startswith(("anthropic:", "google:", "groq:")) for value in values(groups)), "no key"
    selected = [value for _, options in groups for value, _, chosen, _ in options if chosen]
    assert selected == ["openai:gpt-5.5"], "a new chat: the first usable provider's first model"


def test_the_preferred_model_is_the_default_of_a_new_chat(user, user_client, no_operator_keys):
    with_key(user, "openai")
    Preferences.objects.create(user=user, default_model="openai:gpt-4.1")
    groups = picker(user_client.get(reverse("conversations:index")).content.decode())
    assert [value for _, options in groups for value, _, chosen, _ in options if chosen] == ["openai:gpt-4.1"]
    assert (conversation_create(user=user).provider, conversation_create(user=user).model) == ("openai", "gpt-4.1")


def test_two_providers_serving_the_same_model_id_do_not_collide(user, no_operator_keys):
    """A user's own OpenAI-compatible endpoint (under OpenAI) lists a model Groq also serves."""
    no_operator_keys.GROQ_API_KEY = "operator-groq-key"
    with_key(user, "openai", config={"base_url": "https://llm.example.com/v1", "models": ["llama-3.3-70b-versatile"]})
    offered = [(m.provider, m.id) for m in offered_models(user=user)]
    assert ("openai", "llama-3.3-70b-versatile") in offered and ("groq", "llama-3.3-70b-versatile") in offered
    for provider in ("groq", "openai"):
        conversation = conversation_create(user=user, model=f"{provider}:llama-3.3-70b-versatile")
        assert (conversation.provider, conversation.model) == (provider, "llama-3.3-70b-versatile")
    menu = model_menu(user=user, selected=("groq", "llama-3.3-70b-versatile"))
    assert menu.selected == "groq:llama-3.3-70b-versatile"


def test_hidden_models_are_left_out_except_the_one_a_conversation_is_on(user, user_client, no_operator_keys):
    with_key(user, "openai")
    Preferences.objects.create(user=user, hidden_models=["openai:gpt-5.4-mini", "openai:gpt-4.1"])
    index = values(picker(user_client.get(reverse("conversations:index")).content.decode()))
    assert "openai:gpt-5.4-mini" not in index and "openai:gpt-4.1" not in index and "openai:gpt-5.5" in index
    chat = ConversationFactory(user=user, provider="openai", model="gpt-4.1")
    page = user_client.get(reverse("conversations:detail", args=[chat.id])).content.decode()
    assert "openai:gpt-4.1" in values(picker(page)) and "openai:gpt-5.4-mini" not in values(picker(page))


def test_favourites_come_first_and_are_not_listed_twice(user, user_client, no_operator_keys):
    with_key(user, "openai")
    with_key(user, "google")
    User.objects.filter(id=user.id).update(favorite_models=["google:gemini-3.8-flash", "offline:offline"])
    groups = picker(user_client.get(reverse("conversations:index")).content.decode())
    assert groups[0] == (
        "Favourites",
        [
            ("google:gemini-3.8-flash", True, False, "Gemini 3.8 Flash · Google"),
            ("offline:offline", True, False, "Offline assistant (no language model)"),
        ],
    )
    assert values(groups).count("google:gemini-3.8-flash") == 1 and "Offline" not in [label for label, _ in groups]


def test_a_conversation_on_a_model_no_longer_offered_shows_it_marked(user, user_client, no_operator_keys):
    chat = ConversationFactory(user=user, provider="openai", model="gpt-5.5")
    groups = picker(user_client.get(reverse("conversations:detail", args=[chat.id])).content.decode())
    assert ("OpenAI", [("openai:gpt-5.5", False, True, "gpt-5.5 (not available now)")]) in groups


# --- Starring ---------------------------------------------------------------------------------------------------


def test_starring_from_the_picker_toggles_the_users_own_favourite(user, user_client, no_operator_keys):
    with_key(user, "openai")
    chat = ConversationFactory(user=user, provider="openai", model="gpt-5.5")
    url = reverse("conversations:model_favourite")
    data = {"model": "openai:gpt-4.1", "conversation": str(chat.id)}
    response = user_client.post(url, data, headers={"HX-Request": "true"})
    assert response.status_code == 200
    user.refresh_from_db()
    assert user.favorite_models == ["openai:gpt-4.1"]
    fragment = response.content.decode()
    assert fragment.lstrip().startswith('<div class="model-picker" id="model-picker">'), "the menu, redrawn"
    assert picker(fragment)[0] == ("Favourites", [("openai:gpt-4.1", True, True, "GPT-4.1 · OpenAI")])
    assert 'aria-pressed="true"' in fragment
    user_client.post(url, data, headers={"HX-Request": "true"})
    user.refresh_from_db()
    assert user.favorite_models == [], "starred again: unstarred"
    # Without script the star is a plain submit of the composer: back to the conversation.
    response = user_client.post(url, data)
    assert response.status_code == 302 and response["Location"] == reverse("conversations:detail", args=[chat.id])


def test_a_model_the_user_cannot_use_cannot_be_starred(user, user_client, no_operator_keys):
    url = reverse("conversations:model_favourite")
    for value in ("openai:gpt-5.5", "anthropic:claude-opus-5-5", "not-a-model", ""):
        assert user_client.post(url, {"model": value}).status_code == 400, value
    user.refresh_from_db()
    assert user.favorite_models == []


def test_nobody_stars_for_someone_else_nor_through_their_conversation(user, user_client, no_operator_keys):
    other = UserFactory()
    others_chat = ConversationFactory(user=other, provider="offline", model="offline")
    url = reverse("conversations:model_favourite")
    assert user_client.post(url, {"model": "offline:offline", "conversation": str(others_chat.id)}).status_code == 404
    assert user_client.post(url, {"model": "offline:offline", "conversation": "not-an-id"}).status_code == 404
    response = user_client.post(url, {"model": "offline:offline", "user": str(other.id), "user_id": str(other.id)})
    assert response.status_code == 302
    other.refresh_from_db()
    user.refresh_from_db()
    assert other.favorite_models == [] and user.favorite_models == ["offline:offline"], "only the signed-in user's"


def test_the_new_urls_need_a_signed_in_user(client, no_operator_keys):
    chat = ConversationFactory(provider="offline", model="offline")
    for url in (reverse("conversations:model_favourite"), reverse("conversations:model", args=[chat.id])):
        response = client.post(url, {"model": "offline:offline"})
        assert response.status_code == 302 and "/login/" in response["Location"], url


# --- Changing the model of a conversation -----------------------------------------------------------------------


def test_changing_the_menu_moves_the_conversation_to_that_model(user, user_client, no_operator_keys):
    with_key(user, "openai")
    chat = ConversationFactory(user=user, provider="offline", model="offline")
    url = reverse("conversations:model", args=[chat.id])
    assert user_client.post(url, {"model": "openai:gpt-4.1"}, headers={"HX-Request": "true"}).status_code == 204
    chat.refresh_from_db()
    assert (chat.provider, chat.model, chat.context_window_size) == ("openai", "gpt-4.1", 1_047_576)
    response = user_client.post(url, {"model": "xai:grok-4"}, headers={"HX-Request": "true"})
    assert response.status_code == 400 and "not available to you" in response.content.decode()
    assert response["HX-Retarget"] == "#composer-error", "said in the composer"
    chat.refresh_from_db()
    assert (chat.provider, chat.model) == ("openai", "gpt-4.1")


def test_another_users_conversation_cannot_be_moved_to_another_model(user_client, no_operator_keys):
    chat = ConversationFactory(provider="offline", model="offline")
    response = user_client.post(reverse("conversations:model", args=[chat.id]), {"model": "offline:offline"})
    assert response.status_code == 404
    chat.refresh_from_db()
    assert (chat.provider, chat.model) == ("offline", "offline")


def test_a_message_sent_with_another_model_is_answered_by_it(user, no_operator_keys):
    with_key(user, "openai")
    chat = ConversationFactory(user=user, provider="offline", model="offline")
    generation = message_send(user=user, conversation_id=chat.id, content="Hello", model="openai:gpt-5.4-nano")
    assert (generation.assistant_message.provider, generation.assistant_message.model) == ("openai", "gpt-5.4-nano")
    chat.refresh_from_db()
    assert (chat.provider, chat.model, chat.context_window_size) == ("openai", "gpt-5.4-nano", 400_000)
    Stream.objects.filter(conversation=chat).update(status=Stream.Status.COMPLETE)  # that reply is done
    with pytest.raises(ValueError, match="not available to you"), transaction.atomic():
        message_send(user=user, conversation_id=chat.id, content="Again", model="google:gemini-3.8-flash")
    assert Conversation.objects.get(id=chat.id).model == "gpt-5.4-nano"


def test_a_new_chat_starts_on_the_model_chosen_in_the_menu(user, user_client, no_operator_keys, monkeypatch):
    from conversations import views

    monkeypatch.setattr(views, "start_generation", lambda *args, **kwargs: None)
    with_key(user, "google")
    response = user_client.post(
        reverse("conversations:new"), {"content": "Hi", "model": "google:gemini-3.1-flash-lite"},
        headers={"HX-Request": "true"},
    )  # fmt: skip
    assert response.status_code == 204
    conversation = Conversation.objects.get(user=user)
    assert (conversation.provider, conversation.model) == ("google", "gemini-3.1-flash-lite")
    response = user_client.post(
        reverse("conversations:new"), {"content": "Hi", "model": "anthropic:claude-opus-5-5"},
        headers={"HX-Request": "true"},
    )  # fmt: skip
    assert response.status_code == 400 and Conversation.objects.filter(user=user).count() == 1


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_switching_model_mid_conversation_the_next_reply_uses_it(live_client, fake_openai):
    from accounts.models import ProviderKey
    from conversations.models import Message
    from tests.test_chat_streaming import send, start_chat

    user = UserFactory()
    for provider in ("openai", "xai"):
        with_key(user, provider)
    assert ProviderKey.objects.filter(user=user).count() == 2
    client = live_client(user)
    conversation, url = start_chat(client, "First question")
    list(client.events(url))
    assert fake_openai.requests[-1]["path"] == "/openai/v1/chat/completions"
    assert fake_openai.requests[-1]["body"]["model"] == "gpt-5.5"

    _, url = send(client, conversation, f"/c/{conversation.id}/messages/", {"content": "Next", "model": "xai:grok-4"})
    events = list(client.events(url))
    assert events[-1].event == "done" and ">grok-4</span>" in events[-1].data, "the bubble names its model"
    assert fake_openai.requests[-1]["path"] == "/xai/v1/chat/completions"
    assert fake_openai.requests[-1]["body"]["model"] == "grok-4"
    replies = Message.objects.filter(conversation=conversation, role="assistant").order_by("created_at")
    assert [(m.provider, m.model) for m in replies] == [("openai", "gpt-5.5"), ("xai", "grok-4")]


# --- Preferences: the default model and the hidden ones ---------------------------------------------------------


def test_hidden_models_and_the_default_are_set_on_the_preferences_page(user, user_client, no_operator_keys):
    with_key(user, "openai")
    url = reverse("accounts:preferences")
    page = user_client.get(url).content.decode()
    assert 'name="hidden_models" value="openai:gpt-4.1"' in page and "<legend>OpenAI</legend>" in page
    assert 'name="hidden_models" value="anthropic:' not in page, "only models the user can use"
    data = {
        "theme": "system", "layout": "sidebar", "default_model": "openai:gpt-5.4-mini", "default_system_prompt": "",
        "hidden_models": ["openai:gpt-4.1", "openai:gpt-5.5"],
    }  # fmt: skip
    assert user_client.post(url, data).status_code == 302
    preferences = Preferences.objects.get(user=user)
    assert preferences.hidden_models == ["openai:gpt-4.1", "openai:gpt-5.5"]
    assert preferences.default_model == "openai:gpt-5.4-mini"
    index = values(picker(user_client.get(reverse("conversations:index")).content.decode()))
    assert index == ["openai:gpt-5.4-mini", "openai:gpt-5.4-nano", "offline:offline"]
    response = user_client.post(url, {**data, "hidden_models": ["xai:grok-4"]})
    assert response.status_code == 400, "a model the user cannot use is not a choice"
    response = user_client.post(url, {**data, "default_model": "anthropic:claude-opus-5-5"})
    assert response.status_code == 400


def test_a_hidden_model_of_a_key_since_removed_stays_hidden(user, user_client, no_operator_keys):
    with_key(user, "openai")
    Preferences.objects.create(user=user, hidden_models=["xai:grok-4"], default_model="grok-4")
    page = user_client.get(reverse("accounts:preferences")).content.decode()
    assert '<option value="grok-4" selected>grok-4 (not available now)</option>' in page, "kept, said so"
    data = {"theme": "system", "layout": "sidebar", "default_model": "grok-4", "hidden_models": ["openai:gpt-4.1"]}
    assert user_client.post(reverse("accounts:preferences"), data).status_code == 302
    preferences = Preferences.objects.get(user=user)
    assert preferences.hidden_models == ["openai:gpt-4.1", "xai:grok-4"] and preferences.default_model == "grok-4"


def test_a_new_chat_does_not_start_on_a_hidden_model(user, user_client, no_operator_keys):
    """Hiding the model a new chat would start on (no default model chosen) moves new chats to the next one."""
    with_key(user, "openai")
    Preferences.objects.create(user=user, hidden_models=["openai:gpt-5.5"])
    groups = picker(user_client.get(reverse("conversations:index")).content.decode())
    assert "openai:gpt-5.5" not in values(groups), "hidden, so not in the menu of a new chat"
    assert [value for _, options in groups for value, _, chosen, _ in options if chosen] == ["openai:gpt-5.4-mini"]
    conversation = conversation_create(user=user)
    assert (conversation.provider, conversation.model) == ("openai", "gpt-5.4-mini")
    Preferences.objects.filter(user=user).update(default_model="openai:gpt-5.5")
    assert conversation_create(user=user).model == "gpt-5.5", "a default chosen on purpose still wins"
