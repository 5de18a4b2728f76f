"""Search (issue 16): ranked full text plus titles, filtered by a period, a role and a project; results as text with
the matched words marked, one per turn, each linking to its message; archived chats found and marked; another
user's project or chats never leak."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import ConversationFactory, MessageFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


def search(client, **params) -> str:
    response = client.get(reverse("conversations:search"), params)
    assert response.status_code == 200
    return response.content.decode()


def message_hits(page: str) -> list[str]:
    """The message ids the Messages results link to."""
    return re.findall(r"\?message=([0-9a-f-]+)#message-\1", page)


def at(days_ago: int) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=days_ago)


@pytest.fixture
def corpus(user):
    work = ProjectFactory(user=user, name="Work")
    old = ConversationFactory(user=user, title="Glacier trip", updated_at=at(40))
    old_question = MessageFactory(conversation=old, content="Tell me about glaciers", created_at=at(40))
    old_reply = MessageFactory(
        conversation=old, role="assistant", parent=old_question, created_at=at(40),
        content="## Glaciers\n\n**Glaciers** move slowly, see [here](https://example.com).",
    )  # fmt: skip
    new = ConversationFactory(user=user, title="Work notes", project=work, updated_at=at(1))
    new_question = MessageFactory(conversation=new, content="Any glacier facts for the slides?", created_at=at(1))
    ConversationFactory(title="Other's glacier", user=UserFactory())
    MessageFactory(conversation=ConversationFactory(user=UserFactory()), content="Their glacier secret")
    return {"work": work, "old_question": old_question, "old_reply": old_reply, "new_question": new_question}


def test_no_filter_finds_titles_and_one_result_per_turn_as_marked_text(user_client, corpus):
    page = search(user_client, q="glacier")
    assert "Glacier trip" in page and "Other's glacier" not in page and "Their glacier secret" not in page
    hits = message_hits(page)
    assert str(corpus["new_question"].id) in hits
    assert len({str(corpus["old_question"].id), str(corpus["old_reply"].id)} & set(hits)) == 1, "one per turn"
    assert "<mark>Glaciers</mark> move slowly" in page or "<mark>glaciers</mark>" in page
    assert "**" not in page and "## " not in page and "](https" not in page


def test_a_period_keeps_the_messages_and_chats_in_it(user_client, corpus):
    today = timezone.localdate()
    page = search(user_client, q="glacier", **{"from": str(today - dt.timedelta(days=7)), "to": str(today)})
    assert message_hits(page) == [str(corpus["new_question"].id)]
    assert "Glacier trip" not in page, "its title matched, but it was last active before the period"
    page = search(user_client, q="glacier", to=str(today - dt.timedelta(days=30)))
    assert str(corpus["new_question"].id) not in message_hits(page) and message_hits(page)
    # The two days the wrong way round: the period between them.
    page = search(user_client, q="glacier", **{"from": str(today), "to": str(today - dt.timedelta(days=7))})
    assert message_hits(page) == [str(corpus["new_question"].id)]


def test_a_role_keeps_that_sides_messages_and_leaves_titles_out(user_client, corpus):
    page = search(user_client, q="glacier", role="assistant")
    assert message_hits(page) == [str(corpus["old_reply"].id)]
    assert 'class="search-heading">Conversations' not in page
    page = search(user_client, q="glacier", role="user")
    assert set(message_hits(page)) == {str(corpus["old_question"].id), str(corpus["new_question"].id)}


def test_a_project_keeps_its_chats_and_the_menu_lists_only_the_users_projects(user_client, corpus):
    ProjectFactory(name="Someone else's project")
    page = search(user_client, q="glacier", project=str(corpus["work"].id))
    assert message_hits(page) == [str(corpus["new_question"].id)] and "Glacier trip" not in page
    assert f'<option value="{corpus["work"].id}" selected>Work</option>' in page
    assert "Someone else" not in page


def test_unusable_filter_values_are_dropped_not_errors(user_client, corpus):
    other_project = ProjectFactory(user=UserFactory(), name="Theirs")
    MessageFactory(conversation=ConversationFactory(user=other_project.user, project=other_project), content="glacier")
    everything = set(message_hits(search(user_client, q="glacier")))
    for params in ({"from": "yesterday"}, {"to": "2026-13-45"}, {"role": "system"}, {"project": "nope"},
                   {"project": str(other_project.id)}):  # fmt: skip
        page = search(user_client, q="glacier", **params)
        assert set(message_hits(page)) == everything, params
        assert "Theirs" not in page


def test_archived_chats_are_found_and_marked(user, user_client):
    chat = ConversationFactory(user=user, title="Penguin colony", archived_at=at(1))
    MessageFactory(conversation=chat, content="penguins huddle together")
    page = search(user_client, q="penguin")
    assert page.count('<span class="badge">Archived</span>') == 2


def test_filters_show_open_when_set(user_client, corpus):
    assert '<details class="search-filters">' in search(user_client, q="glacier")
    page = search(user_client, q="glacier", role="user")
    assert '<details class="search-filters" open>' in page and "Filters (on)" in page
    assert '<option value="user" selected>You</option>' in page
    assert "with these filters" in search(user_client, q="zebra", role="user")


def test_the_result_links_open_the_branch_holding_the_message(user, user_client, corpus):
    page = search(user_client, q="glacier", role="assistant")
    [link] = re.findall(r'href="([^"]+#message-[0-9a-f-]+)"', page)
    detail = user_client.get(html.unescape(link).split("#")[0])
    assert detail.status_code == 200
    assert f'id="message-{corpus["old_reply"].id}"' in detail.content.decode()


def test_a_question_is_found_by_its_own_words_even_when_its_reply_repeats_them_more(user, user_client):
    chat = ConversationFactory(user=user, title="Houseplants")
    question = MessageFactory(conversation=chat, content="How often should I water a fern?")
    reply = MessageFactory(
        conversation=chat, role="assistant", parent=question,
        content="> Water a fern weekly. [1]\n\n> A fern in a pot dries faster; water the fern when dry. [2]",
    )  # fmt: skip
    MessageFactory(conversation=ConversationFactory(user=UserFactory()), content="How often should I water a fern?")

    # The reply matched better and stood for the turn: the question was found only through it, as "Assistant".
    page = search(user_client, q="water fern")
    assert message_hits(page) == [str(question.id)]
    assert "· You," in page and str(reply.id) not in page
    # Its reply is still found by words only it has, and by the role filter.
    assert message_hits(search(user_client, q="weekly")) == [str(reply.id)]
    assert message_hits(search(user_client, q="water fern", role="assistant")) == [str(reply.id)]
