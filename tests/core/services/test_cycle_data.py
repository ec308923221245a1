"""The cycle on unfit data (issue #12, item 1), with snapshots from the real snapshot code over the bundled
sample with a three-day hole: no entry, no engine call, the reason counted, one alert per episode."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pandas as pd

from core.clock import SimulatedClock
from core.config import CostModel, RiskLimits
from core.execution.paper_book import MemoryBookStore
from core.execution.paper_broker import PaperBroker
from core.market.offline import OfflineMarketData, resample, sample_data_dir
from core.market.snapshot import SeriesSnapshotSource
from core.models import Decision, RuntimeState
from core.risk.guard import RiskGuard
from core.services.cycle import TradingCycle
from core.services.memory_log import MemoryDecisionLog
from core.services.memory_state import MemoryStateStore
from core.services.state_change import DATA_WARNING_KEY
from tests.core.csv_feed import ArrayBarFeed
from tests.core.cycle_fakes import RecordingNotifier, ScriptedEngine

BTC = "BTC/USDT:USDT"
HOUR = 3_600_000
HOLE = pd.date_range("2024-03-01T00:00Z", "2024-03-03T23:00Z", freq="1h")  # three days missing


def build() -> tuple[TradingCycle, ScriptedEngine, RecordingNotifier, MemoryStateStore, RiskGuard]:
    hourly = OfflineMarketData(sample_data_dir()).frame(BTC, "1h").drop(HOLE)
    frames = {"1h": hourly, "4h": resample(hourly, HOUR, 4 * HOUR), "1d": resample(hourly, HOUR, 24 * HOUR)}
    clock = SimulatedClock(datetime(2024, 3, 1, tzinfo=UTC))
    guard = RiskGuard(RiskLimits())
    engine = ScriptedEngine(lambda snap: Decision.hold())
    notifier = RecordingNotifier()
    state = MemoryStateStore()
    broker = PaperBroker(feed=ArrayBarFeed({}, {}), store=MemoryBookStore(), clock=clock, initial_equity=10_000.0,
                         costs=CostModel(), limits=guard.limits)
    cycle = TradingCycle(snapshots=SeriesSnapshotSource({BTC: frames}), engine=engine, guard=guard, broker=broker,
                         log=MemoryDecisionLog(), notifier=notifier, state=state,
                         defaults=RuntimeState(False, True, 5, (BTC,)), clock=clock)
    return cycle, engine, notifier, state, guard


async def test_inside_a_hole_nothing_is_decided_and_the_admins_hear_once_until_data_is_fit_again() -> None:
    cycle, engine, notifier, state, guard = build()
    first = await cycle.run(datetime(2024, 3, 1, 5, tzinfo=UTC))
    assert first.rejected == {BTC: "stale_data"} and engine.calls == 0
    assert "last bars 1h 2024-02-29 23:00 UTC" in first.data_problems[BTC]
    for hour in range(6, 30):
        await cycle.run(datetime(2024, 3, 1, tzinfo=UTC) + timedelta(hours=hour))
    assert guard.counts["stale_data"] == 25 and engine.calls == 0
    assert len(notifier.alerts) == 1 and "stale" in notifier.alerts[0]
    # the 50 bars after the hole: the indicators straddle it (gap:1h) — still no entry, no new alert
    after = await cycle.run(datetime(2024, 3, 5, 10, tzinfo=UTC))  # (until 03-05 00:00 the 1d bar of 03-03 is missing: stale:1d)
    assert after.rejected == {BTC: "bad_data"} and "gap:1h" in after.data_problems[BTC]
    assert len(notifier.alerts) == 1
    fit = await cycle.run(datetime(2024, 3, 7, 0, tzinfo=UTC))
    assert fit.rejected == {} and engine.calls == 1
    assert notifier.alerts[1:] == ["Market data is fit to trade on again; entries resume."]
    assert await state.get_value(DATA_WARNING_KEY) == ""


async def test_paused_counts_as_paused_and_the_data_warning_stays() -> None:
    cycle, _, _, state, _ = build()
    await cycle.run(datetime(2024, 3, 1, 5, tzinfo=UTC))
    await state.save_state(replace(await state.load_state(RuntimeState(False, True, 5, (BTC,))), paused=True))
    paused = await cycle.run(datetime(2024, 3, 1, 6, tzinfo=UTC))
    assert paused.rejected == {BTC: "paused"}
    assert "stale" in (await state.get_value(DATA_WARNING_KEY) or "")
