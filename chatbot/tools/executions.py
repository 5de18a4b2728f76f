"""Writes of tool executions: each move of a call's status is one conditional UPDATE, so two tabs, two processes or
a double click can never run a call twice or revive one that was cancelled.

pending → approved → executing → completed | failed; pending or approved → cancelled (denied, timed out, stopped);
executing → cancelled (stopped while it ran: its result is dropped).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from django.db.models import Q
from django.utils import timezone

from chatbot.text import clean_json, clean_text
from chatbot.tools.registry import arguments_hash
from conversations.models import ToolExecution

Status = ToolExecution.Status
OPEN = (Status.PENDING, Status.APPROVED, Status.EXECUTING)


def execution_create(
    *, message_id: uuid.UUID, conversation_id: uuid.UUID, tool_name: str, parameters: dict, estimated_cost: Decimal
) -> ToolExecution:
    """A call the model asked for, pending; its estimated cost counts against the hourly cap until it is known."""
    return ToolExecution.objects.create(
        message_id=message_id,
        conversation_id=conversation_id,
        tool_name=tool_name[:100],
        parameters=clean_json(parameters),
        status=Status.PENDING,
        approval_requested_at=timezone.now(),
        cost=estimated_cost or None,
    )


def execution_approve(*, execution: ToolExecution, expected_hash: str | None = None) -> bool:
    """Pending → approved, once; refused when the arguments are not the ones shown (`expected_hash`)."""
    if expected_hash is not None and expected_hash != arguments_hash(execution.parameters):
        return False
    return bool(
        ToolExecution.objects.filter(id=execution.id, status=Status.PENDING).update(
            status=Status.APPROVED, approved_at=timezone.now()
        )
    )


def execution_cancel(*, execution_id: uuid.UUID, reason: str, statuses: tuple = (Status.PENDING,)) -> bool:
    """Cancelled (denied, refused by a rule, timed out, stopped), with why; costs nothing."""
    return bool(
        ToolExecution.objects.filter(id=execution_id, status__in=statuses).update(
            status=Status.CANCELLED, error_message=clean_text(reason), cost=None, completed_at=timezone.now()
        )
    )


def execution_start(*, execution_id: uuid.UUID) -> bool:
    """Approved → executing: only the one caller that moves it runs the call."""
    return bool(
        ToolExecution.objects.filter(id=execution_id, status=Status.APPROVED).update(
            status=Status.EXECUTING, executed_at=timezone.now()
        )
    )


def execution_finish(
    *, execution_id: uuid.UUID, result: dict | None, error: str, elapsed_ms: int, cost: Decimal | None
) -> bool:
    """Executing → completed (with its result) or failed (with its error)."""
    status = Status.FAILED if error else Status.COMPLETED
    return bool(
        ToolExecution.objects.filter(id=execution_id, status=Status.EXECUTING).update(
            status=status,
            result=clean_json(result) if result is not None else None,
            error_message=clean_text(error),
            execution_time_ms=max(0, elapsed_ms),
            completed_at=timezone.now(),
            **({"cost": cost} if cost is not None else {}),
        )
    )


def executions_cancel_open(*, message_id: uuid.UUID, reason: str) -> int:
    """Every call of a reply not finished yet: cancelled (the Stop button)."""
    return ToolExecution.objects.filter(message_id=message_id, status__in=OPEN).update(
        status=Status.CANCELLED, error_message=clean_text(reason), cost=None, completed_at=timezone.now()
    )


def execution_reject(*, execution_id: uuid.UUID, error: str) -> bool:
    """Pending → failed without running: a tool that does not exist, or arguments that do not fit it."""
    return bool(
        ToolExecution.objects.filter(id=execution_id, status=Status.PENDING).update(
            status=Status.FAILED, error_message=clean_text(error), cost=None, completed_at=timezone.now()
        )
    )


def executions_expire(*, older_than: dt.timedelta, now: dt.datetime | None = None) -> list[uuid.UUID]:
    """Pending calls asked about longer ago than `older_than`: cancelled. The ids of their replies' messages."""
    cutoff = (now or timezone.now()) - older_than
    stale = list(
        ToolExecution.objects.filter(
            Q(approval_requested_at__lt=cutoff) | Q(approval_requested_at__isnull=True, created_at__lt=cutoff),
            status=Status.PENDING,
        ).values_list("id", "message_id")
    )
    expired = set()
    for execution_id, message_id in stale:
        if execution_cancel(execution_id=execution_id, reason="Not answered in time: declined."):
            expired.add(message_id)
    return list(expired)
