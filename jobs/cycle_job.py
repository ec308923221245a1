"""The hourly cycle job: plain async function, dependencies as arguments; never raises into APScheduler."""

from __future__ import annotations

from core.protocols import Clock
from core.services.cycle import CycleSummary, TradingCycle
from jobs.failures import Alerter, describe, report_failure, tell_admins


async def run_cycle_job(cycle: TradingCycle, clock: Clock, notifier: Alerter) -> CycleSummary | None:
    try:
        summary = await cycle.run(clock.now())
    except Exception as error:
        await report_failure(notifier.alert, "cycle failed", f"Cycle failed: {describe(error)}")
        return None
    if summary.errors:
        details = "; ".join(f"{s}: {e}" for s, e in summary.errors.items())
        await tell_admins(
            notifier.alert, f"Cycle {summary.cycle_id}: {len(summary.errors)} symbol(s) failed — {details}"[:1000]
        )
    return summary
