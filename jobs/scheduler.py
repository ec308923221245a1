"""The APScheduler 3 plan: cycle, position monitor, Market Pulse, daily summary and outbox drain.

Every job runs with max_instances=1, coalesce=True and an explicit misfire grace, and is wrapped so it
catches, logs and reports its own failure to the admins: APScheduler by itself would only log it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from core.errors import UserInputError
from core.protocols import Alert
from jobs.failures import describe, report_failure

JobFunc = Callable[[], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class ScheduledJob:
    id: str
    func: JobFunc
    trigger: BaseTrigger
    misfire_grace_s: int

    def __post_init__(self) -> None:
        if self.misfire_grace_s < 1:
            raise ValueError(f"job {self.id} misfire grace must be >= 1 s, got {self.misfire_grace_s}")


def cron(expression: str, setting: str) -> CronTrigger:
    """A UTC cron trigger; a bad expression is the user's input, named by its setting."""
    try:
        return CronTrigger.from_crontab(expression, timezone=UTC)
    except ValueError as error:
        raise UserInputError(f"{setting}: {expression!r} is not a 5-field cron expression ({error})") from None


def guarded(name: str, func: JobFunc, alert: Alert | None) -> Callable[[], Awaitable[None]]:
    """The job as APScheduler runs it: never raises; a failure is logged and told to the admins."""

    async def run() -> None:
        try:
            await func()
        except Exception as error:
            await report_failure(alert, f"job {name} failed", f"⚠️ Job {name} failed: {describe(error)[:300]}")

    run.__name__ = f"guarded_{name}"
    return run


def standard_jobs(
    *,
    cycle: JobFunc,
    monitor: JobFunc,
    pulse: JobFunc,
    daily: JobFunc,
    drain: JobFunc,
    cycle_cron: str,
    monitor_interval_s: int,
    pulse_cron: str,
    daily_cron: str,
    drain_interval_s: float = 2.0,
) -> list[ScheduledJob]:
    """The live plan (DESIGN §3): hourly cycle, a monitor every minute, pulse every 4 h, daily at 00:05 UTC.

    Misfire grace: a cycle may start up to 5 min late (its as_of is the wall time it runs at); a pulse
    or daily summary up to 30 min late; the monitor and the drain only matter now, so their grace is
    about one interval (a missed run is simply followed by the next)."""
    return [
        ScheduledJob("cycle", cycle, cron(cycle_cron, "CYCLE_CRON"), misfire_grace_s=300),
        ScheduledJob(
            "monitor", monitor, IntervalTrigger(seconds=monitor_interval_s, timezone=UTC),
            misfire_grace_s=max(1, monitor_interval_s),
        ),
        ScheduledJob("pulse", pulse, cron(pulse_cron, "PULSE_CRON"), misfire_grace_s=1800),
        ScheduledJob("daily", daily, cron(daily_cron, "DAILY_SUMMARY_CRON"), misfire_grace_s=1800),
        ScheduledJob(
            "outbox_drain", drain, IntervalTrigger(seconds=drain_interval_s, timezone=UTC),
            misfire_grace_s=max(1, int(drain_interval_s * 5)),
        ),
    ]


def build_scheduler(jobs: Sequence[ScheduledJob], alert: Alert | None) -> AsyncIOScheduler:
    """Call inside the running event loop (the app does it in dp.startup), then `.start()`."""
    scheduler = AsyncIOScheduler(timezone=UTC)
    for job in jobs:
        scheduler.add_job(
            guarded(job.id, job.func, alert),
            trigger=job.trigger,
            id=job.id,
            name=job.id,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=job.misfire_grace_s,
            replace_existing=True,
        )
    return scheduler
