"""Provider names as people write them ("OpenAI", "xAI"), for the bubbles and the settings."""

from __future__ import annotations

from django import template

from chatbot.llm.catalog import PROVIDERS

register = template.Library()


@register.filter
def provider_label(name: str) -> str:
    spec = PROVIDERS.get(name or "")
    return spec.label if spec is not None else (name or "").capitalize()
