"""A clock fixture: moves what the app reads as now (django.utils.timezone.now) by whole days or hours."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone


class Clock:
    def __init__(self) -> None:
        self.real_now = timezone.now
        self.offset = dt.timedelta()

    def now(self) -> dt.datetime:
        return self.real_now() + self.offset

    def advance(self, **delta: float) -> dt.datetime:
        self.offset += dt.timedelta(**delta)
        return self.now()


@pytest.fixture(name="clock")
def clock_fixture(monkeypatch) -> Clock:
    """Rows made by factories keep the real time (model defaults hold the original function); services and the
    cleanup, which call timezone.now(), see the moved one."""
    moved = Clock()
    monkeypatch.setattr(timezone, "now", moved.now)
    return moved
