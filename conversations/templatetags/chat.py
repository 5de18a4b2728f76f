from __future__ import annotations

from functools import lru_cache

from django import template
from django.utils.safestring import SafeString, mark_safe

from chatbot.markdown import render_markdown

register = template.Library()


@lru_cache(maxsize=4096)
def _rendered(key: tuple, content: str) -> str:
    return render_markdown(content)


@register.filter
def markdown(message) -> SafeString:
    """A message's content as sanitised HTML; cached per (message, last change) since it is the hot path."""
    return mark_safe(_rendered((message.id, message.updated_at), message.content))  # noqa: S308 - sanitised by nh3


@register.filter
def get_item(mapping: dict, key):
    return mapping.get(key) if mapping else None
