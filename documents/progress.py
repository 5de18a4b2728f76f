"""A terminal progress bar for management commands (no dependency: a line redrawn in place)."""

from __future__ import annotations

import sys
import time


class ProgressBar:
    """A bar over `total` units (known up front) that may also move by fractions of a unit as work is done."""

    def __init__(self, total: int, *, label: str = "", stream=None, width: int = 30, unit: str = "") -> None:
        self.total = max(total, 1)
        self.label = label
        self.stream = stream or sys.stdout
        self.width = width
        self.unit = unit
        self.done = 0.0
        self.started = time.monotonic()

    def advance(self, step: int = 1, *, note: str = "", detail: str = "") -> None:
        """One more unit finished (a fraction already shown by update() is not counted twice: see update)."""
        self.update(int(self.done) + step, note=note, detail=detail)

    def update(self, done: float, *, note: str = "", detail: str = "") -> None:
        """Show `done` units finished, fractions included (2.5: two units and half of the third)."""
        self.done = min(float(self.total), max(0.0, done))
        filled = int(self.width * self.done / self.total)
        bar = "#" * filled + "-" * (self.width - filled)
        unit = f" {self.unit}" if self.unit else ""
        if not detail:
            detail = f"{int(self.done) / max(time.monotonic() - self.started, 1e-6):.1f}/s"
        self.stream.write(f"\r{self.label} [{bar}] {int(self.done)}/{self.total}{unit} ({detail}) {note[:40]:<40}")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()
