"""`/readyz`: one check per dependency, each `async () -> (ok, detail)`; a check that raises is down."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from core.services.reachability import ReachabilityMonitor

Check = Callable[[], Awaitable[tuple[bool, str]]]
CHECK_TIMEOUT_S = 3.0


async def run_checks(checks: Mapping[str, Check]) -> dict[str, dict[str, Any]]:
    async def one(check: Check) -> dict[str, Any]:
        try:
            ok, detail = await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
        except Exception as error:  # the type only: an exception text could carry a URL or path
            return {"ok": False, "detail": f"check failed: {type(error).__name__}"}
        return {"ok": bool(ok), "detail": detail}

    results = await asyncio.gather(*(one(c) for c in checks.values()))
    return dict(zip(checks, results, strict=True))


def cycle_age(last: datetime | None, now: datetime, max_age: timedelta) -> tuple[bool, str]:
    """Fresh when the last cycle ran within `max_age` (none yet: ready, the first cycle is still to come)."""
    if last is None:
        return True, "no cycle yet"
    age = now - last
    minutes = int(age.total_seconds() // 60)
    if age > max_age:
        return False, f"last cycle {minutes} min ago (more than {int(max_age.total_seconds() // 60)} min)"
    return True, f"last cycle {minutes} min ago"


def reachability_check(monitor: ReachabilityMonitor, target: str) -> Check:
    """Down while the target's last call failed (an outage in progress), with since when and why."""

    async def check() -> tuple[bool, str]:
        reach = monitor.status(target)
        return reach.ok, reach.detail

    return check
