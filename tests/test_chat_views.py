"""The chat pages and their validation, through the Django test client (and the live app where a reply starts)."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from conversations import services
from conversations.models import Conversation, Message, Stream
from tests.factories import ConversationFactory, GuestFactory, MessageFactory, StreamFactory, UserFactory

QUOTA_MESSAGE = re.compile(
    r"You have sent your (\d+) messages for today\. The limit resets at midnight UTC \(in (\d+ h )?\d+ min\)\."
)


def page_of(response) -> str:
    return response.content.decode()


def thread_of(page: str) -> str:
    """The thread part of a page (the sidebar lists titles, not messages)."""
    return page.split('id="thread"', 1)[1]


def sidebar_titles(page: str) -> list[str]:
    return [
        html.unescape(t) for t in re.findall(r'class="conversation-link" href="/c/[0-9a-f-]+/"[^>]*>([^<]*)</a>', page)
    ]


def counts() -> tuple[int, int, int]:
    return Conversation.objects.count(), Message.objects.count(), Stream.objects.count()


def exhaust_quota(user: User, limit: int) -> None:
    user.daily_message_count = limit
    user.daily_message_reset_on = timezone.now().astimezone(dt.UTC).date()
    user.save(update_fields=["daily_message_count", "daily_message_reset_on"])


@pytest.fixture
def chat(user):
    """A conversation of `user` with one question and its complete reply."""
    conversation = ConversationFactory(user=user, title="Trip planning", model="offline", system_prompt="Be brief.")
    question = MessageFactory(conversation=conversation, role="user", content="Where should I go in May?")
    reply = MessageFactory(conversation=conversation, role="assistant", parent=question, content="Try **Lisbon**.")
    conversation.active_leaf = reply
    conversation.save(update_fields=["active_leaf"])
    return conversation


# --- Index, sidebar, detail ---------------------------------------------------------------------------------------


def test_the_index_of_a_new_user_shows_the_empty_state(user_client):
    page = page_of(user_client.get(reverse("conversations:index")))
    assert "What would you like to know?" in page
    assert "No conversations yet." in page
    assert "Show older" not in page
    assert 'action="/c/new/"' in page, "the composer starts a new conversation"


def test_the_sidebar_lists_50_conversations_then_a_keyset_show_older_link(user, user_client):
    start = timezone.now() - dt.timedelta(days=1)
    for number in range(55):
        ConversationFactory(
            user=user, title=f"Conversation {number:03}", updated_at=start + dt.timedelta(minutes=number)
        )
    ConversationFactory(title="Someone else's conversation")

    page = page_of(user_client.get(reverse("conversations:index")))
    first = sidebar_titles(page)
    assert first == [f"Conversation {n:03}" for n in range(54, 4, -1)], "the 50 most recently active, newest first"
    [older_url] = re.findall(r'hx-get="([^"]+)"[^>]*>Show older', page)
    older_url = html.unescape(older_url)
    assert older_url.startswith(reverse("conversations:list") + "?cursor=")

    rest = page_of(user_client.get(older_url, headers={"HX-Request": "true"}))
    assert sidebar_titles(rest) == [f"Conversation {n:03}" for n in range(4, -1, -1)]
    assert "Show older" not in rest and "No conversations yet." not in rest
    assert "Someone else" not in page + rest

    garbage = page_of(
        user_client.get(reverse("conversations:list") + "?cursor=not-a-cursor", headers={"HX-Request": "true"})
    )
    assert sidebar_titles(garbage) == first, "an invalid cursor starts from the top"

    # Opened as an address, outside htmx, it was a bare fragment without the page around it.
    direct = user_client.get(older_url)
    assert direct.status_code == 302 and direct.url == reverse("conversations:index")


def test_the_detail_page_shows_the_active_branch_with_arrows_only_where_there_are_versions(user, user_client):
    conversation = ConversationFactory(user=user, title="Branches")
    question = MessageFactory(conversation=conversation, role="user", content="Pick a colour")
    first = MessageFactory(conversation=conversation, role="assistant", parent=question, content="Blue, version one")
    second = MessageFactory(conversation=conversation, role="assistant", parent=question, content="Green, version two")
    conversation.active_leaf = first
    conversation.save(update_fields=["active_leaf"])
    url = reverse("conversations:detail", args=[conversation.id])

    thread = thread_of(page_of(user_client.get(url)))
    assert "Pick a colour" in thread and "Blue, version one" in thread
    assert "Green, version two" not in thread, "only the branch on screen"
    assert '<span class="branch-position">1/2</span>' in thread
    assert thread.count("branch-nav") == 1, "the question has no versions: no arrows on it"
    switch_next = reverse("conversations:switch", args=[conversation.id, second.id])
    assert f'hx-post="{switch_next}"' in thread and "›" in thread

    conversation.active_leaf = second
    conversation.save(update_fields=["active_leaf"])
    thread = thread_of(page_of(user_client.get(url)))
    assert "Green, version two" in thread and "Blue, version one" not in thread
    assert '<span class="branch-position">2/2</span>' in thread

    plain = ConversationFactory(user=user)
    MessageFactory(conversation=plain, role="user", content="Just one question")
    thread = thread_of(page_of(user_client.get(reverse("conversations:detail", args=[plain.id]))))
    assert "Just one question" in thread
    assert "branch-nav" not in thread and "‹" not in thread and "1/1" not in thread


def test_an_htmx_navigation_gets_only_the_main_panel(chat, user_client):
    response = user_client.get(reverse("conversations:detail", args=[chat.id]), headers={"HX-Request": "true"})
    page = page_of(response)
    assert "<html" not in page and 'id="thread"' in page and "Try <strong>Lisbon</strong>." in page


# --- Sending: validation and quota (no reply is started, so the test client is enough) ----------------------------


@pytest.mark.parametrize("content", ["", "   \n\t  "], ids=["empty", "whitespace"])
def test_an_empty_message_is_refused_and_nothing_is_saved(user, user_client, chat, content):
    before = counts()
    for url in (reverse("conversations:message_create", args=[chat.id]), reverse("conversations:new")):
        response = user_client.post(url, {"content": content}, headers={"HX-Request": "true"})
        assert response.status_code == 400
        assert "Write a message first." in page_of(response)
        assert response["HX-Retarget"] == "#composer-error"
    assert counts() == before
    user.refresh_from_db()
    assert user.daily_message_count == 0, "a refused message costs no quota"


def test_a_message_over_20000_characters_is_refused_with_a_readable_error(user, user_client, chat):
    before = counts()
    too_long = "a" * 20_001
    for url in (
        reverse("conversations:message_create", args=[chat.id]),
        reverse("conversations:new"),
        reverse("conversations:edit", args=[chat.id, chat.messages.get(role="user").id]),
    ):
        response = user_client.post(url, {"content": too_long})
        assert response.status_code == 400, url
        assert "That message is too long (20,001 characters; the limit is 20,000)." in page_of(response)
    assert counts() == before, "not even an empty conversation is left behind"
    user.refresh_from_db()
    assert user.daily_message_count == 0


@pytest.mark.parametrize("guest", [False, True], ids=["user", "guest"])
def test_an_exhausted_daily_quota_is_refused_with_the_reset_time(client, settings, guest):
    settings.USER_DAILY_MESSAGE_LIMIT = 3
    settings.GUEST_DAILY_MESSAGE_LIMIT = 2
    owner = GuestFactory() if guest else UserFactory()
    client.force_login(owner)
    conversation = ConversationFactory(user=owner)
    question = MessageFactory(conversation=conversation, role="user", content="Earlier question")
    reply = MessageFactory(conversation=conversation, role="assistant", parent=question, content="Earlier reply")
    limit = 2 if guest else 3
    exhaust_quota(owner, limit)
    before = counts()
    for url, data in [
        (reverse("conversations:message_create", args=[conversation.id]), {"content": "One more"}),
        (reverse("conversations:new"), {"content": "A new chat"}),
        (reverse("conversations:regenerate", args=[conversation.id, reply.id]), {}),
        (reverse("conversations:edit", args=[conversation.id, question.id]), {"content": "Edited"}),
    ]:
        response = client.post(url, data, headers={"HX-Request": "true"})
        assert response.status_code == 429, url
        text = html.unescape(page_of(response))
        match = QUOTA_MESSAGE.search(text)
        assert match and int(match.group(1)) == limit, text
        assert ("Sign up for a higher limit." in text) is guest
        assert response["HX-Retarget"] == "#composer-error"
    assert counts() == before, "no message, reply, stream or conversation was saved"
    owner.refresh_from_db()
    assert owner.daily_message_count == limit


@pytest.mark.slow
def test_the_last_message_of_the_day_goes_through_and_the_next_is_refused(live_client, settings):
    """Through the live app (a reply really starts): the boundary of the quota and of the message length."""
    from tests.test_chat_streaming import start_chat

    owner = UserFactory()
    limit = settings.USER_DAILY_MESSAGE_LIMIT  # the live app reads the same environment
    exhaust_quota(owner, limit - 1)
    client = live_client(owner)
    longest = "word " * 3999 + "last!"
    assert len(longest) == 20_000
    conversation, url = start_chat(client, longest)
    events = list(client.events(url))
    assert events[-1].event == "done" and "Offline assistant" in events[-1].data
    assert Message.objects.get(conversation=conversation, role="user").content == longest

    response = client.post(f"/c/{conversation.id}/messages/", {"content": "One too many"})
    assert response.status_code == 429
    match = QUOTA_MESSAGE.search(html.unescape(response.text))
    assert match and int(match.group(1)) == limit
    assert response.headers["HX-Retarget"] == "#composer-error"
    assert list(Message.objects.filter(conversation=conversation).values_list("role", flat=True).order_by("role")) == [
        "assistant",
        "user",
    ]
    owner.refresh_from_db()
    assert owner.daily_message_count == limit


def test_regenerate_while_a_reply_is_streaming_is_refused(user, user_client, chat):
    reply = chat.messages.get(role="assistant")
    streaming = MessageFactory(conversation=chat, role="assistant", parent=reply.parent, content="", status="streaming")
    StreamFactory(message=streaming, conversation=chat)
    before = counts()
    response = user_client.post(
        reverse("conversations:regenerate", args=[chat.id, reply.id]), headers={"HX-Request": "true"}
    )
    assert response.status_code == 409
    assert "Wait for the current reply to finish, or stop it first." in page_of(response)
    assert response["HX-Retarget"] == "#composer-error"
    # The thread comes with the refusal, out of band: a tab that did not know of the streaming reply shows it.
    assert page_of(response).count('hx-swap-oob="true"') == 1
    assert f'id="message-{reply.id}"' in page_of(response)  # the branch on screen (the browser test: a streaming one)
    sent = user_client.post(
        reverse("conversations:message_create", args=[chat.id]),
        {"content": "Too early"},
        headers={"HX-Request": "true"},
    )
    assert sent.status_code == 409 and 'hx-swap-oob="true"' in page_of(sent)
    edit = user_client.post(
        reverse("conversations:edit", args=[chat.id, reply.parent_id]),
        {"content": "Changed my mind"},
        headers={"HX-Request": "true"},
    )
    assert edit.status_code in (400, 409)
    assert "Wait for the current reply to finish, or stop it first." in page_of(edit)
    # Without JavaScript the forms post plainly: back to the chat's page, the reason said there.
    plain = user_client.post(reverse("conversations:regenerate", args=[chat.id, reply.id]), follow=True)
    assert plain.redirect_chain == [(reverse("conversations:detail", args=[chat.id]), 302)]
    assert "Wait for the current reply to finish, or stop it first." in page_of(plain)
    assert counts() == before
    user.refresh_from_db()
    assert user.daily_message_count == 0, "a refused regeneration costs no quota"


def test_only_an_assistant_reply_can_be_regenerated(user_client, chat):
    question = chat.messages.get(role="user")
    before = counts()
    response = user_client.post(
        reverse("conversations:regenerate", args=[chat.id, question.id]), headers={"HX-Request": "true"}
    )
    assert response.status_code == 400 and "Only an assistant reply can be regenerated." in page_of(response)
    assert counts() == before


# --- Settings, rename, delete ----------------------------------------------------------------------------------------


def test_settings_reject_an_unknown_model(user_client, chat):
    response = user_client.post(
        reverse("conversations:settings", args=[chat.id]), {"model": "gpt-evil", "system_prompt": "Changed"}
    )
    assert response.status_code == 400 and page_of(response) == services.MODEL_NOT_OFFERED
    chat.refresh_from_db()
    assert (chat.model, chat.provider, chat.system_prompt) == ("offline", "offline", "Be brief.")


def test_settings_save_a_known_model_and_the_system_prompt(user_client, chat, settings):
    settings.ANTHROPIC_API_KEY = "sk-ant-operator-key"  # only the models of a provider the user can use are offered
    url = reverse("conversations:settings", args=[chat.id])
    response = user_client.post(
        url, {"model": "claude-haiku-5-5", "system_prompt": "Answer in French.", "retrieval_enabled": "on"},
        headers={"HX-Request": "true"},
    )  # fmt: skip
    assert response.status_code == 200 and "Saved." in page_of(response)
    chat.refresh_from_db()
    assert (chat.model, chat.provider, chat.system_prompt, chat.retrieval_enabled) == (
        "claude-haiku-5-5",
        "anthropic",
        "Answer in French.",
        True,
    )
    response = user_client.post(url, {"model": "offline", "system_prompt": "x" * 10_000})
    assert response.status_code == 302
    chat.refresh_from_db()
    assert (chat.provider, len(chat.system_prompt), chat.retrieval_enabled) == ("offline", 10_000, False)


def test_over_long_instructions_are_refused_with_the_reason_not_cut(user_client, chat):
    url = reverse("conversations:settings", args=[chat.id])
    data = {"model": "offline", "system_prompt": "x" * 12_000}
    response = user_client.post(url, data, headers={"HX-Request": "true"})
    assert response.status_code == 400 and response["HX-Retarget"] == "#settings-status"
    # Called by the field's name, "System prompt", as Preferences does (it said "The instructions are too long").
    assert "That system prompt is too long (12,000 characters; the limit is 10,000)." in page_of(response)
    chat.refresh_from_db()
    assert chat.system_prompt == "Be brief."


def test_a_model_not_offered_but_configured_stays_selected_and_savable(user_client, user, settings):
    settings.ANTHROPIC_DEFAULT_MODEL = "claude-operator-pick"
    settings.ANTHROPIC_API_KEY = "sk-ant-operator-key"  # Claude is usable: its models, the default among them
    chat = ConversationFactory(user=user, provider="anthropic", model="claude-private-finetune", system_prompt="")
    page = page_of(user_client.get(reverse("conversations:detail", args=[chat.id])))
    chosen = 'value="anthropic:claude-private-finetune" data-favourite="false" selected>claude-private-finetune<'
    assert chosen in page, "the conversation's model is shown as chosen (its provider is usable: not 'unavailable')"
    assert '<option value="anthropic:claude-operator-pick" data-favourite="false">' in page, "the operator's default"
    url = reverse("conversations:settings", args=[chat.id])
    assert user_client.post(url, {"model": "claude-private-finetune", "system_prompt": "Be terse."}).status_code == 302
    chat.refresh_from_db()
    assert (chat.model, chat.system_prompt) == ("claude-private-finetune", "Be terse.")
    assert user_client.post(url, {"model": "claude-operator-pick"}).status_code == 302
    assert user_client.post(url, {"model": "claude-private-finetune"}).status_code == 400, "not once it is left"


@pytest.mark.parametrize("title", ["", "   \n  "], ids=["empty", "whitespace"])
def test_rename_with_an_empty_title_is_refused(user_client, chat, title):
    response = user_client.post(reverse("conversations:rename", args=[chat.id]), {"title": title}, follow=True)
    assert response.redirect_chain == [(reverse("conversations:detail", args=[chat.id]), 302)]
    assert "A title cannot be empty: the conversation keeps its name." in page_of(response)
    chat.refresh_from_db()
    assert chat.title == "Trip planning"


def test_rename_with_an_over_long_title_is_refused_not_cut(user_client, chat):
    response = user_client.post(reverse("conversations:rename", args=[chat.id]), {"title": "t" * 501}, follow=True)
    assert response.redirect_chain == [(reverse("conversations:detail", args=[chat.id]), 302)]
    assert "500 characters long at most; this one has 501" in page_of(response)
    chat.refresh_from_db()
    assert chat.title == "Trip planning"


def test_rename_collapses_whitespace_and_shows_the_new_title(user_client, chat):
    response = user_client.post(reverse("conversations:rename", args=[chat.id]), {"title": "  Summer \n  trip  "})
    assert response.status_code == 302 and response["Location"] == reverse("conversations:detail", args=[chat.id])
    chat.refresh_from_db()
    assert chat.title == "Summer trip"
    page = page_of(user_client.get(response["Location"]))
    assert f'<h1 class="chat-title" id="conversation-title-{chat.id}">Summer trip</h1>' in page
    assert chat.title_set_by_user, "a title the user set is never replaced by a generated one"


def test_delete_removes_the_conversation_with_its_messages_and_redirects(user, user_client, chat):
    other = ConversationFactory(user=user, title="Keep me")
    MessageFactory(conversation=other, content="Still here")
    message_ids = list(chat.messages.values_list("id", flat=True))
    response = user_client.post(reverse("conversations:delete", args=[chat.id]))
    assert response.status_code == 302 and response["Location"] == reverse("conversations:index")
    assert not Conversation.objects.filter(id=chat.id).exists()
    assert not Message.objects.filter(id__in=message_ids).exists()
    assert Message.objects.filter(conversation=other, content="Still here").exists()
    index = page_of(user_client.get(response["Location"]))
    assert "Trip planning" not in index.split("Deleted “Trip planning”.")[1] and "Keep me" in index, "said, once"

    htmx = user_client.post(reverse("conversations:delete", args=[other.id]), headers={"HX-Request": "true"})
    assert htmx.status_code == 204 and htmx["HX-Redirect"] == reverse("conversations:index")
    assert not Conversation.objects.filter(user=user).exists()


def test_deleting_from_the_archived_list_goes_back_to_it_and_says_so(user, user_client):
    """The archived list deletes chats one after another: each delete comes back to the list; a `next` off the
    site is not followed."""
    first = ConversationFactory(user=user, title="Old trip", archived_at=timezone.now())
    second = ConversationFactory(user=user, title="Old recipe", archived_at=timezone.now())
    archived = reverse("conversations:archived")
    page = page_of(user_client.get(archived))
    assert f'<input type="hidden" name="next" value="{archived}">' in page
    response = user_client.post(reverse("conversations:delete", args=[first.id]), {"next": archived})
    assert response.status_code == 302 and response["Location"] == archived
    page = page_of(user_client.get(archived))
    assert "Deleted “Old trip”." in page and "Old recipe" in page
    response = user_client.post(reverse("conversations:delete", args=[second.id]), {"next": "https://evil.example/"})
    assert response["Location"] == reverse("conversations:index")


# --- Search -------------------------------------------------------------------------------------------------------


def test_search_finds_the_users_messages_by_their_words_and_nothing_of_others(user, user_client):
    mine = ConversationFactory(user=user, title="Animals")
    hit = MessageFactory(conversation=mine, content="The quick brown fox jumps over the lazy dog")
    MessageFactory(conversation=mine, content="Nothing relevant in this one")
    theirs = ConversationFactory(title="Someone else's animals")
    MessageFactory(conversation=theirs, content="A brown fox secret that belongs to someone else")

    page = page_of(user_client.get(reverse("conversations:search"), {"q": "brown foxes jumping"}))
    assert "The quick <mark>brown</mark> <mark>fox</mark> <mark>jumps</mark> over the lazy dog" in page, (
        "found by stemmed words, not exact text, and the words found are marked"
    )
    assert f'href="/c/{mine.id}/?message={hit.id}#message-{hit.id}"' in page
    assert "Nothing relevant" not in page
    assert "secret that belongs" not in page and "Someone else" not in page and str(theirs.id) not in page

    empty = page_of(user_client.get(reverse("conversations:search"), {"q": "zeppelin"}))
    assert "Nothing matches “zeppelin”." in empty and "brown fox" not in empty


@pytest.mark.slow
def test_a_message_sent_with_htmx_gets_only_the_new_turn_to_append_and_without_htmx_a_redirect(live_client):
    from tests.test_chat_streaming import start_chat

    client = live_client(UserFactory())
    conversation, url = start_chat(client, "First question about tides")
    list(client.events(url))

    response = client.post(f"/c/{conversation.id}/messages/", {"content": "Second question about moons"})
    assert response.status_code == 200
    fragment = response.text
    assert 'id="thread"' not in fragment, "appended into the thread, not a replacement of it"
    assert "First question about tides" not in fragment, "what is on screen is not sent again"
    assert "Second question about moons" in fragment
    reply = Message.objects.filter(conversation=conversation, role="assistant").latest("created_at")
    stream = Stream.objects.get(message=reply)
    assert f'id="message-{reply.id}"' in fragment
    assert f'sse-connect="/c/streams/{stream.id}/events/?t=' in fragment
    list(client.events(f"/c/streams/{stream.id}/events/"))

    # A browser without JavaScript posts the plain form: it is sent to the page (post/redirect/get).
    response = client.post(f"/c/{conversation.id}/messages/", {"content": "Third, without htmx"}, htmx=False)
    assert response.status_code == 302 and response.headers["Location"] == f"/c/{conversation.id}/"
    assert Message.objects.filter(conversation=conversation, content="Third, without htmx").exists()


def test_a_send_whose_page_fragment_fails_to_render_still_starts_its_reply(user, monkeypatch):
    """Otherwise the reply, saved as streaming, would refuse every message of the conversation until the sweep."""
    from django.test import Client

    from conversations import views

    started = []
    monkeypatch.setattr(views, "start_generation", lambda stream_id, *args, **kwargs: started.append(stream_id))

    def broken_render(*args, **kwargs):
        raise RuntimeError("template trouble")

    monkeypatch.setattr(views, "_new_turn_response", broken_render)
    chat = ConversationFactory(user=user, model="offline")
    client = Client(raise_request_exception=False)
    client.force_login(user)
    response = client.post(
        reverse("conversations:message_create", args=[chat.id]), {"content": "Hello"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 500
    assert started == [Stream.objects.get(conversation=chat).id]
