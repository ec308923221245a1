"""The position monitor job: between hourly cycles, enforce stops, targets, trailing, stale exits, funding
and liquidation from the broker's own book (TradingCycle.monitor), and never raise into APScheduler."""

from __future__ import annotations

from core.models import TradeEvent
from core.protocols import Clock
from core.services.cycle import TradingCycle
from jobs.failures import Alerter, describe, report_failure


async def run_monitor_job(cycle: TradingCycle, clock: Clock, notifier: Alerter) -> list[TradeEvent]:
    try:
        return await cycle.monitor(clock.now())
    except Exception as error:
        await report_failure(notifier.alert, "position monitor failed", f"Position monitor failed: {describe(error)}")
        return []
