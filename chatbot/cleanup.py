"""Retention and housekeeping: what `manage.py cleanup` and the daily beat job delete.

Always: expired sessions, and the bookkeeping rows of replies finished more than a day ago (a finished reply is
read from its message; the stream row only served the browser while it streamed).
By policy: conversations nobody has touched for CONVERSATION_RETENTION_DAYS (0, the default, keeps them forever),
except pinned ones. Their messages, votes and usage rows go with them (cascades).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Session
from conversations.models import Conversation, Stream

FINISHED_STREAM_RETENTION = dt.timedelta(days=1)


def cleanup_run(*, dry_run: bool = False, conversation_retention_days: int | None = None) -> dict[str, int]:
    """Delete what retention says is due; returns how many of each kind were (or, dry, would be) deleted."""
    now = timezone.now()
    days = settings.CONVERSATION_RETENTION_DAYS if conversation_retention_days is None else conversation_retention_days
    due = {
        "expired sessions": Session.objects.filter(expire_date__lt=now),
        "finished reply streams": Stream.objects.exclude(status=Stream.Status.ACTIVE).filter(
            finished_at__lt=now - FINISHED_STREAM_RETENTION
        ),
    }
    if days > 0:
        due["inactive conversations"] = Conversation.objects.filter(
            updated_at__lt=now - dt.timedelta(days=days), pinned=False
        ).exclude(streams__status=Stream.Status.ACTIVE)
    counts = {}
    with transaction.atomic():
        for label, queryset in due.items():
            counts[label] = queryset.count() if dry_run else queryset.delete()[1].get(queryset.model._meta.label, 0)
    return counts
