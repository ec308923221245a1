"""The BTC filter through the one cycle (#17): the cycle hands the guard BTC's own 4 h change at as_of —
from a fake source here, and in replay on the real Binance perps (../shared/data/binance-perps-train)."""

from __future__ import annotations

import bisect
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from core.config import RiskLimits
from core.models import Decision, Snapshot
from tests.core.csv_feed import HOUR_MS
from tests.core.cycle_fakes import ArraySnapshotSource
from tests.core.services.test_cycle import SYMS, T0, build, series

TRAIN = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "binance-perps-train" / "main"


class ChangeSource(ArraySnapshotSource):
    """ArraySnapshotSource plus the 4 h change the real builder puts in `extra` (close vs 4 bars before)."""

    async def snapshot(self, symbol: str, as_of: datetime) -> Snapshot:
        snap = await super().snapshot(symbol, as_of)
        a = self._bars[symbol]
        i = bisect.bisect_right(self._times[symbol], int(as_of.timestamp() * 1000) - HOUR_MS) - 1
        return replace(snap, extra={**snap.extra, "change_4h_pct": (a[i, 4] / a[i - 4, 4] - 1) * 100})


def btc_falling(drop_pct: float, n: int = 200) -> np.ndarray:
    """Flat at 100, then the last four closes fall linearly to 100 × (1 − drop)."""
    a = series(n)
    a[-4:, 1:] = (100 * (1 - drop_pct / 100 * np.arange(1, 5) / 4))[:, None] + np.array([0, 0.8, -0.8, 0])
    return a


def cycle_with(btc: np.ndarray, decide, limits: RiskLimits | None = None):  # type: ignore[no-untyped-def]
    bars = {s: series() for s in SYMS} | {"BTC/USDT:USDT": btc}
    cycle, *_ = build(decide, bars=bars, limits=limits or RiskLimits(max_open_positions=5))
    cycle._snapshots = ChangeSource(bars)
    return cycle


def eth_only(side: str):  # type: ignore[no-untyped-def]
    def decide(snapshot: Snapshot) -> Decision:
        p, s = snapshot.price, 1 if side == "long" else -1
        if snapshot.symbol != "ETH/USDT:USDT":
            return Decision.hold()
        return Decision(side, 0.8, p * (1 - s * 0.02), (p * (1 + s * 0.04), p * (1 + s * 0.06)), 5)
    return decide


AT = T0 + timedelta(hours=200)  # every bar of series(200) closed


async def test_a_long_is_refused_while_btc_fell_more_than_the_limit() -> None:
    cycle = cycle_with(btc_falling(3.0), eth_only("long"))
    summary = await cycle.run(AT)
    assert summary.rejected == {"ETH/USDT:USDT": "btc_filter"} and summary.approved == []
    assert cycle._guard.reject_counts() == {"btc_filter": 1}


async def test_a_long_is_allowed_after_a_smaller_drop_and_a_short_after_any() -> None:
    summary = await cycle_with(btc_falling(1.5), eth_only("long")).run(AT)
    assert summary.approved == ["ETH/USDT:USDT"]
    summary = await cycle_with(btc_falling(6.0), eth_only("short")).run(AT)
    assert summary.approved == ["ETH/USDT:USDT"]


async def test_off_at_zero_and_unknown_without_btc_data() -> None:
    off = cycle_with(btc_falling(6.0), eth_only("long"), RiskLimits(max_open_positions=5, btc_filter_drop_pct=0))
    assert (await off.run(AT)).approved == ["ETH/USDT:USDT"]
    unknown = cycle_with(btc_falling(6.0), eth_only("long"))
    unknown._snapshots.fail = {"BTC/USDT:USDT"}
    summary = await unknown.run(AT)
    assert summary.approved == ["ETH/USDT:USDT"]  # no reference data: the rule is skipped, not guessed


@pytest.mark.skipif(not TRAIN.is_dir(), reason=f"real data not found at {TRAIN}")
async def test_replay_on_real_data_reports_btc_filter_only_for_longs_after_a_real_drop(tmp_path: Path) -> None:
    from core.decide.rules import RulesEngine
    from core.evaluation.replay import ReplaySpec, run_replay_cycle
    from core.evaluation.report import write_report
    from core.market.offline import OfflineMarketData
    from core.services.memory_log import MemoryDecisionLog

    market = OfflineMarketData(TRAIN)
    symbols = ("BTC/USDT:USDT", "ETH/USDT:USDT", "ADA/USDT:USDT")
    spec = ReplaySpec(symbols=symbols, start=datetime(2021, 1, 1, tzinfo=UTC), end=datetime(2021, 2, 15, tzinfo=UTC),
                      engine="rules", limits=RiskLimits(correlation_groups=()))
    log = MemoryDecisionLog()
    result = await run_replay_cycle(market, spec, RulesEngine(), decision_log=log)
    report = json.loads(write_report(result, tmp_path).report_json.read_text())
    filtered = [r for r in log.records() if r.verdict is not None and r.verdict.reason == "btc_filter"]
    assert report["guard"]["reasons"].get("btc_filter") == len(filtered) > 0

    btc = market.frame("BTC/USDT:USDT", "1h")["close"]
    for r in filtered:
        assert r.record is not None and r.record.effective.action.value == "long"
        # BTC's change from the raw bars: the last bar closed at as_of vs the one four hours before it
        now, before = btc[r.as_of - timedelta(hours=1)], btc[r.as_of - timedelta(hours=5)]
        assert (now / before - 1) * 100 < -2.0, r.as_of


@pytest.mark.skipif(not TRAIN.is_dir(), reason=f"real data not found at {TRAIN}")
async def test_replay_loads_the_reference_for_the_filter_when_btc_is_not_traded() -> None:
    # regression (#17): without BTC among the symbols the replay had no BTC snapshot, so the rule was always skipped
    from core.decide.rules import RulesEngine
    from core.evaluation.replay import ReplaySpec, run_replay_cycle, snapshot_symbols
    from core.market.offline import OfflineMarketData
    from core.services.memory_log import MemoryDecisionLog

    market = OfflineMarketData(TRAIN)
    spec = ReplaySpec(symbols=("ETH/USDT:USDT", "ADA/USDT:USDT"), start=datetime(2021, 1, 1, tzinfo=UTC),
                      end=datetime(2021, 2, 15, tzinfo=UTC), engine="rules", limits=RiskLimits(correlation_groups=()))
    assert snapshot_symbols(market, spec) == ("ETH/USDT:USDT", "ADA/USDT:USDT", "BTC/USDT:USDT")
    off = replace(spec, limits=replace(spec.limits, btc_filter_drop_pct=0.0))
    assert snapshot_symbols(market, off) == spec.symbols
    log = MemoryDecisionLog()
    result = await run_replay_cycle(market, spec, RulesEngine(), decision_log=log)
    filtered = [r for r in log.records() if r.verdict is not None and r.verdict.reason == "btc_filter"]
    assert filtered and {t.symbol for t in result.trades} <= set(spec.symbols)
    btc = market.frame("BTC/USDT:USDT", "1h")["close"]
    for r in filtered:
        now, before = btc[r.as_of - timedelta(hours=1)], btc[r.as_of - timedelta(hours=5)]
        assert (now / before - 1) * 100 < -2.0, r.as_of


async def test_a_traded_btc_is_snapshotted_once_per_cycle_also_for_the_filter() -> None:
    """BTC traded and holding, ETH going long: the filter reads the BTC snapshot the cycle already built for
    BTC's own decision (before: assembled a second time at the same as_of) — and still refuses on a drop."""
    asked: list[str] = []
    cycle = cycle_with(btc_falling(3.0), eth_only("long"))
    source = cycle._snapshots
    inner = source.snapshot

    async def counting(symbol: str, as_of: datetime) -> Snapshot:
        asked.append(symbol)
        return await inner(symbol, as_of)

    source.snapshot = counting  # type: ignore[method-assign]
    summary = await cycle.run(AT)
    assert summary.rejected == {"ETH/USDT:USDT": "btc_filter"}
    assert asked.count("BTC/USDT:USDT") == 1
