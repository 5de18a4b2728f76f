"""Side-by-side answers (issue 14; Preferences.multi_model_enabled): one question, one reply per model (two or three),
each a sibling branch under the question with its own model and stream; Retry per answer; Continue with the one
chosen. The services, the composer's validation, the whole path through the live app and its fakes (each reply from
its own provider, usage per reply, one failing without the others), and the new URLs closed to other users."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.db import transaction
from django.urls import reverse

from accounts.models import Preferences, User
from accounts.services import SYSTEM, provider_key_save
from conversations import compare
from conversations.models import Conversation, Message, Stream, UsageLog
from conversations.services import BudgetExceeded, QuotaExceeded, conversation_create
from tests.factories import ConversationFactory, MessageFactory, StreamFactory, UserFactory


def with_keys(user: User, *providers: str) -> User:
    for provider in providers:
        provider_key_save(user=user, provider=provider, api_key=f"key-{provider}-0123456789-abcd", client=SYSTEM)
    return user


def comparing(user: User, *providers: str, enabled: bool = True) -> User:
    Preferences.objects.update_or_create(user=user, defaults={"multi_model_enabled": enabled})
    return with_keys(user, *providers)


@pytest.fixture
def no_operator_keys(settings, fake_openai, fake_gemini, fake_anthropic):
    return settings


def send(user: User, conversation: Conversation, models: list[str], content: str = "Hi") -> list:
    # In a savepoint, as the view's: compare_send takes none of its own, and a refusal must not spoil the test's.
    with transaction.atomic():
        return compare.compare_send(user=user, conversation_id=conversation.id, content=content, models=models)


def replies_of(question: Message) -> list[Message]:
    return list(Message.objects.filter(parent=question).order_by("created_at"))


# --- Services ----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_one_question_gets_one_streaming_reply_per_model_as_siblings(no_operator_keys):
    user = comparing(UserFactory(), "openai", "xai", "google")
    conversation = conversation_create(user=user, model="openai:gpt-4.1")
    generations = send(
        user, conversation, ["openai:gpt-4.1", "xai:grok-4", "google:gemini-3.8-flash"], content="Which is bigger?"
    )

    [question] = Message.objects.filter(conversation=conversation, role="user")
    assert all(generation.user_message == question for generation in generations)
    replies = replies_of(question)
    assert [(reply.provider, reply.model) for reply in replies] == [
        ("openai", "gpt-4.1"), ("xai", "grok-4"), ("google", "gemini-3.8-flash")
    ]  # fmt: skip
    assert all(reply.status == "streaming" and reply.metadata == {"compare": True} for reply in replies)
    assert [generation.assistant_message.id for generation in generations] == [reply.id for reply in replies]
    streams = Stream.objects.filter(conversation=conversation, status="active")
    assert sorted(stream.message_id for stream in streams) == sorted(reply.id for reply in replies), "one each"
    assert question.metadata == {"compare": {"replies": [str(reply.id) for reply in replies], "chosen": None}}
    conversation.refresh_from_db()
    assert conversation.active_leaf_id == replies[0].id, "the composer's model's answer is on screen first"
    assert (conversation.provider, conversation.model) == ("openai", "gpt-4.1")
    assert conversation.title == "Which is bigger?"
    user.refresh_from_db()
    assert user.daily_message_count == 3, "each reply counts against the daily quota"


@pytest.mark.django_db
def test_each_reply_is_asked_for_the_reasoning_effort_its_model_can_take(no_operator_keys):
    user = comparing(UserFactory(), "openai")
    conversation = conversation_create(user=user, model="openai:gpt-4.1")
    with transaction.atomic():
        compare.compare_send(
            user=user,
            conversation_id=conversation.id,
            content="Think hard",
            models=["openai:gpt-4.1", "openai:gpt-5.5"],  # the composer's model cannot reason, the other can
            reasoning_effort="high",
        )
    question = Message.objects.get(role="user")
    assert question.reasoning_effort == "high", "kept: one of the models takes it"
    assert [(reply.model, reply.reasoning_effort) for reply in replies_of(question)] == [
        ("gpt-4.1", ""), ("gpt-5.5", "high")
    ]  # fmt: skip
    Message.objects.filter(parent=question).update(status="failed")
    Stream.objects.update(status="failed")
    retried = compare.compare_retry(user=user, message=replies_of(question)[1]).assistant_message
    assert (retried.model, retried.reasoning_effort) == ("gpt-5.5", "high"), "a Retry asks as the question did"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("enabled", "models", "error"),
    [
        (False, ["openai:gpt-4.1", "xai:grok-4"], "Side-by-side answers are off"),
        (True, ["openai:gpt-4.1", "xai:grok-4", "openai:gpt-5.5", "xai:grok-3-mini"], "At most 3 models"),
        (True, ["openai:gpt-4.1", "openai:gpt-4.1"], "gpt-4.1 is picked twice"),
        (True, ["openai:gpt-4.1", "gpt-4.1"], "gpt-4.1 is picked twice"),  # a bare id names the same model
        (True, ["openai:gpt-4.1", "google:gemini-3.8-flash"], "That model is not available to you"),  # no key
        (True, ["openai:gpt-4.1", "nonsense"], "That model is not available to you"),
    ],
)
def test_refusals_save_nothing(no_operator_keys, enabled, models, error):
    user = comparing(UserFactory(), "openai", "xai", enabled=enabled)
    conversation = conversation_create(user=user, model="openai:gpt-4.1")
    with pytest.raises(ValueError, match=error):
        send(user, conversation, models)
    assert not Message.objects.exists() and not Stream.objects.exists()
    user.refresh_from_db()
    assert user.daily_message_count == 0


@pytest.mark.django_db
def test_the_quota_applies_per_reply(no_operator_keys, settings):
    user = comparing(UserFactory(), "openai", "xai")
    conversation = conversation_create(user=user, model="openai:gpt-4.1")
    from accounts.services import daily_message_limit
    from tests.test_chat_views import exhaust_quota

    exhaust_quota(user, daily_message_limit(user=user) - 1)  # room for one message, not two
    with pytest.raises(QuotaExceeded):
        send(user, conversation, ["openai:gpt-4.1", "xai:grok-4"])
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_the_budget_applies_to_each_model_paid_by_the_operator(no_operator_keys):
    from tests.factories import UsageLogFactory

    no_operator_keys.OPENAI_API_KEY = "operator-openai-key"
    user = comparing(UserFactory(monthly_budget=Decimal("1.00")), "xai")  # xAI on the user's own key
    UsageLogFactory(user=user, provider="openai", model="gpt-4.1", cost=Decimal("1.50"), own_key=False)
    conversation = conversation_create(user=user, model="xai:grok-4")
    with pytest.raises(BudgetExceeded):
        send(user, conversation, ["xai:grok-4", "openai:gpt-4.1"])
    assert not Message.objects.exists()
    # Both on models the budget does not cover (the user's key, the offline assistant): answered.
    send(user, conversation, ["xai:grok-4", "offline:offline"])
    assert Message.objects.filter(role="assistant").count() == 2


def open_group(user: User, *, statuses=("complete", "complete")):
    """A conversation whose last turn is side-by-side answers (one per status), none chosen yet."""
    conversation = ConversationFactory(user=user, provider="openai", model="gpt-4.1")
    question = MessageFactory(conversation=conversation, role="user", content="Compare these")
    models = [("openai", "gpt-4.1"), ("xai", "grok-4"), ("google", "gemini-3.8-flash")]
    replies = []
    for (provider, model), status in zip(models, statuses, strict=False):
        reply = MessageFactory(
            conversation=conversation, role="assistant", parent=question, content=f"Answer of {model}",
            provider=provider, model=model, status=status, metadata={"compare": True},
        )  # fmt: skip
        if status == "streaming":
            StreamFactory(conversation=conversation, message=reply)
        replies.append(reply)
    question.metadata = {"compare": {"replies": [str(reply.id) for reply in replies], "chosen": None}}
    question.save(update_fields=["metadata"])
    conversation.active_leaf = replies[0]
    conversation.save(update_fields=["active_leaf"])
    return conversation, question, replies


def columns_of(conversation: Conversation):
    from conversations.selectors import conversation_thread

    messages = list(Message.objects.filter(conversation=conversation).order_by("created_at", "id"))
    conversation.refresh_from_db()
    thread = conversation_thread(conversation=conversation, messages=messages)
    turn = compare.compare_turn(thread=thread, messages=messages)
    return [item.message.id for item in turn.columns] if turn else None


@pytest.mark.django_db
def test_continue_with_an_answer_puts_its_branch_on_screen_and_stops_the_others_still_streaming(user):
    conversation, question, (first, second, third) = open_group(user, statuses=("complete", "complete", "streaming"))
    assert columns_of(conversation) == [first.id, second.id, third.id]

    to_stop = compare.compare_continue(user=user, message=second)
    assert to_stop == [Stream.objects.get(message=third).id]
    conversation.refresh_from_db()
    assert conversation.active_leaf_id == second.id
    question.refresh_from_db()
    assert question.metadata["compare"]["chosen"] == str(second.id)
    assert columns_of(conversation) is None, "chosen: the branch on screen is shown as any other"
    assert Message.objects.filter(parent=question).count() == 3, "the others stay, behind the arrows"


@pytest.mark.django_db
@pytest.mark.parametrize(("status", "error"), [("streaming", "Wait for this answer"), ("failed", "This answer failed")])
def test_continue_is_refused_with_an_answer_not_finished_or_failed(user, status, error):
    conversation, _, (first, second) = open_group(user, statuses=("complete", status))
    with pytest.raises(ValueError, match=error):
        compare.compare_continue(user=user, message=second)
    conversation.refresh_from_db()
    assert conversation.active_leaf_id == first.id


@pytest.mark.django_db
def test_the_columns_close_once_the_conversation_goes_on_from_one_answer(user):
    conversation, _, (first, second) = open_group(user)
    follow_up = MessageFactory(conversation=conversation, role="user", parent=first, content="And then?")
    conversation.active_leaf = follow_up
    conversation.save(update_fields=["active_leaf"])
    assert columns_of(conversation) is None
    conversation.active_leaf = second  # back with the arrows to the other answer
    conversation.save(update_fields=["active_leaf"])
    assert columns_of(conversation) is None, "one was continued: the group is decided"


@pytest.mark.django_db
def test_retry_replaces_that_answer_with_a_new_one_from_the_same_model(no_operator_keys):
    user = with_keys(UserFactory(), "openai", "xai")
    conversation, question, (first, second) = open_group(user, statuses=("streaming", "failed"))
    generation = compare.compare_retry(user=user, message=second)
    retried = generation.assistant_message
    assert (retried.provider, retried.model, retried.parent_id) == ("xai", "grok-4", question.id)
    assert retried.status == "streaming" and Stream.objects.get(message=retried).status == "active"
    question.refresh_from_db()
    assert question.metadata["compare"]["replies"] == [str(first.id), str(retried.id)]
    assert columns_of(conversation) == [first.id, retried.id], "while the first answer still streams"
    assert Message.objects.filter(id=second.id).exists(), "the failed answer stays a sibling"
    with pytest.raises(ValueError, match="no longer one of the answers"):
        compare.compare_retry(user=user, message=second)


# --- Views ---------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_composer_offers_compare_with_only_when_the_preference_is_on(user, user_client, no_operator_keys):
    with_keys(user, "openai", "xai")
    page = user_client.get(reverse("conversations:index")).content.decode()
    assert "Compare with…" not in page and 'name="compare_model"' not in page
    Preferences.objects.update_or_create(user=user, defaults={"multi_model_enabled": True})
    page = user_client.get(reverse("conversations:index")).content.decode()
    assert "<summary>Compare with…</summary>" in page
    selects = re.findall(r'<select id="(compare-model-\d)" name="compare_model"', page)
    assert selects == ["compare-model-2", "compare-model-3"], "up to two more models, each a labelled select"
    assert '<label for="compare-model-2">Second model</label>' in page
    assert '<option value="xai:grok-4">' in page.split('id="compare-model-2"', 1)[1]


def test_with_only_the_offline_assistant_there_is_nothing_to_compare(user, user_client, no_operator_keys):
    """The preference is on, but one model cannot answer side by side with itself: no picker."""
    Preferences.objects.update_or_create(user=user, defaults={"multi_model_enabled": True})
    page = user_client.get(reverse("conversations:index")).content.decode()
    assert "Compare with…" not in page and 'name="compare_model"' not in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("enabled", "extras", "error"),
    [
        (False, ["xai:grok-4"], "Side-by-side answers are off"),
        (True, ["xai:grok-4", "openai:gpt-5.5", "xai:grok-3-mini"], "At most 3 models"),
        (True, ["openai:gpt-4.1"], "gpt-4.1 is picked twice"),
        (True, ["google:gemini-3.8-flash"], "That model is not available to you"),
    ],
)
def test_a_refused_comparison_says_why_in_the_composer_and_saves_nothing(
    user, user_client, no_operator_keys, enabled, extras, error
):
    comparing(user, "openai", "xai", enabled=enabled)
    conversation = conversation_create(user=user, model="openai:gpt-4.1")
    for url in (reverse("conversations:message_create", args=[conversation.id]), reverse("conversations:new")):
        response = user_client.post(
            url, {"content": "Hello", "model": "openai:gpt-4.1", "compare_model": extras}, HTTP_HX_REQUEST="true"
        )
        assert response.status_code == 400
        assert response["HX-Retarget"] == "#composer-error"
        assert error in response.content.decode()
    assert not Message.objects.exists()
    assert Conversation.objects.count() == 1, "a refused first message leaves no empty conversation"


@pytest.mark.django_db
def test_empty_compare_picks_are_an_ordinary_message(user, user_client, no_operator_keys, monkeypatch):
    """ "None" in both selects: one reply, on the ordinary path, even with the preference off."""
    from conversations import views

    monkeypatch.setattr(views, "start_generation", lambda *args, **kwargs: None)
    with_keys(user, "openai")
    conversation = conversation_create(user=user, model="openai:gpt-4.1")
    response = user_client.post(
        reverse("conversations:message_create", args=[conversation.id]),
        {"content": "Hello", "model": "openai:gpt-4.1", "compare_model": ["", ""]},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert Message.objects.filter(role="assistant").count() == 1
    assert "compare" not in Message.objects.get(role="user").metadata


@pytest.mark.slow
def test_two_models_answer_one_question_through_their_own_providers_with_usage_each(live_client, fake_openai):
    user = comparing(UserFactory(), "openai", "xai")
    client = live_client(user)
    conversation = conversation_create(user=user, model="openai:gpt-4.1")
    response = client.post(
        f"/c/{conversation.id}/messages/",
        {"content": "Name a colour", "model": "openai:gpt-4.1", "compare_model": ["xai:grok-4", ""]},
    )
    assert response.status_code == 200, response.text
    fragment = response.text
    question = Message.objects.get(conversation=conversation, role="user")
    replies = replies_of(question)
    assert len(replies) == 2
    assert 'class="compare"' in fragment and fragment.count('class="compare-column"') == 2
    for reply in replies:
        stream = Stream.objects.get(message=reply)
        assert f'sse-connect="/c/streams/{stream.id}/events/?t=' in fragment
        events = list(client.events(f"/c/streams/{stream.id}/events/"))
        assert events[-1].event == "done"
        assert "Continue with this answer" in events[-1].data
        assert "branch-nav" not in events[-1].data, "in its column, without arrows"
    assert sorted(request["path"] for request in fake_openai.requests) == [
        "/openai/v1/chat/completions", "/xai/v1/chat/completions"
    ]  # fmt: skip
    assert {request["body"]["model"] for request in fake_openai.requests} == {"gpt-4.1", "grok-4"}
    for reply in replies:
        reply.refresh_from_db()
        assert reply.status == "complete" and reply.content == "You said: Name a colour"
    logs = UsageLog.objects.filter(conversation=conversation, message__isnull=False).order_by("model")
    assert [(log.provider, log.model, log.message_id) for log in logs] == [
        ("openai", "gpt-4.1", replies[0].id), ("xai", "grok-4", replies[1].id)
    ]  # fmt: skip
    assert all(log.own_key and log.cost is not None for log in logs)

    # Reloaded: the columns again, each labelled with its model; then Continue with the second one.
    page = client.get(f"/c/{conversation.id}/").text
    assert 'aria-label="Answer from grok-4 (xAI)"' in page and 'aria-label="Answer from gpt-4.1 (OpenAI)"' in page
    response = client.post(f"/c/{conversation.id}/messages/{replies[1].id}/compare/continue/")
    assert response.status_code == 200
    assert 'class="compare"' not in response.text and "You said: Name a colour" in response.text
    assert '<span class="branch-position">2/2</span>' in response.text
    conversation.refresh_from_db()
    assert conversation.active_leaf_id == replies[1].id

    response = client.post(f"/c/{conversation.id}/messages/", {"content": "And another?", "model": "openai:gpt-4.1"})
    assert response.status_code == 200
    follow_up = Message.objects.get(conversation=conversation, content="And another?")
    assert follow_up.parent_id == replies[1].id, "the conversation goes on from the answer chosen"
    list(client.events(f"/c/streams/{Stream.objects.latest('created_at').id}/events/"))


@pytest.mark.slow
def test_one_model_failing_leaves_the_other_answering_and_retry_is_per_answer(live_client, fake_openai, fake_gemini):
    user = comparing(UserFactory(), "openai", "google")
    client = live_client(user)
    fake_openai.behaviour.fail = "500"
    response = client.post(
        "/c/new/",
        {"content": "Tell me a fact", "model": "google:gemini-3.8-flash", "compare_model": ["openai:gpt-4.1"]},
    )
    assert response.status_code == 204 and response.headers["HX-Redirect"].startswith("/c/")
    conversation = Conversation.objects.get(user=user)
    question = Message.objects.get(conversation=conversation, role="user")
    for reply in replies_of(question):
        list(client.events(f"/c/streams/{Stream.objects.get(message=reply).id}/events/"))
    gemini, openai = replies_of(question)
    assert (gemini.model, gemini.status, gemini.content) == ("gemini-3.8-flash", "complete", "You said: Tell me a fact")
    assert (openai.model, openai.status) == ("gpt-4.1", "failed")
    assert len(fake_gemini.title_requests) == 1 and not fake_openai.title_requests, "one title, by the first"

    page = client.get(f"/c/{conversation.id}/").text
    assert page.count('class="compare-column"') == 2 and "The reply could not be completed." in page
    fake_openai.behaviour.fail = None
    response = client.post(f"/c/{conversation.id}/messages/{openai.id}/compare/retry/")
    assert response.status_code == 200, response.text
    retried = Message.objects.filter(parent=question).latest("created_at")
    assert (retried.provider, retried.model) == ("openai", "gpt-4.1")
    assert f'id="message-{retried.id}"' in response.text and "data-streaming" in response.text
    assert "compare-column" not in response.text, "only the bubble, swapped in place of the failed one"
    list(client.events(f"/c/streams/{Stream.objects.get(message=retried).id}/events/"))
    retried.refresh_from_db()
    assert retried.status == "complete"
    gemini.refresh_from_db()
    assert gemini.status == "complete", "the other answer is untouched"


# --- Another user's conversation: 404, nothing changed -------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["compare_retry", "compare_continue"])
def test_another_users_answers_are_a_404_and_nothing_changes(client, no_operator_keys, action):
    owner = with_keys(UserFactory(), "openai", "xai")
    conversation, _, (first, second) = open_group(owner, statuses=("complete", "failed"))
    intruder = with_keys(UserFactory(), "openai", "xai")
    client.force_login(intruder)
    before = list(Message.objects.values_list("id", "status", "metadata").order_by("id"))
    response = client.post(reverse(f"conversations:{action}", args=[conversation.id, second.id]))
    assert response.status_code == 404
    other = ConversationFactory(user=intruder)  # the intruder's own conversation id with the owner's message
    response = client.post(reverse(f"conversations:{action}", args=[other.id, second.id]))
    assert response.status_code == 404
    assert list(Message.objects.values_list("id", "status", "metadata").order_by("id")) == before
    conversation.refresh_from_db()
    assert conversation.active_leaf_id == first.id
    assert not Stream.objects.exists()
    intruder.refresh_from_db()
    assert intruder.daily_message_count == 0


@pytest.mark.django_db
def test_someone_elses_conversation_cannot_be_sent_side_by_side_answers(client, no_operator_keys):
    owner = UserFactory()
    conversation = ConversationFactory(user=owner)
    intruder = comparing(UserFactory(), "openai", "xai")
    client.force_login(intruder)
    response = client.post(
        reverse("conversations:message_create", args=[conversation.id]),
        {"content": "Hi", "model": "openai:gpt-4.1", "compare_model": ["xai:grok-4"]},
    )
    assert response.status_code == 404
    assert not Message.objects.exists()


def test_signed_out_visitors_are_sent_to_sign_in(client, db):
    import uuid

    for action in ("compare_retry", "compare_continue"):
        response = client.post(reverse(f"conversations:{action}", args=[uuid.uuid4(), uuid.uuid4()]))
        assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))
