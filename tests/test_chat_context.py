"""Fitting the branch on screen into the context window: which turns the model sees, and the record of the rest."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from conversations.models import ContextOptimization, Message
from conversations.prompting import REPLY_TOKEN_RESERVE, estimate_tokens, fit_history
from tests.factories import ConversationFactory, MessageFactory, UserFactory

WINDOW = 2400  # leaves a prompt budget of 2400 - 2048 - estimate_tokens("") = 348 tokens


def turn(role: str, content: str, status: str = Message.Status.COMPLETE) -> Message:
    return Message(role=role, content=content, status=status)


def user(content: str) -> Message:
    return turn(Message.Role.USER, content)


def assistant(content: str, status: str = Message.Status.COMPLETE) -> Message:
    return turn(Message.Role.ASSISTANT, content, status)


def long_text(label: str, length: int = 400) -> str:
    return (label + " " + "lorem ipsum dolor sit amet " * (length // 27 + 1))[:length]


def roles_and_contents(fitted) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in fitted.messages]


def test_the_budget_is_what_the_window_leaves_after_the_reply_and_the_system_prompt():
    assert WINDOW - REPLY_TOKEN_RESERVE - estimate_tokens("") == 348
    assert estimate_tokens(long_text("x")) == 104


def test_a_short_history_is_sent_whole():
    history = [user("Hi"), assistant("Hello!"), user("How are you?")]
    fitted = fit_history(history=history, system="Be kind.", context_window=8192)
    assert roles_and_contents(fitted) == [("user", "Hi"), ("assistant", "Hello!"), ("user", "How are you?")]
    assert fitted.left_out == []
    assert fitted.tokens_before == fitted.tokens_after == sum(estimate_tokens(m.content) for m in history)


def test_an_empty_history_gives_an_empty_prompt():
    fitted = fit_history(history=[], system="", context_window=WINDOW)
    assert (fitted.messages, fitted.left_out, fitted.tokens_before, fitted.tokens_after) == ([], [], 0, 0)


def test_the_newest_turns_are_kept_and_a_leading_assistant_turn_is_dropped():
    u1, a1, u2, a2, u3, a3 = (
        user(long_text("u1")), assistant(long_text("a1")), user(long_text("u2")),
        assistant(long_text("a2")), user(long_text("u3")), assistant(long_text("a3")),
    )  # fmt: skip
    latest = user("Latest question")
    history = [u1, a1, u2, a2, u3, a3, latest]
    fitted = fit_history(history=history, system="", context_window=WINDOW)
    # From the newest: latest (7) + a3 + u3 + a2 (104 each) = 319 fit in 348; u2 would not. a2 would then open
    # the prompt, but the Messages API wants a user turn first: it is dropped too.
    assert roles_and_contents(fitted) == [("user", u3.content), ("assistant", a3.content), ("user", "Latest question")]
    assert fitted.left_out == [u1.id, a1.id, u2.id, a2.id]
    assert fitted.tokens_before == 6 * 104 + estimate_tokens("Latest question") == 631
    assert fitted.tokens_after == 2 * 104 + estimate_tokens("Latest question") == 215
    assert fitted.tokens_after <= WINDOW - REPLY_TOKEN_RESERVE


def test_the_last_user_message_is_kept_even_alone_over_budget():
    huge = user("x" * 10_000)
    history = [user("Earlier"), assistant("Earlier answer"), huge]
    fitted = fit_history(history=history, system="", context_window=WINDOW)
    assert roles_and_contents(fitted) == [("user", huge.content)]
    assert fitted.left_out == [history[0].id, history[1].id]
    assert fitted.tokens_after == estimate_tokens(huge.content) == 2504 > 348


def test_a_huge_system_prompt_still_leaves_a_minimum_budget():
    history = [user(long_text("u1")), assistant(long_text("a1")), user("Now?")]
    fitted = fit_history(history=history, system="s" * 8000, context_window=WINDOW)
    # 2400 - 2048 - 2004 is negative: the floor of 256 tokens keeps the last turns that fit in it.
    assert roles_and_contents(fitted) == [("user", history[0].content), ("assistant", history[1].content),
                                          ("user", "Now?")]  # fmt: skip
    oldest = user(long_text("u0", 800))
    tighter = fit_history(history=[oldest, *history], system="s" * 8000, context_window=WINDOW)
    assert tighter.left_out == [oldest.id], "213 tokens fit in 256; another 204 would not"
    assert tighter.tokens_after == 2 * 104 + estimate_tokens("Now?")


def test_consecutive_turns_of_the_same_role_are_merged():
    history = [user("First"), user("Second"), assistant("Answer"), assistant("More answer"), user("Third")]
    fitted = fit_history(history=history, system="", context_window=8192)
    assert roles_and_contents(fitted) == [
        ("user", "First\n\nSecond"),
        ("assistant", "Answer\n\nMore answer"),
        ("user", "Third"),
    ]
    assert fitted.left_out == []


def test_empty_failed_and_non_chat_messages_are_skipped():
    question = user("Question")
    empty = assistant("", status=Message.Status.FAILED)
    blank = assistant("   \n ")
    partial_failure = assistant("You said: one", status=Message.Status.FAILED)
    system = turn(Message.Role.SYSTEM, "A system note")
    tool = turn(Message.Role.TOOL, '{"result": 1}')
    retry = user("Question again")
    history = [question, empty, blank, partial_failure, system, tool, retry]
    fitted = fit_history(history=history, system="", context_window=8192)
    # With the failed replies skipped, the two user turns meet and are merged into one.
    assert roles_and_contents(fitted) == [("user", "Question\n\nQuestion again")]
    assert fitted.left_out == [], "skipped messages are not 'left out to fit'"
    assert (
        fitted.tokens_before == fitted.tokens_after == estimate_tokens("Question") + estimate_tokens("Question again")
    )


def test_a_stopped_reply_is_kept_with_what_arrived():
    history = [user("Question"), assistant("Half an ans", status=Message.Status.CANCELLED), user("Go on")]
    fitted = fit_history(history=history, system="", context_window=8192)
    assert roles_and_contents(fitted) == [("user", "Question"), ("assistant", "Half an ans"), ("user", "Go on")]


# --- End to end: the fake model receives only the newest turns; the truncation is recorded ----------------------


def _branch(conversation, contents: list[tuple[str, str]]) -> list[Message]:
    """Messages along one branch (parent links, increasing times), the conversation's active leaf set to the last."""
    start = timezone.now() - dt.timedelta(hours=1)
    parent, made = None, []
    for number, (role, content) in enumerate(contents):
        parent = MessageFactory(
            conversation=conversation,
            role=role,
            content=content,
            parent=parent,
            created_at=start + dt.timedelta(minutes=number),
            provider="anthropic" if role == "assistant" else "",
        )
        made.append(parent)
    conversation.active_leaf = parent
    conversation.save(update_fields=["active_leaf"])
    return made


@pytest.mark.slow
def test_a_long_conversation_sends_only_the_newest_turns_and_records_what_was_left_out(live_client, fake_anthropic):
    from tests.test_chat_streaming import reply_of, with_key

    owner = with_key(UserFactory())
    client = live_client(owner)
    conversation = ConversationFactory(
        user=owner, provider="anthropic", model="claude-sonnet-5-5", context_window_size=WINDOW, system_prompt=""
    )
    # A side branch (an older, regenerated reply) must not count: only the branch on screen is the history.
    # The first turn makes the fake fail the small model's summary of the oldest turns (a summary that works:
    # tests/test_summaries.py), so they are left out, as without one.
    earlier = _branch(
        conversation,
        [
            (role, long_text(f"turn {n}" + (" [[500]]" if n == 0 else "")))
            for n, role in enumerate(["user", "assistant"] * 3)
        ],
    )
    MessageFactory(
        conversation=conversation, role="assistant", parent=earlier[4], content=long_text("side branch"),
        created_at=earlier[5].created_at + dt.timedelta(seconds=1),
    )  # fmt: skip
    conversation.active_leaf = earlier[5]
    conversation.save(update_fields=["active_leaf"])

    response = client.post(f"/c/{conversation.id}/messages/", {"content": "Latest question"})
    assert response.status_code == 200, response.text
    stream_id = conversation.streams.get().id
    events = list(client.events(f"/c/streams/{stream_id}/events/"))
    assert events[-1].event == "done"
    assert reply_of(conversation).content == "You said: Latest question"

    sent = fake_anthropic.requests[-1]["messages"]
    assert [(m["role"], m["content"]) for m in sent] == [
        ("user", earlier[4].content),
        ("assistant", earlier[5].content),
        ("user", "Latest question"),
    ]
    record = ContextOptimization.objects.get(conversation=conversation)
    assert (record.trigger_reason, record.optimization_type) == ("token_limit", "truncation")
    assert record.tokens_before == 6 * 104 + estimate_tokens("Latest question")
    assert record.tokens_after == 2 * 104 + estimate_tokens("Latest question")
    assert record.tokens_before > record.tokens_after
    assert record.affected_messages == [str(m.id) for m in earlier[:4]]
    assert "4 oldest" in record.summary


@pytest.mark.slow
def test_a_conversation_that_fits_records_no_truncation(live_client, fake_anthropic):
    from tests.test_chat_streaming import start_chat, with_key

    client = live_client(with_key(UserFactory()))
    conversation, url = start_chat(client, "A short question")
    list(client.events(url))
    assert [m["content"] for m in fake_anthropic.requests[-1]["messages"]] == ["A short question"]
    assert not ContextOptimization.objects.filter(conversation=conversation).exists()
