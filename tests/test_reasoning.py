"""Reasoning effort (issue 14): each provider is asked for the effort its own way, where the model can reason; the
thinking streams apart from the answer, is saved in the reply's parts, shown collapsed, counted in the usage and
never sent back in a later prompt."""

from __future__ import annotations

import asyncio

import pytest

from chatbot.llm.anthropic import AnthropicProvider
from chatbot.llm.base import ChatRequest, Finished, PromptMessage, TextDelta, ThinkingDelta
from chatbot.llm.google import GoogleProvider
from chatbot.llm.http import close_http_clients
from chatbot.llm.openai import OpenAICompatibleProvider
from chatbot.llm.reasoning import THINKING_BUDGETS

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
