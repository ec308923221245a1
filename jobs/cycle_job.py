"""The hourly cycle job: plain async function, dependencies as arguments; never raises into APScheduler."""

from __future__ import annotations

import logging

from core.cycle import CycleSummary, TradingCycle
from core.protocols import Clock, Notifier

log = logging.getLogger(__name__)


async def run_cycle_job(cycle: TradingCycle, clock: Clock, notifier: Notifier) -> CycleSummary | None:
    try:
        summary = await cycle.run(clock.now())
    except Exception as error:  # APScheduler would only log it: report it to the admins instead
        log.exception("cycle failed")
        try:
            await notifier.alert(f"Cycle failed: {type(error).__name__}: {error}")
        except Exception:
            log.exception("alert failed")
        return None
    if summary.errors:
        try:
            details = "; ".join(f"{s}: {e}" for s, e in summary.errors.items())
            await notifier.alert(f"Cycle {summary.cycle_id}: {len(summary.errors)} symbol(s) failed — {details}"[:1000])
        except Exception:
            log.exception("alert failed")
    return summary
