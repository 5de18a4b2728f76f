"""Tool call cards in a reply's bubble (chatbot/tools)."""

from __future__ import annotations

import json

from django import template
from django.utils.safestring import mark_safe

from chatbot.tools.registry import arguments_hash as _arguments_hash

register = template.Library()


@register.filter
def tool_json(value) -> str:
    """Arguments as indented JSON, for a <pre> (escaped by the template, like any text)."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


@register.filter
def arguments_hash(value) -> str:
    return _arguments_hash(value if isinstance(value, dict) else {})


@register.simple_tag(takes_context=True)
def tool_cards(context, message) -> str:
    """The cards of a reply's calls, oldest first (one query; only for replies marked as having called tools)."""
    from accounts.models import Preferences
    from chatbot.tools.loop import render_card
    from chatbot.tools.registry import available_tools
    from chatbot.tools.selectors import message_tool_executions

    if not (message.metadata or {}).get("tool_calls"):
        return ""
    rows = message_tool_executions(message_id=message.id)
    if not rows:
        return ""
    user_id = message.conversation.user_id
    show = Preferences.objects.filter(user_id=user_id).values_list("show_tool_invocations", flat=True).first()
    tools = available_tools(include_mcp=False)
    request = context.get("request")
    return mark_safe(  # noqa: S308
        "".join(
            render_card(row, tool=tools.get(row.tool_name), show=show is not False, request=request) for row in rows
        )
    )
