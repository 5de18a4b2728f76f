"""The composer's reasoning effort control and a reply's Thinking section (issue 14)."""

from __future__ import annotations

from django import template

from chatbot.llm.reasoning import EFFORTS
from conversations.reasoning import reasoning_model_keys, thinking_of

register = template.Library()

EFFORT_LABELS = {"": "Default", "low": "Low", "medium": "Medium", "high": "High"}


@register.filter
def thinking(message) -> str:
    """The thinking a reply saved in its parts ("" when it has none)."""
    return thinking_of(message)


@register.simple_tag
def reasoning_keys() -> set[str]:
    """The model menu keys of the models that can reason: their options say so, and app.js shows the effort
    control for them only."""
    return reasoning_model_keys()


@register.inclusion_tag("conversations/partials/reasoning_effort.html", takes_context=True)
def reasoning_effort_control(context, keys: set[str]) -> dict:
    """The effort menu beside the model menu, shown when the chosen model can reason. It keeps the effort posted
    with it (the star redraws the menu) or, on a page, the one the conversation's last question asked for."""
    menu = context.get("model_menu")
    request = context.get("request")
    conversation = context.get("conversation")
    selected = ""
    if request is not None and request.method == "POST":
        selected = request.POST.get("reasoning_effort", "")
    elif conversation is not None:
        selected = (
            conversation.messages.filter(role="user").order_by("-created_at").values_list("reasoning_effort", flat=True)
        ).first() or ""
    return {
        "shown": menu is not None and menu.selected in keys,
        "selected": selected if selected in EFFORTS else "",
        "options": list(EFFORT_LABELS.items()),
    }
