from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from core.errors import UserInputError
from jobs.scheduler import ScheduledJob, build_scheduler, guarded, standard_jobs


def _plan(calls: list[str]) -> list[ScheduledJob]:
    def job(name: str):
        async def run() -> None:
            calls.append(name)

        return run

    return standard_jobs(
        cycle=job("cycle"), monitor=job("monitor"), pulse=job("pulse"), daily=job("daily"), drain=job("drain"),
        cycle_cron="0 * * * *", monitor_interval_s=60, pulse_cron="0 */4 * * *", daily_cron="5 0 * * *",
    )


async def test_every_job_is_single_instance_coalesced_with_explicit_grace() -> None:
    scheduler = build_scheduler(_plan([]), alert=None)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"cycle", "monitor", "pulse", "daily", "outbox_drain"}
    for job in jobs.values():
        assert job.max_instances == 1
        assert job.coalesce is True
        assert job.misfire_grace_time is not None and job.misfire_grace_time >= 1
    assert isinstance(jobs["cycle"].trigger, CronTrigger)
    assert isinstance(jobs["monitor"].trigger, IntervalTrigger)
    assert jobs["monitor"].trigger.interval.total_seconds() == 60
    assert jobs["outbox_drain"].trigger.interval.total_seconds() == 2


def test_cron_times_are_utc() -> None:
    plan = {job.id: job for job in _plan([])}
    after = datetime(2024, 3, 1, 12, 30, tzinfo=UTC)
    assert plan["cycle"].trigger.get_next_fire_time(None, after) == datetime(2024, 3, 1, 13, tzinfo=UTC)
    assert plan["pulse"].trigger.get_next_fire_time(None, after) == datetime(2024, 3, 1, 16, tzinfo=UTC)
    assert plan["daily"].trigger.get_next_fire_time(None, after) == datetime(2024, 3, 2, 0, 5, tzinfo=UTC)


def test_bad_cron_names_the_setting() -> None:
    with pytest.raises(UserInputError, match="CYCLE_CRON"):
        standard_jobs(
            cycle=asyncio.sleep, monitor=asyncio.sleep, pulse=asyncio.sleep, daily=asyncio.sleep,  # type: ignore[arg-type]
            drain=asyncio.sleep,  # type: ignore[arg-type]
            cycle_cron="every hour", monitor_interval_s=60, pulse_cron="0 */4 * * *", daily_cron="5 0 * * *",
        )


async def test_a_failing_job_is_caught_logged_and_reported(caplog: pytest.LogCaptureFixture) -> None:
    alerts: list[str] = []

    async def alert(text: str) -> None:
        alerts.append(text)

    async def broken() -> None:
        raise ConnectionError("exchange unreachable")

    await guarded("cycle", broken, alert)()  # does not raise
    assert alerts == ["⚠️ Job cycle failed: ConnectionError: exchange unreachable"]
    assert "job cycle failed" in caplog.text


async def test_a_failing_alert_does_not_escape_either() -> None:
    async def alert(text: str) -> None:
        raise RuntimeError("telegram down")

    async def broken() -> None:
        raise ValueError("x")

    await guarded("pulse", broken, alert)()


async def test_scheduler_runs_jobs_in_the_event_loop() -> None:
    ran = asyncio.Event()

    async def job() -> None:
        ran.set()

    scheduler = build_scheduler(
        [ScheduledJob("tick", job, IntervalTrigger(seconds=0.05, timezone=UTC), misfire_grace_s=1)], alert=None
    )
    scheduler.start()
    try:
        await asyncio.wait_for(ran.wait(), timeout=10)
    finally:
        scheduler.shutdown(wait=False)
    assert ran.is_set()
