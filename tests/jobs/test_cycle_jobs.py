from datetime import timedelta

from core.clock import SimulatedClock
from jobs.cycle_job import run_cycle_job
from jobs.monitor_job import run_monitor_job
from tests.core.cycle_fakes import RecordingNotifier
from tests.core.services.test_cycle import SYMS, T0, build


class Exploding:
    async def run(self, as_of):
        raise RuntimeError("exchange down")

    async def monitor(self, as_of):
        raise ConnectionError("socket closed")


async def test_cycle_job_runs_the_cycle_at_clock_time_and_reports_symbol_errors():
    cycle, _broker, *_ = build(fail={"ETH/USDT:USDT"})
    notifier = RecordingNotifier()
    summary = await run_cycle_job(cycle, SimulatedClock(T0 + timedelta(hours=50)), notifier)
    assert summary.cycle_id == "2024-01-03T02" and len(summary.approved) == len(SYMS) - 1
    assert len(notifier.alerts) == 1 and "ETH/USDT:USDT" in notifier.alerts[0]


async def test_jobs_never_raise_and_alert_instead():
    notifier = RecordingNotifier()
    assert await run_cycle_job(Exploding(), SimulatedClock(T0), notifier) is None
    assert await run_monitor_job(Exploding(), SimulatedClock(T0), notifier) == []
    assert notifier.alerts == ["Cycle failed: RuntimeError: exchange down",
                               "Position monitor failed: ConnectionError: socket closed"]


async def test_monitor_job_applies_exits_between_cycles():
    cycle, broker, _, notifier, *_ = build()
    await cycle.run(T0 + timedelta(hours=50))
    events = await run_monitor_job(cycle, SimulatedClock(T0 + timedelta(hours=52)), notifier)
    assert [e.kind for e in events] == ["entry"] * 3 and len(await broker.positions()) == 3
