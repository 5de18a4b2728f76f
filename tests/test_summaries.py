"""Summarised context (issue 18): the oldest turns folded into a running summary by the provider's small model,
reused and extended, branch by branch; truncation when it cannot be made; "Summarise now"; the thread's marker."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.utils import timezone

from conversations.models import ContextOptimization, Conversation, Message, UsageLog
from conversations.prompting import REPLY_TOKEN_RESERVE, estimate_tokens
from conversations.summaries import SUMMARY_INSTRUCTIONS, plan_context, with_summary
from tests.factories import ConversationFactory, MessageFactory, UserFactory
from tests.test_chat_context import long_text
from tests.test_chat_streaming import reply_of, with_key

WINDOW = REPLY_TOKEN_RESERVE + 1000  # a prompt budget of 1000 tokens: ten turns of 104 and a question do not fit
SMALL_MODEL = "claude-haiku-5-5"


def grow(conversation: Conversation, contents: list[tuple[str, str]], parent: Message | None = None) -> list[Message]:
    """Messages along one branch under `parent`, later than anything before; the last becomes the active leaf."""
    latest = conversation.messages.order_by("-created_at").values_list("created_at", flat=True).first()
    start = latest or timezone.now() - dt.timedelta(hours=2)
    made = []
    for number, (role, content) in enumerate(contents, start=1):
        parent = MessageFactory(
            conversation=conversation, role=role, content=content, parent=parent,
            created_at=start + dt.timedelta(seconds=number), provider="anthropic" if role == "assistant" else "",
        )  # fmt: skip
        made.append(parent)
    Conversation.objects.filter(id=conversation.id).update(active_leaf=parent)
    return made


def turns(label: str, count: int) -> list[tuple[str, str]]:
    return [(role, long_text(f"{label} {n}")) for n, role in zip(range(count), ["user", "assistant"] * count)]


def summary_calls(fake) -> list[dict]:
    return [r for r in fake.requests if SUMMARY_INSTRUCTIONS in json.dumps(r.get("system", ""))]


def reply_calls(fake) -> list[dict]:
    return [r for r in fake.requests if SUMMARY_INSTRUCTIONS not in json.dumps(r.get("system", ""))]


def ask(client, conversation: Conversation, content: str) -> None:
    response = client.post(f"/c/{conversation.id}/messages/", {"content": content})
    assert response.status_code == 200, response.text
    stream = conversation.streams.order_by("-created_at").first()
    assert list(client.events(f"/c/streams/{stream.id}/events/"))[-1].event == "done"


@pytest.fixture
def long_chat(live_client, fake_anthropic):
    owner = with_key(UserFactory())
    conversation = ConversationFactory(
        user=owner, provider="anthropic", model="claude-sonnet-5-5", context_window_size=WINDOW, system_prompt=""
    )
    return live_client(owner), conversation, grow(conversation, turns("turn", 10))


@pytest.mark.slow
def test_a_branch_that_no_longer_fits_is_summarised_and_the_prompt_carries_the_summary_and_the_recent_turns(
    long_chat, fake_anthropic
):
    client, conversation, branch = long_chat
    fake_anthropic.behaviour.reply = "They talked about lorem ipsum."

    ask(client, conversation, "Latest question")

    (call,) = summary_calls(fake_anthropic)
    assert call["model"] == SMALL_MODEL
    transcript = call["messages"][0]["content"]
    # From the newest, the turns kept take at most half the budget (500): the question, a5, u5, a4, u4 (423).
    folded, kept = branch[:6], branch[6:]
    assert all(m.content in transcript for m in folded) and not any(m.content in transcript for m in kept)
    sent = reply_calls(fake_anthropic)[-1]
    assert "They talked about lorem ipsum." in sent["system"] and "earlier_conversation_summary" in sent["system"]
    assert [(m["role"], m["content"]) for m in sent["messages"]] == [
        *((m.role, m.content) for m in kept),
        ("user", "Latest question"),
    ]
    row = ContextOptimization.objects.get(conversation=conversation)
    assert (row.trigger_reason, row.optimization_type) == ("token_limit", "summarization")
    assert row.summary == "They talked about lorem ipsum."
    assert row.affected_messages == [str(m.id) for m in folded]
    assert row.tokens_before == 10 * 104 + estimate_tokens("Latest question")
    assert row.tokens_after == estimate_tokens(row.summary) + 4 * 104 + estimate_tokens("Latest question")
    usage = UsageLog.objects.get(conversation=conversation, model=SMALL_MODEL)
    assert usage.message_id is None and usage.input_tokens > 0 and usage.cost > 0, "the summary call is paid for"
    assert reply_of(conversation).status == "complete"


@pytest.mark.slow
def test_later_replies_reuse_the_summary_and_extend_it_when_more_turns_fall_out(long_chat, fake_anthropic):
    client, conversation, branch = long_chat
    fake_anthropic.behaviour.reply = "Summary one."
    ask(client, conversation, "First question")
    first = ContextOptimization.objects.get(conversation=conversation)

    ask(client, conversation, "Second question")  # still fits with the summary: no new call
    assert len(summary_calls(fake_anthropic)) == 1
    sent = reply_calls(fake_anthropic)[-1]
    assert "Summary one." in sent["system"] and sent["messages"][0]["content"] == branch[6].content

    more = grow(conversation, turns("later", 6), parent=reply_of(conversation))
    fake_anthropic.behaviour.reply = "Summary two."
    ask(client, conversation, "Third question")

    calls = summary_calls(fake_anthropic)
    assert len(calls) == 2
    extension = calls[-1]["messages"][0]["content"]
    assert "<summary_so_far>\nSummary one.\n</summary_so_far>" in extension
    assert branch[0].content not in extension, "extended, not recomputed from the start"
    assert branch[6].content in extension
    second = ContextOptimization.objects.filter(optimization_type="summarization").latest("created_at")
    assert second.id != first.id and second.summary == "Summary two."
    assert second.affected_messages[: len(first.affected_messages)] == first.affected_messages
    # The turns after the first summary, up to where the newest fill half the room, are folded in.
    assert {str(branch[6].id), str(more[1].id)} <= set(second.affected_messages)
    assert str(more[2].id) not in second.affected_messages
    assert "Summary two." in reply_calls(fake_anthropic)[-1]["system"]
    assert "Summary one." not in reply_calls(fake_anthropic)[-1]["system"]


@pytest.mark.slow
def test_each_branch_gets_its_own_summary(long_chat, fake_anthropic):
    client, conversation, branch = long_chat
    fake_anthropic.behaviour.reply = "Summary of branch A."
    ask(client, conversation, "Question on A")

    # An edit of the third message: a new branch from the second, as long, and nothing of A's summary fits it.
    other = grow(conversation, turns("other", 10), parent=branch[1])
    fake_anthropic.behaviour.reply = "Summary of branch B."
    ask(client, conversation, "Question on B")

    rows = list(ContextOptimization.objects.filter(optimization_type="summarization").order_by("created_at"))
    assert [row.summary for row in rows] == ["Summary of branch A.", "Summary of branch B."]
    assert not set(rows[1].affected_messages) & {str(m.id) for m in branch[2:]}, "nothing of branch A"
    assert rows[1].affected_messages[:2] == [str(branch[0].id), str(branch[1].id)]
    assert str(other[0].id) in rows[1].affected_messages
    sent = reply_calls(fake_anthropic)[-1]["system"]
    assert "Summary of branch B." in sent and "branch A" not in sent

    # Back on branch A (its reply is the leaf): its own summary again, and no new call.
    Conversation.objects.filter(id=conversation.id).update(
        active_leaf=Message.objects.filter(conversation=conversation, content="Question on A").get().children.get()
    )
    ask(client, conversation, "Back on A")
    assert len(summary_calls(fake_anthropic)) == 2
    assert "Summary of branch A." in reply_calls(fake_anthropic)[-1]["system"]


@pytest.mark.slow
def test_when_the_summary_call_fails_the_reply_goes_out_truncated_and_that_is_recorded(long_chat, fake_anthropic):
    client, conversation, branch = long_chat
    Message.objects.filter(id=branch[0].id).update(content=long_text("turn 0 [[500]]"))  # the summary call fails

    ask(client, conversation, "Latest question")

    assert summary_calls(fake_anthropic), "it was tried"
    row = ContextOptimization.objects.get(conversation=conversation)
    assert (row.trigger_reason, row.optimization_type) == ("token_limit", "truncation")
    sent = reply_calls(fake_anthropic)[-1]
    assert "earlier_conversation_summary" not in json.dumps(sent.get("system", ""))
    assert sent["messages"][-1]["content"] == "Latest question"
    assert sum(estimate_tokens(m["content"]) for m in sent["messages"]) <= WINDOW - REPLY_TOKEN_RESERVE
    assert reply_of(conversation).status == "complete"
    assert not UsageLog.objects.filter(conversation=conversation, model=SMALL_MODEL).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("provider", ["offline", "ollama"])
def test_without_a_small_model_the_plan_is_truncation(provider):
    conversation = ConversationFactory(provider="offline", context_window_size=WINDOW)
    history = grow(conversation, [*turns("turn", 10), ("user", "Latest")])
    from conversations.prompting import fit_history

    fitted = fit_history(history=history, system="", context_window=WINDOW)
    plan = plan_context(
        conversation=conversation, history=history, fitted=fitted, context_window=WINDOW, provider_name=provider
    )
    assert not plan.summarise and plan.fitted.left_out == fitted.left_out


def test_a_new_summary_takes_the_old_ones_place_in_whatever_the_prompt_wraps_around_it():
    import uuid

    from conversations.prompting import FittedPrompt
    from conversations.summaries import ContextPlan, _swap_summary

    nothing = FittedPrompt(messages=[], tokens_before=0, tokens_after=0, left_out=[])
    plan = ContextPlan(uuid.uuid4(), [], "Be brief.", WINDOW, nothing, system=with_summary("Be brief.", "Old."))
    sent = f"Project instructions\n\n{plan.system}\n\nSources"
    swapped = with_summary("Be brief.", "New.")
    assert _swap_summary(sent, plan, "New.") == f"Project instructions\n\n{swapped}\n\nSources"
    bare = ContextPlan(uuid.uuid4(), [], "", WINDOW, nothing, system="")
    assert _swap_summary("Sources", bare, "New.") == f"{with_summary('', 'New.')}\n\nSources"
    assert _swap_summary("", bare, "New.") == with_summary("", "New.")


def test_the_summary_goes_after_the_system_prompt():
    assert with_summary("Be brief.", "") == "Be brief."
    combined = with_summary("Be brief.", "They met.")
    assert combined.startswith("Be brief.\n\n") and "<earlier_conversation_summary>\nThey met.\n" in combined


# --- "Summarise now" and the marker --------------------------------------------------------------------------------


@pytest.fixture
def owner_chat(client, fake_anthropic, db):
    owner = with_key(UserFactory())
    conversation = ConversationFactory(user=owner, provider="anthropic", model="claude-sonnet-5-5")
    branch = grow(conversation, turns("turn", 8))
    client.force_login(owner)
    return client, conversation, branch


def test_summarise_now_folds_all_but_the_last_exchange_and_shows_the_marker(owner_chat, fake_anthropic):
    client, conversation, branch = owner_chat
    page = client.get(f"/c/{conversation.id}/").content.decode()
    assert "Summarise now" in page and "Earlier messages summarised" not in page
    fake_anthropic.behaviour.reply = "A summary <b>with</b> markup."

    response = client.post(f"/c/{conversation.id}/summarise/", HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    fragment = response.content.decode()
    assert 'id="summary-marker"' in fragment and "Earlier messages summarised" in fragment
    assert "A summary &lt;b&gt;with&lt;/b&gt; markup." in fragment, "escaped"
    row = ContextOptimization.objects.get(conversation=conversation)
    assert (row.trigger_reason, row.optimization_type) == ("user_request", "summarization")
    assert row.affected_messages == [str(m.id) for m in branch[:6]]
    assert summary_calls(fake_anthropic)[0]["model"] == SMALL_MODEL
    assert UsageLog.objects.filter(conversation=conversation, model=SMALL_MODEL).count() == 1
    page = client.get(f"/c/{conversation.id}/").content.decode()
    assert "<details" in page and "Earlier messages summarised" in page and "(6 messages)" in page
    assert "as you asked" in page


def test_summarise_now_without_script_redirects_back(owner_chat):
    client, conversation, _ = owner_chat
    response = client.post(f"/c/{conversation.id}/summarise/")
    assert response.status_code == 302 and response.url == f"/c/{conversation.id}/"
    assert ContextOptimization.objects.filter(conversation=conversation, trigger_reason="user_request").exists()


def test_summarise_now_is_the_owners_only_and_a_post(owner_chat):
    _, conversation, _ = owner_chat
    other = signed_in(UserFactory())
    assert other.post(f"/c/{conversation.id}/summarise/").status_code == 404
    assert other.post("/c/00000000-0000-0000-0000-000000000000/summarise/").status_code == 404
    owner = signed_in(conversation.user)
    assert owner.get(f"/c/{conversation.id}/summarise/").status_code == 405
    assert not ContextOptimization.objects.exists()


def test_summarise_now_on_an_offline_conversation_says_why_not(client, db):
    owner = UserFactory()
    conversation = ConversationFactory(user=owner, provider="offline")
    grow(conversation, turns("turn", 8))
    client.force_login(owner)
    assert "Summarise now" not in client.get(f"/c/{conversation.id}/").content.decode()
    response = client.post(f"/c/{conversation.id}/summarise/", HTTP_HX_REQUEST="true")
    assert "no small model" in response.content.decode()
    assert not ContextOptimization.objects.exists()


def test_the_marker_belongs_to_its_branch(owner_chat):
    client, conversation, branch = owner_chat
    ContextOptimization.objects.create(
        conversation=conversation, trigger_reason="token_limit", optimization_type="summarization",
        tokens_before=900, tokens_after=300, summary="Branch one's summary.",
        affected_messages=[str(m.id) for m in branch[:4]],
    )  # fmt: skip
    assert "Branch one&#x27;s summary." in client.get(f"/c/{conversation.id}/").content.decode()
    grow(conversation, [("user", "An edit of the third message")], parent=branch[1])
    page = client.get(f"/c/{conversation.id}/").content.decode()
    assert "Earlier messages summarised" not in page and "Branch one" not in page


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_in_chromium_the_marker_appears_with_the_reply_opens_by_keyboard_and_summarise_now_works(
    new_page, live_app, fake_anthropic
):
    from playwright.sync_api import expect

    from tests.live import session_for

    owner = with_key(UserFactory())
    conversation = ConversationFactory(
        user=owner, provider="anthropic", model="claude-sonnet-5-5", context_window_size=WINDOW, system_prompt=""
    )
    grow(conversation, turns("turn", 10))
    fake_anthropic.behaviour.reply = "They talked about lorem ipsum."
    page = new_page()
    page.context.add_cookies([{"name": "sessionid", "value": session_for(owner), "url": live_app.url}])
    page.goto(f"/c/{conversation.id}/")
    marker = page.locator("#summary-marker")
    expect(marker.get_by_text("Earlier messages summarised")).to_have_count(0)

    box = page.get_by_role("textbox", name="Your message")
    box.fill("Latest question")
    box.press("Enter")
    # With the reply's done event, without a reload.
    expect(marker.get_by_text("Earlier messages summarised")).to_be_visible(timeout=15_000)
    expect(marker.get_by_text("They talked about lorem ipsum.")).to_be_hidden()
    marker.locator("summary").focus()
    page.keyboard.press("Enter")
    expect(marker.get_by_text("They talked about lorem ipsum.")).to_be_visible()
    expect(marker).to_contain_text("(6 messages)")

    # More turns later: "Summarise now" folds them in, in place.
    answer = Message.objects.get(conversation=conversation, content="Latest question").children.get()
    grow(conversation, turns("later", 8), parent=answer)
    fake_anthropic.behaviour.reply = "Now about more lorem ipsum."
    page.reload()
    page.get_by_role("button", name="Summarise now").click()
    expect(marker).to_contain_text("Summarised.")
    expect(marker.locator("summary")).to_contain_text("Earlier messages summarised")
    assert ContextOptimization.objects.filter(conversation=conversation, trigger_reason="user_request").exists()
    page.set_viewport_size({"width": 375, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375, "no sideways scrolling on a phone"


def signed_in(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client
