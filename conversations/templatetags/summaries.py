from __future__ import annotations

from django import template

from chatbot.llm.catalog import TITLE_MODELS
from conversations.summaries import KEEP_RECENT_TURNS, thread_summary, usable_turns

register = template.Library()

# "Summarise now" is offered once this many turns of the branch are not in its summary yet.
OFFER_AFTER_TURNS = 6


def marker_context(*, conversation, thread: list, notice: str = "") -> dict:
    """The thread's "Earlier messages summarised" marker (the summary the model reads for the branch on screen),
    and the "Summarise now" button for a long branch on a provider with a small model."""
    if conversation is None:
        return {"conversation": None}
    summary = thread_summary(conversation=conversation, thread=thread) if thread else None
    covered = set(map(str, summary.affected_messages)) if summary else set()
    pending = [m for m in usable_turns([item.message for item in thread]) if str(m.id) not in covered]
    return {
        "conversation": conversation,
        "summary": summary,
        "covered": len(covered),
        "can_summarise": conversation.provider in TITLE_MODELS
        and len(pending) >= max(OFFER_AFTER_TURNS, KEEP_RECENT_TURNS + 1),
        "notice": notice,
    }


@register.inclusion_tag("conversations/partials/summary_marker.html", takes_context=True)
def summary_marker(context, conversation, thread) -> dict:
    return {**marker_context(conversation=conversation, thread=thread), "csrf_token": context.get("csrf_token")}
