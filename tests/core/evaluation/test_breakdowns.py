"""Breakdowns per position (legs summed), monthly returns from the curve, calibration with intervals, and
benchmark-relative figures on constructed cases whose answers are known; then on a real replay, that every
breakdown adds up to the report's own totals."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from core.decide.rules import RulesEngine
from core.evaluation.breakdowns import (
    benchmark_relative,
    calibration_table,
    monthly_returns,
    position_outcomes,
    wilson_interval,
)
from core.evaluation.replay import ReplaySpec, run_replay_cycle
from core.evaluation.report import build_report
from core.market.offline import OfflineMarketData
from core.models import ClosedTrade

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "freqtrade-userdata-cyft_trader" / "original"
T0 = datetime(2024, 1, 30, tzinfo=UTC)


def leg(pid: str, reason: str, net: float, hours: int, *, symbol: str = "BTC/USDT:USDT", side: str = "long",
        confidence: float = 0.7) -> ClosedTrade:
    return ClosedTrade(pid, symbol, side, T0, 100.0, T0 + timedelta(hours=hours), 101.0, 1.0, 3, 95.0, reason,  # type: ignore[arg-type]
                       net, 0.0, 0.0, net, signal_id=pid, confidence=confidence)


def test_a_position_is_its_legs_summed_and_exits_by_the_leg_that_closed_the_rest() -> None:
    trades = [leg("a", "tp1", 50.0, 5), leg("a", "breakeven", -1.0, 9), leg("b", "stop", -30.0, 3, side="short")]
    positions = position_outcomes(trades, {"a": "trending_up"})
    assert [(p.position_id, p.legs, p.exit_reason, p.net_pnl, p.regime) for p in positions] == [
        ("a", 2, "breakeven", 49.0, "trending_up"), ("b", 1, "stop", -30.0, "unknown")]
    assert positions[0].exit_time == T0 + timedelta(hours=9)


def test_monthly_returns_chain_month_end_marks() -> None:
    times = [datetime(2024, 1, 31, 22, tzinfo=UTC), datetime(2024, 1, 31, 23, tzinfo=UTC),
             datetime(2024, 2, 1, 0, tzinfo=UTC), datetime(2024, 2, 29, 23, tzinfo=UTC), datetime(2024, 3, 1, 0, tzinfo=UTC)]
    steps = np.array([int(t.timestamp() * 1000) for t in times], dtype=np.int64)
    equity = np.array([1000.0, 1100.0, 1150.0, 990.0, 990.0])
    months = monthly_returns(steps, equity, 1000.0)
    assert months == pytest.approx({"2024-01": 10.0, "2024-02": -10.0, "2024-03": 0.0})
    growth = math.prod(1 + v / 100 for v in months.values())
    assert growth == pytest.approx(equity[-1] / 1000.0)


def test_wilson_interval_matches_the_textbook_value() -> None:
    low, high = wilson_interval(8, 10)  # type: ignore[misc]
    assert (low, high) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    assert wilson_interval(0, 0) is None


def test_calibration_counts_wins_per_stated_confidence_and_flags_a_non_monotonic_engine() -> None:
    trades = [leg(f"p{i}", "tp2" if i % 2 else "stop", 10.0 if i % 2 else -10.0, 4, confidence=0.65) for i in range(4)]
    trades += [leg(f"q{i}", "stop", -10.0, 4, confidence=0.85) for i in range(3)]
    table = calibration_table(position_outcomes(trades))
    assert table["buckets"]["0.6-0.7"]["positions"] == 4 and table["buckets"]["0.6-0.7"]["win_rate"] == 0.5
    assert table["buckets"]["0.8-0.9"]["win_rate"] == 0.0 and table["monotonic"] is False
    brier = (2 * (0.65 - 1) ** 2 + 2 * 0.65**2 + 3 * 0.85**2) / 7
    assert table["brier_score"] == pytest.approx(brier)


def test_half_the_benchmark_has_beta_one_half_and_no_alpha() -> None:
    rng = np.random.default_rng(11)
    bench_r = rng.normal(0.0002, 0.01, 2000)
    bench = 1000.0 * np.cumprod(np.concatenate(([1.0], 1 + bench_r)))
    strat = 1000.0 * np.cumprod(np.concatenate(([1.0], 1 + 0.5 * bench_r)))
    rel = benchmark_relative(strat, bench, np.ones(len(strat), dtype=bool), 1000.0, 3600)
    assert rel["beta"] == pytest.approx(0.5) and rel["alpha_per_bar"] == pytest.approx(0.0, abs=1e-12)
    assert rel["correlation"] == pytest.approx(1.0)


def test_exposure_matched_buy_and_hold_is_the_strategy_when_it_holds_the_benchmark_part_time() -> None:
    rng = np.random.default_rng(5)
    bench_r = rng.normal(0.0, 0.01, 1000)
    held = np.concatenate(([False], rng.random(1000) < 0.3))
    strat_r = np.where(held[1:], bench_r, 0.0)
    bench = 1000.0 * np.cumprod(np.concatenate(([1.0], 1 + bench_r)))
    strat = 1000.0 * np.cumprod(np.concatenate(([1.0], 1 + strat_r)))
    rel = benchmark_relative(strat, bench, held, 1000.0, 3600)
    assert rel["bh_during_exposure_return_pct"] == pytest.approx(rel["strategy_return_pct"])
    assert rel["exposure"] == pytest.approx(held[1:].mean())


@pytest.mark.skipif(not DATA.is_dir(), reason=f"real data not found at {DATA}")
def test_breakdowns_of_a_real_replay_add_up_to_the_report() -> None:
    spec = ReplaySpec(symbols=("BTC/USDT:USDT", "ETH/USDT:USDT"), start=datetime(2023, 3, 1, tzinfo=UTC),
                      end=datetime(2023, 5, 1, tzinfo=UTC), engine="rules")
    result = asyncio.run(run_replay_cycle(OfflineMarketData(DATA), spec, RulesEngine()))
    report = build_report(result)
    metrics, b = report["metrics"], report["breakdowns"]
    assert metrics["positions"] > 5
    for name in ("by_symbol", "by_side", "by_exit_reason", "by_regime", "by_month"):
        groups = b[name].values()
        assert sum(g["positions"] for g in groups) == metrics["positions"], name
        assert sum(g["legs"] for g in groups) == len(result.trades), name
        assert math.fsum(g["net_pnl"] for g in groups) == pytest.approx(metrics["net_pnl"], abs=1e-4), name
    assert "unknown" not in b["by_regime"], "every position's regime comes from the decision that opened it"
    assert set(b["by_regime"]) <= {"trending_up", "trending_down", "ranging", "volatile"}
    assert sum(c["positions"] for c in b["calibration"]["buckets"].values()) == metrics["positions"]
    months = [m["return_pct"] for m in b["by_month"].values()]
    assert math.prod(1 + m / 100 for m in months) == pytest.approx(1 + metrics["total_return_pct"] / 100, rel=1e-6)
    assert {"beta", "alpha_annual_pct", "bh_scaled_to_exposure_return_pct"} <= set(b["benchmark"])
