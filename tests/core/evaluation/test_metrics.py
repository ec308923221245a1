"""Metrics against hand-computed values on small synthetic equity curves and trades."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from core.evaluation.metrics import (
    bars_per_year,
    calibration,
    compute_metrics,
    drawdown_series_pct,
    max_drawdown_pct,
    positions_of,
    sharpe_sortino,
)
from core.models import ClosedTrade, DomainError

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def leg(pid: str, net: float, *, hours: int = 5, reason: str = "stop", conf: float = 0.7, start_h: int = 0,
        fees: float = 1.0, funding: float = 0.5, side: str = "long") -> ClosedTrade:
    entry = T0 + timedelta(hours=start_h)
    return ClosedTrade(
        position_id=pid, symbol="BTC/USDT:USDT", side=side, entry_time=entry, entry_price=100.0,  # type: ignore[arg-type]
        exit_time=entry + timedelta(hours=hours), exit_price=101.0, qty=1.0, leverage=2, stop_loss=95.0,
        exit_reason=reason, gross_pnl=net + fees + funding, fees=fees, funding=-funding, net_pnl=net,
        confidence=conf,
    )


def test_hourly_annualisation_is_24_times_365() -> None:
    assert bars_per_year(3600) == 24 * 365
    assert bars_per_year(86400) == 365
    with pytest.raises(DomainError):
        bars_per_year(0)


def test_sharpe_and_sortino_match_hand_computation() -> None:
    r = np.array([0.01, -0.005, 0.02, -0.01, 0.0])
    sharpe, sortino = sharpe_sortino(r, 24 * 365)
    mean, std = r.mean(), r.std(ddof=1)
    downside = math.sqrt(np.mean(np.minimum(r, 0) ** 2))
    assert sharpe == pytest.approx(mean / std * math.sqrt(8760))
    assert sortino == pytest.approx(mean / downside * math.sqrt(8760))


def test_sharpe_undefined_without_variation() -> None:
    assert sharpe_sortino(np.zeros(10), 8760) == (None, None)


def test_max_drawdown_counts_from_initial_equity() -> None:
    equity = np.array([110.0, 99.0, 120.0, 90.0, 130.0])
    assert max_drawdown_pct(100.0, equity) == pytest.approx(25.0)  # 120 -> 90
    assert max_drawdown_pct(100.0, np.array([90.0])) == pytest.approx(10.0)
    dd = drawdown_series_pct(100.0, equity)
    assert dd[1] == pytest.approx(-10.0) and dd[3] == pytest.approx(-25.0) and dd[4] == 0.0


def test_legs_of_one_position_count_as_one_trade() -> None:
    trades = [leg("a", 30.0, reason="tp1", hours=3), leg("a", -1.0, reason="breakeven", hours=7), leg("b", -20.0)]
    positions = positions_of(trades)
    assert [p.position_id for p in positions] == ["a", "b"]
    assert positions[0].net_pnl == pytest.approx(29.0)
    assert positions[0].exit_time == T0 + timedelta(hours=7)


def test_compute_metrics_on_synthetic_run() -> None:
    trades = [
        leg("a", 30.0, reason="tp1", hours=3, conf=0.65),
        leg("a", -1.0, reason="breakeven", hours=7, conf=0.65),
        leg("b", -20.0, start_h=10, hours=4, conf=0.85),
        leg("c", 10.0, start_h=20, hours=2, reason="tp2", conf=0.91),
    ]
    equity = np.array([1000.0, 1010.0, 1029.0, 1009.0, 1019.0])
    m = compute_metrics(initial_equity=1000.0, equity=equity, trades=trades, bar_seconds=3600,
                        exposure=np.array([False, True, True, False, True]))  # step 0: the start, never held
    assert m["final_equity"] == 1019.0
    assert m["total_return_pct"] == pytest.approx(1.9)
    assert m["trades"] == 3 and m["legs"] == 4 and m["positions"] == 3
    assert m["win_rate"] == pytest.approx(2 / 3)
    assert m["profit_factor"] == pytest.approx((29.0 + 10.0) / 20.0)
    assert m["expectancy"] == pytest.approx(19.0 / 3)
    assert m["avg_hold_hours"] == pytest.approx((7 + 4 + 2) / 3)
    assert m["exposure_pct"] == pytest.approx(75.0)  # 3 of the 4 bars after the start
    assert m["fees_paid"] == pytest.approx(4.0)
    assert m["funding_paid"] == pytest.approx(2.0)
    assert m["exits_by_reason"] == {"breakeven": 1, "stop": 1, "tp1": 1, "tp2": 1}
    assert m["max_drawdown_pct"] == pytest.approx(20 / 1029 * 100)
    assert m["calibration"] == {
        "0.6-0.7": {"trades": 1, "win_rate": 1.0, "avg_net_pnl": 29.0},
        "0.8-0.9": {"trades": 1, "win_rate": 0.0, "avg_net_pnl": -20.0},
        "0.9-1.0": {"trades": 1, "win_rate": 1.0, "avg_net_pnl": 10.0},
    }
    years = 4 / 8760  # five points at hourly steps span four hours
    assert m["cagr_pct"] == pytest.approx((1.019 ** (1 / years) - 1) * 100)


def test_no_trades_gives_empty_but_valid_metrics() -> None:
    m = compute_metrics(initial_equity=500.0, equity=np.full(24, 500.0), trades=[], bar_seconds=3600)
    assert m["trades"] == 0 and m["win_rate"] is None and m["profit_factor"] is None
    assert m["total_return_pct"] == 0.0 and m["max_drawdown_pct"] == 0.0 and m["sharpe"] is None


def test_profit_factor_none_without_losses_and_calibration_edge() -> None:
    m = compute_metrics(initial_equity=100.0, equity=np.array([100.0, 105.0]), trades=[leg("x", 5.0, conf=1.0)],
                        bar_seconds=3600)
    assert m["profit_factor"] is None and m["win_rate"] == 1.0
    assert list(calibration(positions_of([leg("x", 5.0, conf=1.0)]))) == ["0.9-1.0"]


# ---- independent reference (textbook definitions on the curve as written: one point per as_of) ----

def _reference(initial: float, times_ms: np.ndarray, equity: np.ndarray) -> dict[str, float]:
    """equity[0] is the window start (nothing held yet); returns are between consecutive points."""
    r = equity[1:] / equity[:-1] - 1.0
    years = (int(times_ms[-1]) - int(times_ms[0])) / 1000 / (365 * 24 * 3600)
    peak = np.maximum.accumulate(np.r_[initial, equity])
    return {
        "sharpe": r.mean() / r.std(ddof=1) * math.sqrt(8760),
        # Sortino: downside deviation over ALL bars (target 0, divided by N), as empyrical/quantstats
        "sortino": r.mean() / math.sqrt(np.sum(np.minimum(r, 0.0) ** 2) / len(r)) * math.sqrt(8760),
        "cagr_pct": ((equity[-1] / initial) ** (1 / years) - 1) * 100,
        "max_drawdown_pct": float(np.max((peak - np.r_[initial, equity]) / peak)) * 100,
    }


def test_curve_metrics_match_an_independent_computation() -> None:
    rng = np.random.default_rng(11)
    n = 500
    equity = 1000.0 * np.cumprod(np.r_[1.0, 1 + rng.normal(0.0002, 0.004, n - 1)])
    times = 1_700_000_000_000 + np.arange(n, dtype=np.int64) * 3_600_000
    m = compute_metrics(initial_equity=1000.0, equity=equity, trades=[], bar_seconds=3600, step_ms=times)
    ref = _reference(1000.0, times, equity)
    for key, value in ref.items():
        assert m[key] == pytest.approx(value, rel=1e-12), key
    # without step times the span is still the n-1 bars between the first and last point
    m2 = compute_metrics(initial_equity=1000.0, equity=equity, trades=[], bar_seconds=3600)
    assert m2["cagr_pct"] == pytest.approx(ref["cagr_pct"], rel=1e-12)


def test_two_point_curve_spans_one_bar() -> None:
    m = compute_metrics(initial_equity=100.0, equity=np.array([100.0, 101.0]), trades=[], bar_seconds=3600)
    assert m["cagr_pct"] == pytest.approx((1.01 ** 8760 - 1) * 100)
    assert m["sharpe"] is None  # a single return has no dispersion


def test_a_wiped_out_account_is_not_reported_as_flat() -> None:
    m = compute_metrics(initial_equity=100.0, equity=np.array([100.0, 40.0, 0.0]), trades=[], bar_seconds=3600,
                        final_equity=0.0)
    assert m["final_equity"] == 0.0
    assert m["total_return_pct"] == pytest.approx(-100.0)
    assert m["cagr_pct"] == pytest.approx(-100.0)


def test_exposure_is_over_bars_not_the_starting_point() -> None:
    """exposure[0] is the window start (never held); a position held over every bar is 100 % exposed."""
    m = compute_metrics(initial_equity=100.0, equity=np.array([100.0, 101.0, 102.0, 101.0]), trades=[],
                        bar_seconds=3600, exposure=np.array([False, True, True, True]))
    assert m["exposure_pct"] == pytest.approx(100.0)


def test_calibration_bucket_edges() -> None:
    """Lower edge inclusive, upper exclusive; 1.0 falls in the top bucket; empty buckets are left out."""
    labels = [next(iter(calibration(positions_of([leg("x", 1.0, conf=c)])))) for c in (0.0, 0.3, 0.7, 0.6999, 0.95, 1.0)]
    assert labels == ["0.0-0.1", "0.3-0.4", "0.7-0.8", "0.6-0.7", "0.9-1.0", "0.9-1.0"]
    assert calibration([]) == {}
