"""The search page's filters (issue 16): a role, a period and a project, read from the query string. A value that
is not one of the choices (a mistyped date, another user's project) is dropped, never an error page."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from django.http import QueryDict

from accounts.models import User
from conversations.models import Message, Project

ROLES = [("", "Anyone"), (Message.Role.USER.value, "You"), (Message.Role.ASSISTANT.value, "Assistant")]


def _day(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        return None


@dataclass(frozen=True)
class SearchFilters:
    role: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    project_id: uuid.UUID | None = None
    # The user's projects, for the filter's menu (empty: the menu is left out).
    projects: list[Project] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return bool(self.role or self.since or self.until or self.project_id)

    def as_kwargs(self) -> dict:
        return {"role": self.role, "since": self.since, "until": self.until, "project_id": self.project_id}


def search_filters(*, user: User, params: QueryDict) -> SearchFilters:
    role = params.get("role", "")
    since, until = _day(params.get("from", "")), _day(params.get("to", ""))
    if since and until and since > until:
        since, until = until, since  # the two days given the wrong way round: the period between them
    projects = list(Project.objects.filter(user=user).order_by("name").only("id", "name"))
    try:
        project_id = uuid.UUID(params.get("project", ""))
    except ValueError:
        project_id = None
    if project_id not in {project.id for project in projects}:
        project_id = None
    return SearchFilters(
        role=role if role in {value for value, _ in ROLES if value} else None,
        since=since,
        until=until,
        project_id=project_id,
        projects=projects,
    )
