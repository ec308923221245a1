"""Clocks: wall time live, a settable simulated time in demo and replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.models import require_utc


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class SimulatedClock:
    """Time that moves only when told to (one base bar per tick in demo, per step in replay)."""

    def __init__(self, start: datetime) -> None:
        self._now = require_utc(start, "start")

    def now(self) -> datetime:
        return self._now

    def set(self, moment: datetime) -> None:
        self._now = require_utc(moment, "moment")

    def advance(self, step: timedelta) -> datetime:
        self._now += step
        return self._now
