from __future__ import annotations

from django import template

from conversations.services import MAX_MESSAGE_LENGTH

register = template.Library()


@register.simple_tag
def message_limit() -> int:
    """The longest message the server accepts, for the counters of forms rendered without the page's context
    (a reply's bubble, re-rendered on its own when the reply finishes)."""
    return MAX_MESSAGE_LENGTH
