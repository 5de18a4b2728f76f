"""Reasoning effort (seed 002's low/medium/high on a message): what each level asks of a provider.

The levels are the app's; each provider module turns one into its own parameter (Anthropic's thinking budget,
OpenAI's `reasoning_effort`, Gemini's thinking budget). A level is only ever asked of a model whose catalogue
capabilities include reasoning (conversations.reasoning decides); "" asks for nothing.
"""

from __future__ import annotations

EFFORTS = ("low", "medium", "high")

# Thinking tokens a level allows, for the providers that take a budget (Anthropic, Gemini). Anthropic's minimum
# budget is 1,024. The reply's own room (ChatRequest.max_tokens) comes on top: the budget must not eat the answer.
THINKING_BUDGETS = {"low": 1024, "medium": 4096, "high": 16384}


def thinking_budget(effort: str) -> int | None:
    """The thinking budget for a level, or None when no thinking is asked for."""
    return THINKING_BUDGETS.get(effort)
