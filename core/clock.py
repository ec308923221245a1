"""Clocks: wall time live, a settable simulated time in demo and replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.models import require_utc
from core.protocols import Clock


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


class MinuteClock:
    """A clock read on the whole minute, for scheduled cycles: cron fires on the minute and APScheduler a
    few ms after it. Without the floor a 12:00:00.004 decision would fill at the 13:00 open (the first
    bar opening after it) instead of 12:00."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def now(self) -> datetime:
        return self._clock.now().replace(second=0, microsecond=0)
