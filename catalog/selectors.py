"""Reads of the model catalogue (what a model is, costs and can hold) and of the usage logs (who spent what)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from catalog.models import DEFAULT_CONTEXT_WINDOW, ChatModel

# Replies that cost nothing whatever their tokens: the built-in assistant, and Ollama (the operator's or the user's
# own hardware) unless the catalogue gives one of its models a price.
FREE_PROVIDERS = ("offline", "ollama")


# --- The catalogue ------------------------------------------------------------------------------------------------


def catalogue_rows(*, providers: Iterable[str]) -> list[ChatModel]:
    """Every row (enabled or not: a disabled row hides a model a server lists) of these providers, in menu order."""
    return list(ChatModel.objects.filter(provider__in=list(providers)).order_by("provider", "position", "id"))


class NotRead:
    """The default of an `entry` argument: the caller has not read the model's catalogue row (None: it has none)."""


NOT_READ = NotRead()


# Read for every reply (its prompt, its price) and most chat pages: a fixed statement, as Django spent more CPU
# building and compiling `filter(...).first()` (with the model's default ordering) than running it (0.65 ms against
# 0.25 ms in all, at load 3.7). (provider, model_id) is unique: at most one row.
_ENTRY_SQL = "SELECT * FROM model_catalog WHERE provider = %s AND model_id = %s"


def catalogue_entry(*, provider: str, model: str) -> ChatModel | None:
    return next(iter(ChatModel.objects.raw(_ENTRY_SQL, [provider, model])), None)


def context_window_for(*, provider: str, model: str) -> int:
    """The context window a conversation on this model is fitted to."""
    entry = catalogue_entry(provider=provider, model=model)
    return entry.context_window if entry is not None and entry.context_window else DEFAULT_CONTEXT_WINDOW


def reply_cost(
    *, provider: str, model: str, input_tokens: int, output_tokens: int, entry: ChatModel | NotRead | None = NOT_READ
) -> Decimal | None:
    """What a reply cost in dollars (to the millionth), by the catalogue's prices; None when unknown. `entry`: the
    model's row as the caller read it (a reply's, when its prompt was made), which spares reading it again."""
    if entry is NOT_READ:
        entry = catalogue_entry(provider=provider, model=model) if provider != "offline" else None
    if entry is not None and entry.priced:
        return entry.cost(input_tokens=input_tokens, output_tokens=output_tokens)
    if provider in FREE_PROVIDERS:
        return Decimal("0.000000")
    return None


def is_free_model(*, provider: str, model: str) -> bool:
    """A model a budget does not stop: free by nature, or priced at zero in the catalogue. Unknown prices are
    counted as paid: the operator pays for them all the same."""
    if provider == "offline":
        return True
    entry = catalogue_entry(provider=provider, model=model)
    if entry is not None and entry.priced:
        return entry.input_price == 0 and entry.output_price == 0
    return provider in FREE_PROVIDERS


# --- Usage --------------------------------------------------------------------------------------------------------

PERIODS = (7, 30, 90)
DEFAULT_PERIOD = 30


def usage_period(value: str | None) -> int:
    """The number of days asked for, if it is one of the periods offered; else the default."""
    try:
        days = int(value or "")
    except ValueError:
        return DEFAULT_PERIOD
    return days if days in PERIODS else DEFAULT_PERIOD


def period_start(days: int) -> dt.datetime:
    """Midnight (in the server's time zone) starting the last `days` days, today included."""
    today = timezone.localdate()
    midnight = dt.datetime.combine(today - dt.timedelta(days=days - 1), dt.time.min)
    return timezone.make_aware(midnight)


def month_start(now: dt.datetime | None = None) -> dt.datetime:
    """Midnight UTC on the first of this month: budgets run by calendar month, in UTC like the daily quota."""
    now = (now or timezone.now()).astimezone(dt.UTC)
    return dt.datetime(now.year, now.month, 1, tzinfo=dt.UTC)


def next_month_start(now: dt.datetime | None = None) -> dt.datetime:
    start = month_start(now)
    return dt.datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=dt.UTC)


def _logs(*, user_id: uuid.UUID | None, days: int) -> QuerySet:
    from conversations.models import UsageLog

    logs = UsageLog.objects.filter(created_at__gte=period_start(days))
    return logs.filter(user_id=user_id) if user_id is not None else logs


# Named apart from the columns they add up (an annotation may not shadow a field).
_TOTALS = {
    "replies": Count("id"),
    "total_input": Sum("input_tokens"),
    "total_output": Sum("output_tokens"),
    "total_cost": Sum("cost"),
    "unpriced": Count("id", filter=Q(cost__isnull=True)),
}


@dataclass(frozen=True)
class UsageFigures:
    replies: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal | None = Decimal(0)  # of the priced replies; None when there were replies and none was priced
    unpriced: int = 0  # replies whose cost is unknown (left out of `cost`)

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @classmethod
    def from_row(cls, row: dict) -> UsageFigures:
        return cls(
            replies=row["replies"] or 0,
            input_tokens=row["total_input"] or 0,
            output_tokens=row["total_output"] or 0,
            cost=row["total_cost"] if row["total_cost"] is not None or row["unpriced"] else Decimal(0),
            unpriced=row["unpriced"] or 0,
        )


@dataclass(frozen=True)
class DayUsage(UsageFigures):
    day: dt.date | None = None


@dataclass(frozen=True)
class ModelUsage(UsageFigures):
    provider: str = ""
    model: str = ""
    display_name: str = ""


@dataclass(frozen=True)
class UserUsage(UsageFigures):
    user_id: uuid.UUID | None = None
    user_label: str = ""
    monthly_budget: Decimal | None = None
    month_spend: Decimal = Decimal(0)


def usage_totals(*, user_id: uuid.UUID | None = None, days: int) -> UsageFigures:
    return UsageFigures.from_row(_logs(user_id=user_id, days=days).aggregate(**_TOTALS))


def usage_by_day(*, user_id: uuid.UUID | None = None, days: int) -> list[DayUsage]:
    """One entry per day of the period, oldest first, days without use included (as zeros)."""
    rows = (
        _logs(user_id=user_id, days=days)
        .annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
        .values("day")
        .annotate(**_TOTALS)
    )
    found = {row["day"]: UsageFigures.from_row(row) for row in rows}
    first = timezone.localdate() - dt.timedelta(days=days - 1)
    result = []
    for offset in range(days):
        day = first + dt.timedelta(days=offset)
        figures = found.get(day, UsageFigures())
        result.append(DayUsage(**vars(figures), day=day))
    return result


def usage_by_model(*, user_id: uuid.UUID | None = None, days: int) -> list[ModelUsage]:
    """Per provider and model, the most expensive first (then the most tokens)."""
    rows = list(_logs(user_id=user_id, days=days).values("provider", "model").annotate(**_TOTALS))
    names = {
        (entry.provider, entry.model_id): entry.display_name
        for entry in ChatModel.objects.filter(
            provider__in={row["provider"] for row in rows}, model_id__in={row["model"] for row in rows}
        )
    }
    result = [
        ModelUsage(
            **vars(UsageFigures.from_row(row)),
            provider=row["provider"],
            model=row["model"],
            display_name=names.get((row["provider"], row["model"]))
            or ("Offline assistant" if row["provider"] == "offline" else row["model"]),
        )
        for row in rows
    ]
    result.sort(key=lambda usage: (-(usage.cost or 0), -usage.tokens, usage.provider, usage.model))
    return result


def usage_by_day_and_model(*, user_id: uuid.UUID, days: int) -> list[dict]:
    """For the CSV: one row per day and model used that day, oldest day first."""
    return list(
        _logs(user_id=user_id, days=days)
        .annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
        .values("day", "provider", "model")
        .annotate(**_TOTALS)
        .order_by("day", "provider", "model")
    )


def top_spenders(*, days: int, limit: int = 25) -> list[UserUsage]:
    """The users who spent most in the period (then used most tokens), with their budget and this month's
    spending on the operator's keys."""
    from accounts.models import User

    rows = list(
        _logs(user_id=None, days=days)
        .values("user_id")
        .annotate(**_TOTALS)
        .order_by(F("total_cost").desc(nulls_last=True), F("total_input").desc(), "user_id")[:limit]
    )
    ids = [row["user_id"] for row in rows]
    users = {
        user.id: user for user in User.objects.filter(id__in=ids).only("id", "email", "is_guest", "monthly_budget")
    }
    spends = month_spends(user_ids=ids)
    return [
        UserUsage(
            **vars(UsageFigures.from_row(row)),
            user_id=row["user_id"],
            user_label=str(users[row["user_id"]]) if row["user_id"] in users else str(row["user_id"]),
            monthly_budget=users[row["user_id"]].monthly_budget if row["user_id"] in users else None,
            month_spend=spends.get(row["user_id"], Decimal(0)),
        )
        for row in rows
    ]


def _month_logs(now: dt.datetime | None = None) -> QuerySet:
    from conversations.models import UsageLog

    return UsageLog.objects.filter(created_at__gte=month_start(now), own_key=False, cost__isnull=False)


def month_spend(*, user_id: uuid.UUID, now: dt.datetime | None = None) -> Decimal:
    """What the user's replies on the operator's keys cost this calendar month (UTC), in dollars."""
    return _month_logs(now).filter(user_id=user_id).aggregate(total=Sum("cost"))["total"] or Decimal(0)


def month_spends(*, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, Decimal]:
    rows = _month_logs().filter(user_id__in=user_ids).values("user_id").annotate(total=Sum("cost"))
    return {row["user_id"]: row["total"] or Decimal(0) for row in rows}
