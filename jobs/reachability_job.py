"""The reachability job (issue #16 item 11): once a minute, probe whatever had no real call lately, then
send the alerts the monitor has due — one when an outage has lasted UNREACHABLE_ALERT_MIN, one when it ends.

The alerts go the ops alert path (throttled, through the durable outbox): while Telegram itself is down they
wait there and go out when it is back; they are logged as well, so an operator reading the log sees them now.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta

from core.protocols import Alert
from core.services.reachability import ReachabilityMonitor, unreachable
from jobs.failures import tell_admins

log = logging.getLogger(__name__)

Probe = Callable[[], Awaitable[object]]
PROBE_TIMEOUT_S = 20.0


async def probe_idle(monitor: ReachabilityMonitor, probes: Mapping[str, Probe], quiet: timedelta,
                     timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Ask each target that had no call for `quiet` once: a probe that returns is an answer, one that raises
    an unreachable error (or times out) a failure; any other error still proves that something answered."""

    async def one(name: str, probe: Probe) -> None:
        try:
            await asyncio.wait_for(probe(), timeout_s)
        except Exception as error:
            if unreachable(error):
                monitor.failed(name, str(error) or f"no answer within {timeout_s:g} s")
            else:
                monitor.succeeded(name)
            return
        monitor.succeeded(name)

    idle = [one(n, p) for n, p in probes.items() if n in monitor.targets and monitor.idle(n, quiet)]
    await asyncio.gather(*idle)


async def run_reachability_job(monitor: ReachabilityMonitor, probes: Mapping[str, Probe], alert: Alert | None,
                               quiet: timedelta = timedelta(minutes=1)) -> list[str]:
    """One pass: probe, then the due alerts (returned too, for tests and the demo)."""
    await probe_idle(monitor, probes, quiet)
    due = monitor.due()
    for text in due:
        log.warning("reachability: %s", text)
        await tell_admins(alert, text)
    return due
