"""What a new user meets beyond the chat itself: sources saved by older versions, search, guests' wording."""

from __future__ import annotations

import html
import re
import uuid

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from conversations.models import Conversation, Message, Stream
from tests.factories import ConversationFactory, GuestFactory, MessageFactory, UserFactory

pytestmark = pytest.mark.django_db

# What replies stored before sources carried their passage (seed 000): no chunk id, number, title or text.
OLD_SOURCES = [
    {"chapter": "Communication", "section": "Topics", "score": 0.82},
    {"chapter": "Execution", "section": "Lifecycle nodes", "score": 0.5},
]


def conversation_with_old_sources(user) -> Conversation:
    conversation = ConversationFactory(user=user, title="Old reply", visibility=Conversation.Visibility.PUBLIC)
    question = MessageFactory(conversation=conversation, role="user", content="Topics?")
    reply = MessageFactory(
        conversation=conversation,
        role="assistant",
        parent=question,
        content="Topics are streams.",
        metadata={"sources": OLD_SOURCES},
    )
    conversation.active_leaf = reply
    conversation.save(update_fields=["active_leaf"])
    return conversation


def test_a_source_saved_without_its_passage_is_listed_without_a_link_instead_of_failing(user, user_client):
    conversation = conversation_with_old_sources(user)

    for client, url in (
        (user_client, reverse("conversations:detail", args=[conversation.id])),
        (Client(), reverse("conversations:shared", args=[conversation.id])),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        page = response.content.decode()
        assert "Communication › Topics" in page and "Execution › Lifecycle nodes" in page
        assert "/documents/passages/" not in page
        # Numbered in order, each with its own anchor.
        assert f'id="source-{conversation.active_leaf_id}-1" value="1"' in page
        assert f'id="source-{conversation.active_leaf_id}-2" value="2"' in page


# --- Search ---------------------------------------------------------------------------------------------------------


def search(client, query: str) -> str:
    response = client.get(reverse("conversations:search"), {"q": query})
    assert response.status_code == 200
    return response.content.decode()


def snippets(page: str) -> list[str]:
    return re.findall(r'<p class="search-snippet">(.*?)</p>', page, flags=re.S)


def turn(conversation, question: str, answer: str, parent=None):
    asked = MessageFactory(conversation=conversation, role="user", content=question, parent=parent)
    return asked, MessageFactory(conversation=conversation, role="assistant", content=answer, parent=asked)


def test_a_reply_is_found_as_the_words_a_reader_sees_not_its_markdown(user, user_client):
    conversation = ConversationFactory(user=user)
    turn(conversation, "Which one?", "Use a **topic** for `sensor_msgs` data, see [the docs](https://docs.ros.org/).")

    (snippet,) = snippets(search(user_client, "topics"))

    assert snippet == "Use a <mark>topic</mark> for sensor_msgs data, see the docs."


def test_a_match_far_into_a_long_message_is_in_its_snippet_and_marked(user, user_client):
    conversation = ConversationFactory(user=user)
    filler = " ".join(f"word{n}" for n in range(300))
    MessageFactory(conversation=conversation, role="user", content=f"{filler} the zeppelin landed {filler}")

    (snippet,) = snippets(search(user_client, "zeppelins"))

    assert "the <mark>zeppelin</mark> landed" in snippet
    assert snippet.startswith("… ") and snippet.endswith(" …")
    assert len(html.unescape(re.sub(r"</?mark>", "", snippet))) <= 250
    # Centred: about as much text before the match as after it.
    before, after = snippet.split("<mark>zeppelin</mark>")
    assert abs(len(before) - len(after)) < 40


def test_snippets_and_titles_are_escaped_around_the_marks(user, user_client):
    conversation = ConversationFactory(user=user, title="<b>findme</b> title")
    MessageFactory(conversation=conversation, role="user", content="<img src=x onerror=alert(1)> findme <mark>")

    page = search(user_client, "findme")

    assert "&lt;img src=x onerror=alert(1)&gt; <mark>findme</mark> &lt;mark&gt;" in page
    assert "&lt;b&gt;<mark>findme</mark>&lt;/b&gt; title" in page
    assert "<img" not in page and "<b>" not in page


def test_a_turn_is_listed_once_however_many_of_its_messages_match(user, user_client):
    conversation = ConversationFactory(user=user, title="Robots")
    question, answer = turn(conversation, "What is a lidar?", "A lidar measures distance with a laser.")
    # Regenerated: a second reply to the same question, word for word the same (the offline assistant).
    retry = MessageFactory(conversation=conversation, role="assistant", content=answer.content, parent=question)
    later, later_answer = turn(conversation, "And a lidar scan?", "A sweep of lidar distances.", parent=retry)

    page = search(user_client, "lidar")

    pattern = rf'href="/c/{conversation.id}/\?message=[0-9a-f-]+#message-([0-9a-f-]+)"'
    links = [uuid.UUID(link) for link in re.findall(pattern, page)]
    assert len(links) == 2, "one result per turn"
    assert len({question.id, answer.id, retry.id} & set(links)) == 1
    assert len({later.id, later_answer.id} & set(links)) == 1


def test_a_conversation_title_matches_too_and_links_to_the_conversation(user, user_client):
    conversation = ConversationFactory(user=user, title="Sourdough starter schedule")
    MessageFactory(conversation=conversation, role="user", content="How often do I feed it?")
    ConversationFactory(title="Someone else's sourdough")  # another user's

    page = search(user_client, "sourdough")

    assert f'<a href="/c/{conversation.id}/"><mark>Sourdough</mark> starter schedule</a>' in page
    assert "Someone else" not in page
    assert "Nothing matches" not in page


# --- Guests, the offline reply, the admin index, the favicon --------------------------------------------------------


def test_a_guest_is_offered_sign_up_instead_of_documents_and_keys(client):
    client.post(reverse("accounts:guest_start"))
    guest = User.objects.get(is_guest=True)
    conversation = ConversationFactory(user=guest, title="Guest chat")

    index = client.get(reverse("conversations:index")).content.decode()
    assert f'href="{reverse("account_signup")}"' in index.split('class="chat-empty"', 1)[1], "a sign-up prompt"
    assert "documents you upload" not in index
    assert f'href="{reverse("documents:list")}"' not in index and f'href="{reverse("accounts:keys")}"' not in index

    detail = client.get(reverse("conversations:detail", args=[conversation.id])).content.decode()
    assert "Answer from the shared documents" in detail and "Answer from my documents" not in detail

    settings_page = client.get(reverse("accounts:preferences")).content.decode()
    assert f'href="{reverse("accounts:keys")}"' not in settings_page
    assert f'href="{reverse("documents:list")}"' not in settings_page


def test_the_home_page_says_what_a_guest_can_and_cannot_do(client):
    page = client.get(reverse("home")).content.decode()
    assert "Try it as a guest" in page
    assert "uploading documents and using your own API key need an account" in page


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["user", "guest"])
def test_the_offline_reply_links_to_the_keys_page_or_for_a_guest_to_sign_up(live_client, kind):
    client = live_client(UserFactory() if kind == "user" else GuestFactory())
    assert client.post("/c/new/", {"content": "Hello?"}).status_code == 204
    conversation = Conversation.objects.get(user=client.user)
    stream = Stream.objects.get(conversation=conversation)

    events = list(client.events(reverse("conversations:stream_events", args=[stream.id])))

    reply = Message.objects.get(conversation=conversation, role="assistant")
    bubble = events[-1].data
    if kind == "user":
        assert f"[Settings → API keys]({reverse('accounts:keys')})" in reply.content
        assert re.search(rf'<a href="{reverse("accounts:keys")}"[^>]*>Settings → API keys</a>', bubble)
        assert "nothing in your documents" in reply.content
    else:
        assert f"[Sign up]({reverse('account_signup')})" in reply.content
        assert re.search(rf'<a href="{reverse("account_signup")}"[^>]*>Sign up</a>', bubble)
        assert "API keys" not in reply.content and "your documents" not in reply.content

    # The next reply's placeholder, while it starts: neither has documents, so none are said to be read.
    second = client.post(reverse("conversations:message_create", args=[conversation.id]), {"content": "More?"})
    assert second.status_code == 200
    pending = re.search(r'<p class="pending">.*?</p>', second.text, flags=re.S).group(0)
    assert "Thinking…" in pending and "documents" not in pending


def test_the_admin_index_has_one_accounts_section(admin_client):
    page = admin_client.get(reverse("admin:index")).content.decode()
    sections = re.findall(r'<a href="/admin/[a-z_]+/" class="section"[^>]*>([^<]+)</a>', page)
    assert sections.count("Accounts") == 1, sections
    assert "Users and settings" in sections
    assert len(sections) == len(set(sections)), sections


def test_the_favicon_is_served(client):
    page = client.get(reverse("home")).content.decode()
    assert re.search(r'<link rel="icon" href="/static/favicon\.svg" type="image/svg\+xml">', page)
    response = client.get("/favicon.ico", follow=True)
    assert response.status_code == 200
    assert response.redirect_chain and response.redirect_chain[-1][0].endswith("/static/favicon.svg")
    assert b"<svg" in b"".join(response.streaming_content if response.streaming else [response.content])


def test_a_search_result_on_another_branch_opens_that_branch(user, user_client):
    conversation = ConversationFactory(user=user, title="Robots")
    question, old_answer = turn(conversation, "What is a lidar?", "An old answer about lidar.")
    new_answer = MessageFactory(conversation=conversation, role="assistant", content="A newer reply.", parent=question)
    conversation.active_leaf = new_answer
    conversation.save(update_fields=["active_leaf"])
    assert f'id="message-{old_answer.id}"' not in user_client.get(f"/c/{conversation.id}/").content.decode()

    page = user_client.get(f"/c/{conversation.id}/", {"message": str(old_answer.id)}).content.decode()

    assert f'id="message-{old_answer.id}"' in page and f'id="message-{new_answer.id}"' not in page
    conversation.refresh_from_db()
    assert conversation.active_leaf_id == old_answer.id, "sending next continues the branch on screen"
    other = MessageFactory(role="user")  # another user's message id changes nothing
    assert user_client.get(f"/c/{conversation.id}/", {"message": str(other.id)}).status_code == 200
    conversation.refresh_from_db()
    assert conversation.active_leaf_id == old_answer.id
