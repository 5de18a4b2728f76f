from __future__ import annotations

from django import template

register = template.Library()


@register.simple_tag
def attachment_limits() -> str:
    """The composer's note on what can be attached (conversations/attachments.py's limits)."""
    from conversations.attachments import upload_limits_text

    return upload_limits_text()
