"""The probe job: only targets without a recent call are probed; what a probe's error means."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from core.clock import SimulatedClock
from core.errors import TemporaryError
from core.services.reachability import ReachabilityMonitor
from jobs.reachability_job import probe_idle, run_reachability_job

START = datetime(2026, 12, 1, 13, 5, tzinfo=UTC)


async def test_probes_only_idle_targets_and_reads_their_errors() -> None:
    clock = SimulatedClock(START)
    m = ReachabilityMonitor(clock, timedelta(minutes=5), {"exchange": "Exchange", "llm": "LLM", "telegram": "Telegram"})
    asked: list[str] = []

    def probe(name: str, error: Exception | None = None):  # type: ignore[no-untyped-def]
        async def run() -> object:
            asked.append(name)
            if error is not None:
                raise error
            return True

        return run

    async def silent() -> object:
        asked.append("llm")
        await asyncio.sleep(10)
        return None

    m.succeeded("telegram")  # polling just answered: no probe
    probes = {"exchange": probe("exchange", TemporaryError("RequestTimeout")), "llm": silent,
              "telegram": probe("telegram"), "unknown": probe("unknown")}
    await probe_idle(m, probes, timedelta(minutes=1), timeout_s=0.05)
    assert sorted(asked) == ["exchange", "llm"]
    assert m.status("exchange").detail.endswith("RequestTimeout")
    assert m.status("llm").detail.endswith("no answer within 0.05 s")

    asked.clear()
    clock.advance(timedelta(minutes=1))
    probes["exchange"] = probe("exchange", PermissionError("401 from the exchange"))  # an answer after all
    sent: list[str] = []

    async def alert(text: str) -> None:
        sent.append(text)

    assert await run_reachability_job(m, {"exchange": probes["exchange"]}, alert) == []
    assert m.status("exchange").ok and not m.status("llm").ok and sent == []
    clock.advance(timedelta(minutes=4))
    assert await run_reachability_job(m, {}, alert) == sent == ["⚠️ LLM unreachable since 13:05 UTC (5 min): "
                                                                "no answer within 0.05 s"]
