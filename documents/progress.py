"""A terminal progress bar for management commands (no dependency: a line redrawn in place)."""

from __future__ import annotations

import sys
import time

# A rate measured over less than this is noise (a file refused in a millisecond read as "2524.1/s").
RATE_AFTER_SECONDS = 1.0
# Not on a terminal, a unit's progress within it gets a line at most this often (a long PDF embeds for minutes).
LINE_EVERY_SECONDS = 10.0


class ProgressBar:
    """A bar over `total` units (known up front) that may also move by fractions of a unit as work is done.

    On a terminal the line is redrawn in place; written to a file or a pipe (a log, cron's mail, CI), each finished
    unit gets a line of its own, and the progress within one a line every LINE_EVERY_SECONDS: a line redrawn there
    is hundreds of carriage returns."""

    def __init__(self, total: int, *, label: str = "", stream=None, width: int = 30, unit: str = "") -> None:
        self.total = max(total, 1)
        self.label = label
        self.stream = stream or sys.stdout
        self.width = width
        self.unit = unit
        self.done = 0.0
        self.started = time.monotonic()
        isatty = getattr(self.stream, "isatty", None)
        self.interactive = bool(isatty and isatty())
        self._written = (-1, 0.0)  # the last whole unit given a line, and when (not on a terminal)

    @property
    def line_break(self) -> str:
        """What a message written while the bar is shown starts with: a new line on a terminal, where the bar's
        own line is not ended yet; nothing elsewhere."""
        return "\n" if self.interactive else ""

    def rate(self, count: float) -> str:
        """`count` things done since the bar started, as a rate ("12.5/s"), once there is one to speak of."""
        elapsed = time.monotonic() - self.started
        return f"{count / elapsed:.1f}/s" if elapsed >= RATE_AFTER_SECONDS else "starting"

    def advance(self, step: int = 1, *, note: str = "", detail: str = "") -> None:
        """One more unit finished (a fraction already shown by update() is not counted twice: see update)."""
        self.update(int(self.done) + step, note=note, detail=detail)

    def update(self, done: float, *, note: str = "", detail: str = "") -> None:
        """Show `done` units finished, fractions included (2.5: two units and half of the third)."""
        self.done = min(float(self.total), max(0.0, done))
        now = time.monotonic()
        if not self.interactive and int(self.done) == self._written[0] and now - self._written[1] < LINE_EVERY_SECONDS:
            return
        filled = int(self.width * self.done / self.total)
        bar = "#" * filled + "-" * (self.width - filled)
        unit = f" {self.unit}" if self.unit else ""
        if not detail:
            detail = self.rate(int(self.done))
        line = f"{self.label} [{bar}] {int(self.done)}/{self.total}{unit} ({detail})"
        if self.interactive:
            self.stream.write(f"\r{line} {note[:40]:<40}")
        else:
            self._written = (int(self.done), now)
            self.stream.write(f"{line} {note}".rstrip() + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.interactive:
            self.stream.write("\n")
            self.stream.flush()
