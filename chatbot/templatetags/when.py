"""How long ago something happened, in words, for every page that says so (API keys, sessions)."""

from __future__ import annotations

import datetime as dt

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

register = template.Library()


@register.filter
def ago(value: dt.datetime | None) -> str:
    """In words: "3 hours ago", "2 days, 1 hour ago"; under a minute (or a clock a little ahead) "just now", not
    the "0 minutes ago" of Django's timesince. "" for no time."""
    if not value:
        return ""
    if timezone.now() - value < dt.timedelta(minutes=1):
        return "just now"
    return f"{timesince(value)} ago"
