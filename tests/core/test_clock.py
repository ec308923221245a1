from datetime import UTC, datetime, timedelta

import pytest

from core.clock import MinuteClock, SimulatedClock
from core.models import DomainError


def test_simulated_clock_moves_only_when_told() -> None:
    clock = SimulatedClock(datetime(2024, 1, 1, tzinfo=UTC))
    assert clock.advance(timedelta(hours=1)) == datetime(2024, 1, 1, 1, tzinfo=UTC) == clock.now()
    with pytest.raises(DomainError):
        clock.set(datetime(2024, 1, 1))


def test_minute_clock_puts_a_scheduled_cycle_on_its_bar() -> None:
    fired = SimulatedClock(datetime(2024, 3, 1, 12, 0, 0, 4_000, tzinfo=UTC))  # APScheduler's few ms late
    assert MinuteClock(fired).now() == datetime(2024, 3, 1, 12, tzinfo=UTC)
