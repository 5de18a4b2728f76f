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


def _cards(context, message, rows) -> list[str]:
    from accounts.selectors import shows_tool_invocations
    from chatbot.tools.loop import render_card
    from chatbot.tools.registry import available_tools

    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or user.pk != message.conversation.user_id:  # a shared page, or no request (the done event)
        user = message.conversation.user
    show = shows_tool_invocations(user)
    tools = available_tools(include_mcp=False)
    return [render_card(row, tool=tools.get(row.tool_name), show=show, request=request) for row in rows]


@register.simple_tag(takes_context=True)
def reply_with_tools(context, message) -> str:
    """A finished reply's text with its calls' cards where the model made them: the text written before a call,
    then the call, then what followed (a call saved before offsets were kept stands before the text)."""
    from chatbot.tools.selectors import message_tool_executions
    from conversations.templatetags.chat import message_markdown

    rows = message_tool_executions(message_id=message.id)
    offsets = (message.metadata or {}).get("tool_offsets") or {}
    content = message.content or ""
    cards = _cards(context, message, rows)
    groups: dict[int, list[str]] = {}
    for row, card in zip(rows, cards, strict=True):
        offset = offsets.get(str(row.id), 0)
        groups.setdefault(min(max(int(offset), 0), len(content)) if isinstance(offset, int) else 0, []).append(card)
    html, start = [], 0
    for offset in sorted(groups):
        if content[start:offset].strip():
            html.append(f'<div class="markdown">{message_markdown(message, content[start:offset])}</div>')
        html.append(f'<div class="tool-calls">{"".join(groups[offset])}</div>')
        start = offset
    if content[start:].strip():
        html.append(f'<div class="markdown">{message_markdown(message, content[start:])}</div>')
    return mark_safe("".join(html))  # noqa: S308 - the cards and the sanitised markdown are ours


@register.simple_tag(takes_context=True)
def tool_cards(context, message) -> str:
    """The cards of a reply's calls, oldest first (one query; only for replies marked as having called tools)."""
    from chatbot.tools.selectors import message_tool_executions

    if not (message.metadata or {}).get("tool_calls"):
        return ""
    rows = message_tool_executions(message_id=message.id)
    if not rows:
        return ""
    return mark_safe("".join(_cards(context, message, rows)))  # noqa: S308
