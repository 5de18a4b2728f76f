"""Reasoning effort (issue 14): each provider is asked for the effort its own way, where the model can reason; the
thinking streams apart from the answer, is saved in the reply's parts, shown collapsed, counted in the usage and
never sent back in a later prompt."""

from __future__ import annotations

import asyncio
import re

import pytest

from chatbot.llm.anthropic import AnthropicProvider
from chatbot.llm.base import ChatRequest, Finished, PromptMessage, TextDelta, ThinkingDelta
from chatbot.llm.google import GoogleProvider
from chatbot.llm.http import close_http_clients
from chatbot.llm.openai import OpenAICompatibleProvider
from chatbot.llm.reasoning import THINKING_BUDGETS
from conversations.reasoning import reply_parts

EFFORTS = ["low", "medium", "high"]


def run_stream(provider, *, effort: str = "", model: str = "m", question: str = "Why is the sky blue?"):
    """(answer, thinking, Finished) of one reply, run as the server would (its own loop and pools)."""

    async def run():
        text, thinking, finished = [], [], None
        try:
            request = ChatRequest(model=model, messages=[PromptMessage("user", question)], reasoning_effort=effort)
            async for event in provider.stream(request):
                if isinstance(event, TextDelta):
                    text.append(event.text)
                elif isinstance(event, ThinkingDelta):
                    thinking.append(event.text)
                elif isinstance(event, Finished):
                    finished = event
        finally:
            await close_http_clients()
        return "".join(text), "".join(thinking), finished

    return asyncio.run(run())


def fake_openai_thinking(question: str) -> list[str]:
    """The fakes' default thinking deltas for a question."""
    from tests.fake_anthropic import split_tokens

    return split_tokens(f"Let me think about: {question}")


def anthropic(fake) -> AnthropicProvider:
    return AnthropicProvider(api_key="sk-ant-reasoning-test-0001", base_url=fake.url)


def openai_compatible(fake, name: str = "openai") -> OpenAICompatibleProvider:
    limit = "max_completion_tokens" if name == "openai" else "max_tokens"
    return OpenAICompatibleProvider(
        name=name, api_key="key-reasoning-0001", base_url=fake.base_url(name), token_limit_param=limit
    )


def google(fake) -> GoogleProvider:
    return GoogleProvider(api_key="key-google-reasoning-0001", base_url=fake.url)


# --- Each provider's request carries the effort its own way ------------------------------------------------------


@pytest.mark.parametrize("effort", EFFORTS)
def test_anthropic_asks_for_extended_thinking_with_the_efforts_budget_and_streams_it_apart(fake_anthropic, effort):
    fake_anthropic.behaviour.thinking = ["Rayleigh", " scattering", " favours", " short", " waves."]
    fake_anthropic.behaviour.reply = "Because of Rayleigh scattering."
    text, thinking, finished = run_stream(anthropic(fake_anthropic), effort=effort)
    body = fake_anthropic.requests[-1]
    budget = THINKING_BUDGETS[effort]
    assert body["thinking"] == {"type": "enabled", "budget_tokens": budget, "display": "summarized"}
    assert body["max_tokens"] == 2048 + budget  # above the budget, the answer's room kept
    assert (text, thinking) == ("Because of Rayleigh scattering.", "Rayleigh scattering favours short waves.")
    assert finished.output_tokens == 5 + 4  # the thinking is billed as output


@pytest.mark.parametrize("effort", EFFORTS)
def test_openai_asks_for_its_reasoning_effort_and_leaves_room_for_the_reasoning(fake_openai, effort):
    text, _, finished = run_stream(openai_compatible(fake_openai), effort=effort)
    body = fake_openai.requests[-1]["body"]
    assert body["reasoning_effort"] == effort
    assert body["max_completion_tokens"] == 2048 + THINKING_BUDGETS[effort]
    assert text == "You said: Why is the sky blue?"
    # OpenAI counts the reasoning tokens inside completion_tokens: the usage (and so the cost) includes them.
    thought = fake_openai_thinking("Why is the sky blue?")
    assert finished.output_tokens == len(thought) + len(text.split())


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_an_openai_compatible_servers_reasoning_deltas_are_thinking_not_answer(fake_openai, field):
    fake_openai.behaviour.reasoning_field = field
    fake_openai.behaviour.thinking = ["First", " the", " facts."]
    fake_openai.behaviour.reply = "The answer."
    text, thinking, _ = run_stream(openai_compatible(fake_openai, "deepseek"), model="deepseek-reasoner")
    assert (text, thinking) == ("The answer.", "First the facts.")


@pytest.mark.parametrize(
    ("provider", "model", "effort", "sent"),
    [
        ("groq", "openai/gpt-oss-120b", "medium", "medium"),
        ("xai", "grok-3-mini", "medium", "high"),  # Grok 3 mini knows only low and high
        ("xai", "grok-3-mini", "low", "low"),
        ("xai", "grok-4", "high", None),  # always reasons, refuses the parameter
        ("deepseek", "deepseek-reasoner", "high", None),  # always reasons, has no such setting
        ("mistral", "mistral-large-latest", "high", None),  # validates its parameters strictly
    ],
)
def test_each_openai_compatible_provider_gets_the_effort_only_as_its_api_takes_it(
    fake_openai, provider, model, effort, sent
):
    run_stream(openai_compatible(fake_openai, provider), effort=effort, model=model)
    body = fake_openai.requests[-1]["body"]
    assert body.get("reasoning_effort") == sent
    assert body["max_tokens"] == (2048 + THINKING_BUDGETS[effort] if sent else 2048)


@pytest.mark.parametrize("effort", EFFORTS)
def test_gemini_asks_for_a_thinking_budget_with_the_thoughts_and_streams_them_apart(fake_gemini, effort):
    fake_gemini.behaviour.thinking = ["Light", " scatters."]
    fake_gemini.behaviour.reply = "Scattering."
    text, thinking, finished = run_stream(google(fake_gemini), effort=effort)
    config = fake_gemini.requests[-1]["body"]["generationConfig"]
    budget = THINKING_BUDGETS[effort]
    assert config["thinkingConfig"] == {"thinking_budget": budget, "include_thoughts": True}  # as the SDK sends it
    assert config["maxOutputTokens"] == 2048 + budget
    assert (text, thinking) == ("Scattering.", "Light scatters.")
    assert finished.output_tokens == 1 + 2  # thoughtsTokenCount is billed as output too


def test_gemini_thinking_by_default_is_counted_in_the_usage_though_not_shown(fake_gemini):
    fake_gemini.behaviour.thinking = ["hidden", " thoughts", " here"]
    fake_gemini.behaviour.reply = "Answer."
    text, thinking, finished = run_stream(google(fake_gemini))
    assert "thinkingConfig" not in fake_gemini.requests[-1]["body"].get("generationConfig", {})
    assert (text, thinking) == ("Answer.", "")
    assert finished.output_tokens == 1 + 3


def test_without_an_effort_no_provider_is_asked_to_think(fake_anthropic, fake_openai, fake_gemini):
    run_stream(anthropic(fake_anthropic))
    assert "thinking" not in fake_anthropic.requests[-1] and fake_anthropic.requests[-1]["max_tokens"] == 2048
    _, thinking, _ = run_stream(openai_compatible(fake_openai))
    assert "reasoning_effort" not in fake_openai.requests[-1]["body"] and thinking == ""
    run_stream(google(fake_gemini))
    assert "thinkingConfig" not in fake_gemini.requests[-1]["body"].get("generationConfig", {})


# --- Through the app: the control, the saved thinking, the next prompt ------------------------------------------


def anthropic_user():
    from tests.factories import UserFactory
    from tests.test_chat_streaming import with_key

    return with_key(UserFactory())


def new_chat(client, content: str, **data):
    from conversations.models import Conversation
    from tests.test_chat_streaming import latest_stream_url

    response = client.post("/c/new/", {"content": content, **data})
    assert response.status_code == 204, response.text
    conversation = Conversation.objects.get(user=client.user)
    return conversation, latest_stream_url(conversation)


@pytest.mark.slow
def test_a_reply_with_effort_streams_its_thinking_apart_saves_it_and_never_sends_it_back(live_client, fake_anthropic):
    from conversations.models import Message, UsageLog
    from tests.test_chat_streaming import reply_of, send

    client = live_client(anthropic_user())
    fake_anthropic.behaviour.thinking = ["The", " user", " asks", " about", " Paris."]
    fake_anthropic.behaviour.reply = "Paris is the capital of **France**."
    conversation, url = new_chat(client, "What is the capital of France?", reasoning_effort="high")
    assert (conversation.provider, conversation.model) == ("anthropic", "claude-sonnet-5-5")
    events = list(client.events(url))
    kinds = [event.event for event in events]
    assert "".join(e.data for e in events if e.event == "thinking") == "The user asks about Paris."
    assert "".join(e.data for e in events if e.event == "delta") == "Paris is the capital of **France**."
    assert kinds.index("thinking") < kinds.index("delta"), "the thinking comes first, as the model wrote it"
    assert fake_anthropic.requests[-1]["thinking"]["budget_tokens"] == THINKING_BUDGETS["high"]
    reply = reply_of(conversation)
    question = Message.objects.get(conversation=conversation, role="user")
    assert (question.reasoning_effort, reply.reasoning_effort) == ("high", "high")
    assert reply.content == "Paris is the capital of **France**."  # the answer alone
    assert reply.parts == [
        {"type": "thinking", "text": "The user asks about Paris."},
        {"type": "text", "text": "Paris is the capital of **France**."},
    ]
    # The finished bubble (and a reload) shows it collapsed, above the answer.
    done = events[-1].data
    assert '<details class="thinking"><summary>Thinking</summary>' in done
    assert done.index("The user asks about Paris.") < done.index("<strong>France</strong>")
    page = client.get(f"/c/{conversation.id}/").text
    assert (
        '<details class="thinking"><summary>Thinking</summary><div class="thinking-text">The user asks about Paris.'
        in page
    )
    # The usage counts the thinking tokens (billed as output).
    usage = UsageLog.objects.get(message=reply)
    assert usage.output_tokens == 5 + 6 and usage.cost > 0
    # The next prompt carries the answer, never the thinking.
    fake_anthropic.behaviour.reply = "About two million."
    _, later = send(client, conversation, f"/c/{conversation.id}/messages/", {"content": "How many people live there?"})
    list(client.events(later))
    prompt = fake_anthropic.requests[-1]["messages"]
    assert prompt[1] == {"role": "assistant", "content": "Paris is the capital of **France**."}
    assert "user asks about" not in str(prompt)
    # No effort chosen this time: nothing asked, nothing saved beside the answer.
    assert "thinking" not in fake_anthropic.requests[-1]
    assert reply_of(conversation).parts == []


@pytest.mark.slow
def test_a_model_that_cannot_reason_gets_no_effort_and_no_control(live_client, fake_openai):
    from conversations.models import Message
    from tests.test_providers import with_key

    client = live_client(with_key(anthropic_user(), "openai"))
    conversation, url = new_chat(client, "Hello there", model="openai:gpt-4.1", reasoning_effort="high")
    list(client.events(url))
    body = fake_openai.requests[-1]["body"]
    assert "reasoning_effort" not in body and body["max_completion_tokens"] == 2048
    assert set(Message.objects.filter(conversation=conversation).values_list("reasoning_effort", flat=True)) == {""}
    page = client.get(f"/c/{conversation.id}/").text
    # The control is there for script to show when a reasoning model is picked, but hidden and not sent now.
    assert '<span class="effort-picker" data-effort-control hidden>' in page
    assert 'name="reasoning_effort" data-effort-select' in page and " disabled>" in page
    reasoning = re.search(r'data-reasoning-models="([^"]*)"', page).group(1).split()
    assert "openai:gpt-5.5" in reasoning and "openai:gpt-4.1" not in reasoning


@pytest.mark.slow
def test_the_control_shows_for_a_reasoning_model_with_the_last_effort_and_regenerate_keeps_it(
    live_client, fake_anthropic
):
    from tests.test_chat_streaming import reply_of, send

    client = live_client(anthropic_user())
    conversation, url = new_chat(client, "Plan a trip", reasoning_effort="medium")
    list(client.events(url))
    page = client.get(f"/c/{conversation.id}/").text
    assert '<span class="effort-picker" data-effort-control>' in page
    assert '<option value="medium" selected>Medium</option>' in page
    first = reply_of(conversation)
    _, again = send(client, conversation, f"/c/{conversation.id}/messages/{first.id}/regenerate/")
    list(client.events(again))
    assert reply_of(conversation).reasoning_effort == "medium"
    assert fake_anthropic.requests[-1]["thinking"]["budget_tokens"] == THINKING_BUDGETS["medium"]


@pytest.mark.parametrize("value", ["extreme", "HIGH", " high\x00", "x" * 200])
def test_an_effort_that_is_not_a_level_is_none(db, value):
    from conversations.reasoning import effort_for

    assert effort_for(provider="anthropic", model="claude-sonnet-5-5", value=value) == ""
    assert effort_for(provider="anthropic", model="claude-sonnet-5-5", value="high") == "high"
    assert effort_for(provider="offline", model="offline", value="high") == ""


@pytest.mark.django_db
def test_the_shared_page_shows_the_thinking_collapsed(client):
    from conversations.models import Message
    from tests.factories import ConversationFactory

    conversation = ConversationFactory(visibility="public")
    question = Message.objects.create(conversation=conversation, role="user", content="Why?")
    Message.objects.create(
        conversation=conversation, parent=question, role="assistant", content="Because <b>so</b>.",
        parts=[{"type": "thinking", "text": "Hmm <script>x</script>"}, {"type": "text", "text": "Because."}],
    )  # fmt: skip
    conversation.active_leaf = Message.objects.get(role="assistant", conversation=conversation)
    conversation.save()
    page = client.get(f"/c/shared/{conversation.id}/").content.decode()
    assert '<details class="thinking"><summary>Thinking</summary>' in page
    assert '<details class="thinking" open' not in page
    assert "Hmm &lt;script&gt;x&lt;/script&gt;" in page  # the model's text, escaped


@pytest.mark.django_db(transaction=True)
def test_the_sweep_keeps_the_thinking_of_a_reply_whose_process_died(settings):
    import datetime as dt

    import redis
    from django.utils import timezone

    from conversations import streams
    from conversations.generation import sweep_stale_streams
    from tests.factories import StreamFactory

    stream = StreamFactory(created_at=timezone.now() - dt.timedelta(minutes=5))
    client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    client.xadd(streams.stream_key(stream.id), streams.thinking_payload("Working it out"))
    client.xadd(streams.stream_key(stream.id), streams.delta_payload("Half a reply"))
    assert sweep_stale_streams() >= 1
    stream.message.refresh_from_db()
    assert stream.message.content == "Half a reply"
    assert stream.message.parts[0] == {"type": "thinking", "text": "Working it out"}


# --- Titles: a first reply that failed, retried -----------------------------------------------------------------


@pytest.mark.slow
def test_a_conversation_whose_first_reply_failed_is_named_after_the_retried_reply(live_client, fake_anthropic):
    from conversations.models import Conversation
    from tests.test_chat_streaming import reply_of, send, wait_for

    client = live_client(anthropic_user())
    fake_anthropic.behaviour.fail = "500"
    question = "What should I pack for a week of hiking in the Alps?"
    conversation, url = new_chat(client, question)
    events = list(client.events(url))
    assert reply_of(conversation).status == "failed" and "/title/" not in events[-1].data
    assert not fake_anthropic.title_requests
    fake_anthropic.behaviour.fail = None
    fake_anthropic.behaviour.reply = "Alpine hiking packing list"
    failed = reply_of(conversation)
    _, again = send(client, conversation, f"/c/{conversation.id}/messages/{failed.id}/regenerate/")
    retried = list(client.events(again))
    assert reply_of(conversation).status == "complete"
    assert f'hx-get="/c/{conversation.id}/title/"' in retried[-1].data  # the page gets it without a reload
    wait_for(lambda: Conversation.objects.filter(id=conversation.id, title="Alpine hiking packing list").exists())
    assert len(fake_anthropic.title_requests) == 1
    # A further regenerate, the first answer having succeeded, does not name it again.
    fake_anthropic.behaviour.reply = "Something else entirely now"
    _, third = send(client, conversation, f"/c/{conversation.id}/messages/{reply_of(conversation).id}/regenerate/")
    assert "/title/" not in list(client.events(third))[-1].data
    assert len(fake_anthropic.title_requests) == 1


# --- Exports and imports keep the thinking apart, as the page does ----------------------------------------------


def conversation_with_thinking(user):
    from conversations.models import Conversation, Message

    conversation = Conversation.objects.create(user=user, provider="anthropic", model="claude-x", title="Sky")
    question = Message.objects.create(
        conversation=conversation, role="user", content="Why blue?", reasoning_effort="high"
    )
    answer = Message.objects.create(
        conversation=conversation, parent=question, role="assistant", content="Rayleigh scattering.",
        reasoning_effort="high", parts=reply_parts(thinking="Short waves <b>scatter</b>.", text="Rayleigh scattering."),
    )  # fmt: skip
    conversation.active_leaf = answer
    conversation.save()
    return conversation


@pytest.mark.django_db
def test_exports_carry_the_thinking_apart_and_an_import_gives_it_back(user_client, user):
    import json

    from django.core.files.base import ContentFile
    from django.urls import reverse

    from conversations.models import Conversation

    conversation = conversation_with_thinking(user)
    markdown = user_client.get(reverse("conversations:export", args=[conversation.id, "md"])).content.decode()
    assert "<details><summary>Thinking</summary>\n\n> Short waves &lt;b&gt;scatter&lt;/b&gt;.\n\n</details>" in markdown
    assert markdown.index("Thinking") < markdown.index("Rayleigh scattering.")
    exported = user_client.get(reverse("conversations:export", args=[conversation.id, "json"])).content
    answer = next(m for m in json.loads(exported)["conversations"][0]["messages"] if m["role"] == "assistant")
    assert (answer["content"], answer["thinking"]) == ("Rayleigh scattering.", "Short waves <b>scatter</b>.")
    assert answer["reasoning_effort"] == "high"
    conversation.delete()
    response = user_client.post(reverse("accounts:chats_import"), {"file": ContentFile(exported, name="chat.json")})
    assert response.status_code == 302
    imported = Conversation.objects.get(user=user).messages.get(role="assistant")
    assert imported.parts == reply_parts(thinking="Short waves <b>scatter</b>.", text="Rayleigh scattering.")
    assert imported.reasoning_effort == "high"
    page = user_client.get(response.url).content.decode()
    assert '<details class="thinking"><summary>Thinking</summary>' in page and "Short waves &lt;b&gt;" in page


# --- Thinking inside a tool loop ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_tool_loop_with_thinking_goes_on_after_the_call(live_client, fake_anthropic):
    """Anthropic wants the signed thinking blocks of a tool loop's earlier rounds sent back when thinking is on; the
    rounds keep none, so only the turn's first call thinks (the real API, and the fake, refuse the alternative)."""
    from accounts.models import AutoApprovalSettings
    from tests.fake_tools import last_tool_results
    from tests.test_chat_streaming import reply_of

    client = live_client(anthropic_user())
    AutoApprovalSettings.objects.update_or_create(
        user=client.user, defaults={"require_approval_for_new_tools": False, "low_risk_operations": True}
    )
    fake_anthropic.tool_script[:] = [
        {"text": "Let me compute that.", "calls": [{"name": "calculator", "input": {"expression": "6 * 7"}}]},
        {"text": lambda body: "The answer is " + " | ".join(last_tool_results(body))},
    ]
    conversation, url = new_chat(client, "What is six times seven?", reasoning_effort="low")
    events = list(client.events(url))
    assert events[-1].event == "done"
    reply = reply_of(conversation)
    assert (reply.status, reply.content) == ("complete", "Let me compute that.\n\nThe answer is 42")
    first, second = fake_anthropic.requests
    assert first["thinking"]["budget_tokens"] == THINKING_BUDGETS["low"]
    assert "thinking" not in second
