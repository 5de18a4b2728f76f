"""Reasoning effort and thinking (issue 14): which models may be asked to think, and the thinking a reply keeps.

A reply's effort is asked only of a model whose catalogue capabilities include reasoning; anything else gets none,
whatever a form says. Its thinking is saved in the reply's `parts` beside the answer, shown collapsed, and never
put back into a later prompt (prompts are built from `content`, which holds the answer alone).
"""

from __future__ import annotations

from chatbot.llm.reasoning import EFFORTS


def model_reasons(*, provider: str, model: str) -> bool:
    """Whether the catalogue says this model can reason (the offline assistant and unknown models cannot)."""
    from catalog.models import ChatModel

    if provider == "offline":
        return False
    return ChatModel.objects.filter(provider=provider, model_id=model, supports_reasoning=True).exists()


def effort_for(*, provider: str, model: str, value: str) -> str:
    """The effort a reply on this model is asked for: `value` when it is a level and the model can reason, else ""."""
    value = (value or "").strip()
    if value not in EFFORTS:
        return ""
    return value if model_reasons(provider=provider, model=model) else ""


def reasoning_model_keys() -> set[str]:
    """The model menu keys ("provider:model") of the enabled catalogue models that can reason."""
    from accounts.selectors import model_key
    from catalog.models import ChatModel

    rows = ChatModel.objects.filter(supports_reasoning=True, enabled=True).values_list("provider", "model_id")
    return {model_key(provider, model) for provider, model in rows}


def reply_parts(*, thinking: str, text: str) -> list[dict]:
    """A reply's parts: its thinking first, then its answer (the answer is also the message's content)."""
    return [{"type": "thinking", "text": thinking}, {"type": "text", "text": text}]


def thinking_of(message) -> str:
    """The thinking saved in a message's parts, "" when it has none."""
    parts = message.parts if isinstance(message.parts, list) else []
    return "".join(
        part.get("text", "")
        for part in parts
        if isinstance(part, dict) and part.get("type") == "thinking" and isinstance(part.get("text"), str)
    )
