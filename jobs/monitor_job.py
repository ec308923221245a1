"""The position monitor job: between hourly cycles, enforce stops, targets, trailing, stale exits, funding
and liquidation from the broker's own book (TradingCycle.monitor), and never raise into APScheduler."""

from __future__ import annotations

import logging

from core.cycle import TradingCycle
from core.models import TradeEvent
from core.protocols import Clock, Notifier

log = logging.getLogger(__name__)


async def run_monitor_job(cycle: TradingCycle, clock: Clock, notifier: Notifier) -> list[TradeEvent]:
    try:
        return await cycle.monitor(clock.now())
    except Exception as error:
        log.exception("position monitor failed")
        try:
            await notifier.alert(f"Position monitor failed: {type(error).__name__}: {error}")
        except Exception:
            log.exception("alert failed")
        return []
