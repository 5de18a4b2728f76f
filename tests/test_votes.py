"""Votes on replies (thumbs up / down, a thumbs down's rating and comment), the "Send feedback" form, and the
admin's satisfaction dashboard."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import Feedback
from conversations import votes
from conversations.models import Message, Vote
from tests.factories import ConversationFactory, FeedbackFactory, MessageFactory, UserFactory, VoteFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def reply(user):
    conversation = ConversationFactory(user=user)
    question = MessageFactory(conversation=conversation, role="user", content="What is pgvector?")
    return MessageFactory(
        conversation=conversation, parent=question, role="assistant", content="An extension.", model="claude-x",
        provider="anthropic",
    )  # fmt: skip


def vote_url(message: Message, name: str = "conversations:vote") -> str:
    return reverse(name, args=[message.conversation_id, message.id])


# --- Services ------------------------------------------------------------------------------------------------


def test_a_thumb_is_toggled_and_changeable_one_row_per_user_and_message(user, reply):
    vote = votes.vote_toggle(user=user, message=reply, up=True)
    assert vote.is_upvoted is True
    assert votes.vote_toggle(user=user, message=reply, up=False).is_upvoted is False
    assert Vote.objects.filter(message=reply).count() == 1
    assert votes.vote_toggle(user=user, message=reply, up=False) is None  # the same thumb again takes it back
    assert not Vote.objects.filter(message=reply).exists()


def test_a_thumbs_up_drops_what_the_thumbs_down_said_was_wrong(user, reply):
    votes.vote_feedback(user=user, message=reply, rating="2", comment="It made up a function.")
    vote = votes.vote_toggle(user=user, message=reply, up=True)
    assert (vote.is_upvoted, vote.rating, vote.comment) == (True, None, "")


def test_feedback_is_a_thumbs_down_with_a_rating_and_a_cleaned_comment(user, reply):
    vote = votes.vote_feedback(user=user, message=reply, rating=1, comment="  wrong\x00 answer\r\n ")
    vote.refresh_from_db()
    assert (vote.is_upvoted, vote.rating, vote.comment) == (False, 1, "wrong answer")
    assert votes.vote_feedback(user=user, message=reply, rating="", comment="").rating is None


@pytest.mark.parametrize("rating", ["0", "6", "-1", "five", "3.5", "1e9", ["2"]])
def test_a_rating_outside_one_to_five_is_refused_and_nothing_saved(user, reply, rating):
    with pytest.raises(votes.VoteRefused, match="1 to 5"):
        votes.vote_feedback(user=user, message=reply, rating=rating, comment="")
    assert not Vote.objects.exists()


def test_an_over_long_comment_is_refused_not_cut(user, reply):
    with pytest.raises(votes.VoteRefused, match="too long"):
        votes.vote_feedback(user=user, message=reply, rating=None, comment="x" * (votes.MAX_COMMENT_LENGTH + 1))
    assert not Vote.objects.exists()


def test_a_reply_still_streaming_or_a_question_cannot_be_voted_on(user, reply):
    reply.status = Message.Status.STREAMING
    with pytest.raises(votes.VoteRefused, match="finish"):
        votes.vote_toggle(user=user, message=reply, up=True)
    with pytest.raises(votes.VoteRefused):
        votes.vote_toggle(user=user, message=reply.parent, up=True)


# --- Views -------------------------------------------------------------------------------------------------------


def test_the_chat_page_shows_the_thumbs_on_replies_with_the_vote_pressed(user_client, user, reply):
    VoteFactory(message=reply, user=user, is_upvoted=False, rating=2, comment="Too vague")
    page = user_client.get(reverse("conversations:detail", args=[reply.conversation_id])).content.decode()
    assert f'id="vote-{reply.id}"' in page
    assert f'id="vote-{reply.parent_id}"' not in page  # not on the user's own message
    assert 'value="down" aria-pressed="true"' in page
    assert "Your feedback: 2/5" in page
    assert "Too vague" in page


def test_voting_with_htmx_answers_the_controls_with_the_rating_form_open(user_client, reply):
    response = user_client.post(vote_url(reply), {"vote": "down"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith("<div") or '<div class="vote"' in body
    assert 'value="down" aria-pressed="true"' in body
    assert f'<details class="vote-feedback" id="vote-feedback-{reply.id}" open>' in body
    assert 'type="radio"' in body and "<legend>" in body
    response = user_client.post(vote_url(reply), {"vote": "up"}, headers={"HX-Request": "true"})
    assert 'value="up" aria-pressed="true"' in response.content.decode()
    assert "vote-feedback" not in response.content.decode()


def test_without_javascript_a_vote_and_its_feedback_post_and_come_back_to_the_reply(user_client, user, reply):
    response = user_client.post(vote_url(reply), {"vote": "down"})
    detail = reverse("conversations:detail", args=[reply.conversation_id])
    assert response.status_code == 302 and response.url == f"{detail}#message-{reply.id}"
    response = user_client.post(
        vote_url(reply, "conversations:vote_feedback"), {"rating": "2", "comment": "Cited the wrong page."}
    )
    assert response.status_code == 302
    vote = Vote.objects.get(message=reply, user=user)
    assert (vote.is_upvoted, vote.rating, vote.comment) == (False, 2, "Cited the wrong page.")


def test_refused_feedback_says_why_in_the_forms_error_slot_and_saves_nothing(user_client, reply):
    response = user_client.post(
        vote_url(reply, "conversations:vote_feedback"), {"rating": "9"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 400
    assert "1 to 5" in response.content.decode()
    assert not Vote.objects.exists()
    response = user_client.post(vote_url(reply), {"vote": "sideways"}, headers={"HX-Request": "true"})
    assert response.status_code == 400 and not Vote.objects.exists()


def test_the_vote_urls_need_csrf(user, reply):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post(vote_url(reply), {"vote": "up"}).status_code == 403
    assert client.post(vote_url(reply, "conversations:vote_feedback"), {"rating": "1"}).status_code == 403
    assert not Vote.objects.exists()


@pytest.mark.parametrize("name", ["conversations:vote", "conversations:vote_feedback"])
def test_another_users_reply_is_a_404_and_nothing_is_saved(client, reply, name):
    client.force_login(UserFactory())
    response = client.post(vote_url(reply, name), {"vote": "down", "rating": "1", "comment": "mine now"})
    assert response.status_code == 404
    assert not Vote.objects.exists()


@pytest.mark.parametrize("name", ["conversations:vote", "conversations:vote_feedback"])
def test_a_reply_named_under_another_conversation_is_a_404(user_client, user, reply, name):
    other = ConversationFactory(user=user)
    response = user_client.post(reverse(name, args=[other.id, reply.id]), {"vote": "up"})
    assert response.status_code == 404


@pytest.mark.parametrize("name", ["conversations:vote", "conversations:vote_feedback"])
def test_signed_out_visitors_are_sent_to_sign_in(client, reply, name):
    response = client.post(vote_url(reply, name), {"vote": "up"})
    assert response.status_code == 302 and "/login" in response.url
    assert not Vote.objects.exists()


# --- General feedback --------------------------------------------------------------------------------------------


def test_feedback_is_recorded_with_the_page_it_came_from(user_client, user, reply):
    detail = reverse("conversations:detail", args=[reply.conversation_id])
    page = user_client.get(reverse("accounts:feedback"), {"from": detail})
    assert page.status_code == 200 and f'value="{detail}"' in page.content.decode()
    response = user_client.post(reverse("accounts:feedback"), {"message": "Love it\x00", "page": detail})
    assert response.status_code == 302 and response.url == detail
    feedback = Feedback.objects.get(user=user)
    assert (feedback.message, feedback.page) == ("Love it", detail)


def test_the_header_links_to_feedback_from_every_page(user_client):
    page = user_client.get(reverse("accounts:preferences")).content.decode()
    assert f'href="{reverse("accounts:feedback")}?from=/settings/"' in page


def test_the_feedback_pages_own_header_link_does_not_nest_where_it_came_from(user_client):
    # Each visit used to wrap the current address in another from=, an endless chain of new URLs for a crawler.
    url = f"{reverse('accounts:feedback')}?from=/settings/"
    page = user_client.get(url).content.decode()
    assert f'href="{url}" aria-current="page"' in page
    assert "from%3D" not in page and "from=/feedback/" not in page


@pytest.mark.parametrize(
    "page", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)", "/\\evil.example", "x" * 600]
)
def test_a_page_that_is_not_on_this_site_is_neither_recorded_nor_followed(user_client, user, page):
    form = user_client.get(reverse("accounts:feedback"), {"from": page}).content.decode()
    assert '<input type="hidden" name="page" value="">' in form
    assert "Sent with the page" not in form and "Cancel" not in form
    response = user_client.post(reverse("accounts:feedback"), {"message": "hello", "page": page})
    assert response.status_code == 302 and response.url == reverse("conversations:index")
    assert Feedback.objects.get(user=user).page == ""


@pytest.mark.parametrize("message", ["", "   ", "\u200b\u200b", "x" * 5_001])
def test_empty_or_over_long_feedback_is_refused(user_client, message):
    response = user_client.post(reverse("accounts:feedback"), {"message": message})
    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode()
    assert not Feedback.objects.exists()


def test_feedback_is_rate_limited(user_client, user):
    from django.core.cache import cache

    cache.delete_many([key for key in [] if key])  # the limiter's window is per user: a fresh user each test
    for _ in range(5):
        assert user_client.post(reverse("accounts:feedback"), {"message": "again"}).status_code == 302
    response = user_client.post(reverse("accounts:feedback"), {"message": "and again"})
    assert response.status_code == 429
    assert "try again in" in response.content.decode()
    assert Feedback.objects.filter(user=user).count() == 5


def test_feedback_needs_a_signed_in_user_and_csrf(client, user):
    from django.test import Client

    assert client.post(reverse("accounts:feedback"), {"message": "hi"}).status_code == 302
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    assert strict.post(reverse("accounts:feedback"), {"message": "hi"}).status_code == 403
    assert not Feedback.objects.exists()


# --- The admin ----------------------------------------------------------------------------------------------------


def test_the_admin_dashboard_shows_satisfaction_per_model_and_day_and_the_worst_replies(admin_client, reply):
    VoteFactory(message=reply, user=reply.conversation.user, is_upvoted=False, rating=1, comment="Wrong <b>x</b>")
    other = MessageFactory(conversation=reply.conversation, role="assistant", model="gpt-x", provider="openai")
    VoteFactory(message=other, user=reply.conversation.user, is_upvoted=True, rating=None)
    page = admin_client.get(reverse("admin:conversations_votedashboard_changelist"))
    assert page.status_code == 200
    body = page.content.decode()
    assert "50%" in body  # one up, one down
    assert "claude-x" in body and "gpt-x" in body
    assert reverse("conversations:detail", args=[reply.conversation_id]) not in body  # staff see it in the admin
    assert reverse("admin:conversations_conversation_change", args=[reply.conversation_id]) in body
    assert "Wrong &lt;b&gt;x&lt;/b&gt;" in body


def test_the_dashboard_is_for_staff_with_its_permission_only(client):
    staff = UserFactory(is_staff=True)
    client.force_login(staff)
    assert client.get(reverse("admin:conversations_votedashboard_changelist")).status_code == 403


def test_feedback_in_the_admin_is_read_only(admin_client):
    feedback = FeedbackFactory(message="Please add dark mode", page="/c/")
    listing = admin_client.get(reverse("admin:accounts_feedback_changelist")).content.decode()
    assert "Please add dark mode" in listing and "/c/" in listing
    change = admin_client.post(
        reverse("admin:accounts_feedback_change", args=[feedback.id]), {"message": "edited", "page": "/"}
    )
    assert change.status_code == 403
    feedback.refresh_from_db()
    assert feedback.message == "Please add dark mode"
    vote = VoteFactory(comment="theirs")
    admin_client.post(reverse("admin:conversations_vote_change", args=[vote.id]), {"comment": "changed"})
    vote.refresh_from_db()
    assert vote.comment == "theirs"


def test_a_bubble_rendered_for_the_event_stream_carries_no_token_and_warns_of_none(settings):
    """The done event's bubble has no request: its forms post through htmx, whose header carries the token, and
    Django's {% csrf_token %} neither writes a hidden field nor warns (it did, for every reply, in development)."""
    import warnings

    from conversations.generation import render_reply

    settings.DEBUG = True
    question = MessageFactory(role="user", content="Hi")
    reply = MessageFactory(conversation=question.conversation, parent=question, role="assistant", content="Hello.")
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*csrf_token.*")
        html = render_reply(reply)
    assert 'class="vote-thumbs"' in html and "csrfmiddlewaretoken" not in html
