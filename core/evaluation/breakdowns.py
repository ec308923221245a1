"""Where a replay's result came from (report.json `breakdowns`, the tearsheet): per symbol, month, side,
exit reason, market regime at entry and confidence bucket, and against buy-and-hold.

Per position, as DESIGN §4.6 counts trades: the legs of one position (a TP1 partial and the rest) are
summed, its exit reason is the one of the leg that closed what was left, its regime is the snapshot's at
the decision that opened it, its month is the month it closed. Monthly *returns* come from the equity curve
(month-end over previous month-end mark), so they include open positions' marks and match the curve.

Calibration: realised win rate per stated-confidence bucket, with the count and a 95 % Wilson interval
(a 3-position bucket says little), plus the Brier score of confidence as a win probability.

Benchmark-relative: OLS alpha and beta of the strategy's per-bar returns on buy-and-hold's; and an
exposure-matched comparison, since a strategy in the market 20 % of the time should not be compared with
100 % buy-and-hold only: buy-and-hold scaled to the strategy's average exposure (a constant fraction,
rebalanced every bar), and buy-and-hold's return over exactly the bars the strategy held a position.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise

import numpy as np

from core.evaluation.metrics import CONFIDENCE_BUCKET_WIDTH, PARTIAL_EXIT_ORDER, bars_per_year, equity_returns
from core.models import ClosedTrade
from core.trade_stats import figures_of, position_key

WILSON_Z = 1.959963984540054  # 95 %


@dataclass(frozen=True, slots=True)
class PositionOutcome:
    position_id: str
    symbol: str
    side: str
    entry_time: datetime
    exit_time: datetime
    exit_reason: str
    legs: int
    net_pnl: float
    confidence: float
    regime: str


def position_outcomes(trades: Sequence[ClosedTrade], regimes: Mapping[str, str] | None = None) -> list[PositionOutcome]:
    regimes = regimes or {}
    groups: dict[str, list[ClosedTrade]] = defaultdict(list)
    for trade in trades:
        groups[position_key(trade)].append(trade)
    out = []
    for pid, legs in groups.items():
        legs.sort(key=lambda t: (t.exit_time, PARTIAL_EXIT_ORDER.get(t.exit_reason, 3)))
        first, last = legs[0], legs[-1]
        out.append(
            PositionOutcome(
                position_id=pid,
                symbol=first.symbol,
                side=first.side,
                entry_time=min(t.entry_time for t in legs),
                exit_time=last.exit_time,
                exit_reason=last.exit_reason,
                legs=len(legs),
                net_pnl=math.fsum(t.net_pnl for t in legs),
                confidence=first.confidence,
                regime=regimes.get(first.signal_id or pid, regimes.get(pid, "unknown")),
            )
        )
    out.sort(key=lambda p: (p.entry_time, p.symbol, p.position_id))
    return out


def group_stats(positions: Sequence[PositionOutcome]) -> dict[str, float | int | None]:
    figures = figures_of(positions, legs=sum(p.legs for p in positions))  # the one definition (core.trade_stats)
    holds = [(p.exit_time - p.entry_time).total_seconds() / 3600 for p in positions]
    n = len(positions)
    return {
        "positions": n,
        "legs": figures.legs,
        "wins": figures.wins,
        "win_rate": figures.win_rate,
        "net_pnl": figures.net_pnl,
        "avg_net_pnl": figures.expectancy,
        "profit_factor": figures.profit_factor,
        "avg_hold_hours": math.fsum(holds) / n if n else None,
    }


def _by(
    positions: Sequence[PositionOutcome], label: Callable[[PositionOutcome], str]
) -> dict[str, dict[str, float | int | None]]:
    groups: dict[str, list[PositionOutcome]] = defaultdict(list)
    for p in positions:
        groups[label(p)].append(p)
    return {k: group_stats(groups[k]) for k in sorted(groups)}


def wilson_interval(wins: int, n: int, z: float = WILSON_Z) -> tuple[float, float] | None:
    if n == 0:
        return None
    p = wins / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def confidence_bucket(confidence: float) -> str:
    top = round(1 / CONFIDENCE_BUCKET_WIDTH) - 1
    index = min(max(int(confidence / CONFIDENCE_BUCKET_WIDTH + 1e-9), 0), top)
    low = index * CONFIDENCE_BUCKET_WIDTH
    return f"{low:.1f}-{low + CONFIDENCE_BUCKET_WIDTH:.1f}"


def calibration_table(positions: Sequence[PositionOutcome]) -> dict[str, object]:
    groups: dict[str, list[PositionOutcome]] = defaultdict(list)
    for p in positions:
        groups[confidence_bucket(p.confidence)].append(p)
    buckets: dict[str, dict[str, object]] = {}
    rates: list[float] = []
    for label in sorted(groups):
        group = groups[label]
        wins = figures_of(group, legs=0).wins
        rates.append(wins / len(group))
        interval = wilson_interval(wins, len(group))
        buckets[label] = {
            "positions": len(group),
            "wins": wins,
            "stated_confidence": math.fsum(p.confidence for p in group) / len(group),
            "win_rate": wins / len(group),
            "win_rate_95": list(interval) if interval else None,
            "avg_net_pnl": math.fsum(p.net_pnl for p in group) / len(group),
        }
    brier = (math.fsum((p.confidence - (1.0 if p.net_pnl > 0 else 0.0)) ** 2 for p in positions) / len(positions)
             if positions else None)
    return {
        "buckets": buckets,
        "brier_score": brier,
        "monotonic": all(a <= b for a, b in pairwise(rates)) if len(rates) > 1 else None,
    }


def monthly_returns(step_ms: np.ndarray, equity: np.ndarray, initial_equity: float) -> dict[str, float]:
    """Return of each calendar month (UTC) in percent: last mark of the month over the last mark before it."""
    out: dict[str, float] = {}
    previous = float(initial_equity)
    months = np.asarray(step_ms, dtype="datetime64[ms]").astype("datetime64[M]")
    if not len(months):
        return out
    ends = np.flatnonzero(np.append(months[1:] != months[:-1], True))
    for i in ends:
        value = float(equity[i])
        label = str(months[i])
        out[label] = (value / previous - 1.0) * 100.0 if previous > 0 else 0.0
        previous = value
    return out


def benchmark_relative(
    equity: np.ndarray, benchmark_equity: np.ndarray | None, exposure: np.ndarray, initial_equity: float,
    bar_seconds: int,
) -> dict[str, object]:
    if benchmark_equity is None or len(equity) < 3:
        return {}
    strat = equity_returns(equity)
    bench = equity_returns(benchmark_equity)
    per_year = bars_per_year(bar_seconds)
    var = float(np.var(bench, ddof=1))
    beta = float(np.cov(strat, bench, ddof=1)[0, 1]) / var if var > 0 else None
    alpha = float(np.mean(strat) - beta * np.mean(bench)) if beta is not None else None
    corr = float(np.corrcoef(strat, bench)[0, 1]) if var > 0 and float(np.var(strat)) > 0 else None
    held = np.asarray(exposure[1:], dtype=bool)
    share = float(held.mean()) if len(held) else 0.0
    scaled = (float(np.prod(1.0 + share * bench)) - 1.0) * 100.0
    during = (float(np.prod(1.0 + bench[held])) - 1.0) * 100.0 if held.any() else 0.0
    total = (float(equity[-1]) / initial_equity - 1.0) * 100.0
    bh_total = (float(benchmark_equity[-1]) / initial_equity - 1.0) * 100.0
    return {
        "beta": beta,
        "alpha_per_bar": alpha,
        "alpha_annual_pct": alpha * per_year * 100.0 if alpha is not None else None,
        "correlation": corr,
        "exposure": share,
        "strategy_return_pct": total,
        "buy_and_hold_return_pct": bh_total,
        "bh_scaled_to_exposure_return_pct": scaled,
        "bh_during_exposure_return_pct": during,
        "excess_vs_exposure_matched_pct": total - scaled,
    }


def compute_breakdowns(
    *,
    trades: Sequence[ClosedTrade],
    regimes: Mapping[str, str],
    step_ms: np.ndarray,
    equity: np.ndarray,
    exposure: np.ndarray,
    initial_equity: float,
    bar_seconds: int,
    benchmark_equity: np.ndarray | None,
) -> dict[str, object]:
    """Everything in report.json's `breakdowns` (see the module docstring); `benchmark_equity` is
    buy-and-hold's marked equity on the same steps."""
    positions = position_outcomes(trades, regimes)
    by_month = _by(positions, lambda p: p.exit_time.astimezone(UTC).strftime("%Y-%m"))
    returns = monthly_returns(step_ms, equity, initial_equity)
    months = {m: {"return_pct": returns.get(m), **by_month.get(m, group_stats([]))} for m in sorted({*returns, *by_month})}
    return {
        "unit": "position",
        "by_symbol": _by(positions, lambda p: p.symbol),
        "by_month": months,
        "by_side": _by(positions, lambda p: p.side),
        "by_exit_reason": _by(positions, lambda p: p.exit_reason),
        "by_regime": _by(positions, lambda p: p.regime),
        "calibration": calibration_table(positions),
        "benchmark": benchmark_relative(equity, benchmark_equity, exposure, initial_equity, bar_seconds),
    }


__all__ = [
    "PositionOutcome",
    "benchmark_relative",
    "calibration_table",
    "compute_breakdowns",
    "confidence_bucket",
    "group_stats",
    "monthly_returns",
    "position_outcomes",
    "wilson_interval",
]
