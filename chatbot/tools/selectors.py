"""Reads of tool executions, always scoped to their conversation's owner."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from conversations.models import ToolExecution


def tool_execution_list(*, user) -> QuerySet[ToolExecution]:
    return (
        ToolExecution.objects.filter(conversation__user=user)
        .select_related("conversation")
        .order_by("-created_at", "-id")
    )


def tool_execution_get(*, user, execution_id: uuid.UUID) -> ToolExecution:
    """One of the user's executions; 404 for anyone else's (the same answer as for one that does not exist)."""
    return get_object_or_404(ToolExecution.objects.select_related("conversation"), id=execution_id,
                             conversation__user=user)  # fmt: skip


def message_tool_executions(*, message_id: uuid.UUID) -> list[ToolExecution]:
    return list(ToolExecution.objects.filter(message_id=message_id).order_by("created_at", "id"))
