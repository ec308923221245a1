"""Performance metrics of an equity curve and its closed trades (DESIGN §4.6).

Everything is computed from the broker's own numbers: per-bar equity for returns, drawdown, Sharpe and
Sortino; closed legs (a TP1 partial is its own leg) for costs and exit reasons; legs summed per position
for win rate, profit factor, expectancy, hold time and calibration, so a TP1 partial followed by a
break-even stop counts as one winning trade rather than one win and one scratch. The per-position figures
come from `core.trade_stats`, the same definition `/stats` and the daily post use.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

from core.models import ClosedTrade, DomainError
from core.trade_stats import PositionResult, figures_of, positions_of

HOURS_PER_YEAR = 24 * 365
SECONDS_PER_YEAR = HOURS_PER_YEAR * 3600
CONFIDENCE_BUCKET_WIDTH = 0.1
PARTIAL_EXIT_ORDER = {"tp1": 0, "tp2": 1, "tp3": 2}  # partial legs come before the leg that closes the rest


def bars_per_year(bar_seconds: int) -> float:
    """Annualisation base for the bar frequency: 24·365 for hourly bars (crypto trades every hour)."""
    if bar_seconds <= 0:
        raise DomainError(f"bar_seconds must be positive, got {bar_seconds}")
    return SECONDS_PER_YEAR / bar_seconds


def equity_returns(equity: np.ndarray) -> np.ndarray:
    """Simple per-bar returns between consecutive points of the curve (n points, n - 1 returns).

    equity[0] is the window start (the replay's first as_of, before any fill: the initial equity), so
    measuring it against the initial equity again would add a zero return no bar earned.
    """
    series = np.asarray(equity, dtype=np.float64)
    prev = series[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = np.where(prev > 0, series[1:] / prev - 1.0, 0.0)
    return returns


def max_drawdown_pct(initial_equity: float, equity: np.ndarray) -> float:
    """Largest peak-to-trough fall, in percent of the peak (a positive number; 0 when it never fell)."""
    series = np.concatenate(([initial_equity], np.asarray(equity, dtype=np.float64)))
    peaks = np.maximum.accumulate(series)
    drawdowns = np.where(peaks > 0, (peaks - series) / peaks, 0.0)
    return float(drawdowns.max() * 100.0)


def drawdown_series_pct(initial_equity: float, equity: np.ndarray) -> np.ndarray:
    """Drawdown from the running peak at each bar, in percent (≤ 0), for the chart."""
    series = np.concatenate(([initial_equity], np.asarray(equity, dtype=np.float64)))
    peaks = np.maximum.accumulate(series)
    return (np.where(peaks > 0, series / peaks - 1.0, 0.0) * 100.0)[1:]


def max_drawdown_duration_days(initial_equity: float, equity: np.ndarray, step_ms: np.ndarray | None,
                               bar_seconds: int) -> float:
    """Longest stretch spent below a previous peak (peak to recovery, or to the end if never recovered), days."""
    series = np.concatenate(([initial_equity], np.asarray(equity, dtype=np.float64)))
    peaks = np.maximum.accumulate(series)
    under = series < peaks
    longest = run = 0
    for flag in under.tolist():
        run = run + 1 if flag else 0
        longest = max(longest, run)
    if step_ms is not None and len(step_ms) > 1:
        bar = (int(step_ms[-1]) - int(step_ms[0])) / (len(step_ms) - 1) / 1000
    else:
        bar = float(bar_seconds)
    return longest * bar / 86_400.0


def sharpe_sortino(returns: np.ndarray, periods_per_year: float) -> tuple[float | None, float | None]:
    """Annualised by √(periods per year); risk-free rate 0. None when undefined (no variation).

    Sharpe: mean / sample standard deviation (ddof 1). Sortino: mean / target downside deviation
    √(Σ min(r, 0)² / N) with target 0 and N = all bars, not only the losing ones (Sortino & Price; as
    empyrical and quantstats compute it).
    """
    if len(returns) < 2:
        return None, None
    mean = float(np.mean(returns))
    std = float(np.std(returns, ddof=1))
    scale = math.sqrt(periods_per_year)
    sharpe = mean / std * scale if std > 0 else None
    downside = float(np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2)))
    sortino = mean / downside * scale if downside > 0 else None
    return sharpe, sortino


def _bucket_label(confidence: float) -> str:
    index = min(int(confidence / CONFIDENCE_BUCKET_WIDTH + 1e-9), int(1 / CONFIDENCE_BUCKET_WIDTH) - 1)
    low = index * CONFIDENCE_BUCKET_WIDTH
    return f"{low:.1f}-{low + CONFIDENCE_BUCKET_WIDTH:.1f}"


def calibration(positions: Sequence[PositionResult]) -> dict[str, dict[str, float | int]]:
    """Win rate by confidence bucket: a calibrated engine wins more often when it says it is surer."""
    buckets: dict[str, list[PositionResult]] = defaultdict(list)
    for p in positions:
        buckets[_bucket_label(p.confidence)].append(p)
    out: dict[str, dict[str, float | int]] = {}
    for label in sorted(buckets):
        group = buckets[label]
        figures = figures_of(group, legs=0)  # legs unknown here and not shown
        out[label] = {
            "trades": len(group),
            "win_rate": figures.wins / len(group),
            "avg_net_pnl": figures.net_pnl / len(group),
        }
    return out


def compute_metrics(
    *,
    initial_equity: float,
    equity: np.ndarray,
    trades: Sequence[ClosedTrade],
    bar_seconds: int,
    exposure: np.ndarray | None = None,
    final_equity: float | None = None,
    step_ms: np.ndarray | None = None,
    calibrate: bool = True,
) -> dict[str, object]:
    """All report metrics. `equity` is the marked equity at each step, equity[0] being the window start
    (nothing held yet) and equity[k] the mark after the k-th base bar; `exposure` flags the steps with at
    least one open position; `final_equity` defaults to the last equity value; `step_ms` (the steps' UTC
    ms) gives CAGR its calendar span, else the span is the len(equity) - 1 bars between first and last;
    `calibrate=False` for runs whose trades carry no confidence (baselines): calibration is then empty."""
    if initial_equity <= 0:
        raise DomainError(f"initial_equity must be positive, got {initial_equity}")
    equity = np.asarray(equity, dtype=np.float64)
    if final_equity is not None:
        final = float(final_equity)  # 0.0 is a wiped-out account, not a missing value
    else:
        final = float(equity[-1]) if len(equity) else float(initial_equity)
    periods = bars_per_year(bar_seconds)
    returns = equity_returns(equity)
    sharpe, sortino = sharpe_sortino(returns, periods)

    if step_ms is not None and len(step_ms) > 1:
        years = (int(step_ms[-1]) - int(step_ms[0])) / 1000 / SECONDS_PER_YEAR
    else:
        years = max(len(equity) - 1, 0) * bar_seconds / SECONDS_PER_YEAR
    growth = final / initial_equity
    cagr = (growth ** (1.0 / years) - 1.0) * 100.0 if years > 0 and growth >= 0 else None

    mdd = max_drawdown_pct(initial_equity, equity)
    positions = positions_of(trades)
    figures = figures_of(positions, legs=len(trades))
    hold_hours = [(p.exit_time - p.entry_time).total_seconds() / 3600.0 for p in positions]

    # share of the bars (steps 1..n-1) that ended with a position open; step 0 is the start, never held
    exposure_pct = 0.0
    if exposure is not None and len(exposure) > 1:
        exposure_pct = float(np.count_nonzero(exposure[1:])) / (len(exposure) - 1) * 100.0

    return {
        "final_equity": final,
        "total_return_pct": (growth - 1.0) * 100.0,
        "cagr_pct": cagr,
        "max_drawdown_pct": mdd,
        "min_equity": float(min(np.min(equity), final)) if len(equity) else final,  # never below zero (§4.6)
        "max_drawdown_duration_days": max_drawdown_duration_days(initial_equity, equity, step_ms, bar_seconds),
        "sharpe": sharpe,
        "sortino": sortino,
        # Calmar over the whole window (CAGR / max drawdown), as empyrical's calmar_ratio; None without a drawdown
        "calmar": cagr / mdd if cagr is not None and mdd > 0 else None,
        "bars": len(equity),
        "bars_per_year": periods,
        "trades": len(positions),  # a trade is a position (DESIGN §4.6); its partial exits are legs
        "legs": len(trades),
        "positions": len(positions),
        "long_positions": sum(1 for p in positions if p.side == "long"),
        "short_positions": sum(1 for p in positions if p.side == "short"),
        "win_rate": figures.win_rate,
        "profit_factor": figures.profit_factor,
        "gross_profit": figures.gross_profit,
        "gross_loss": figures.gross_loss,
        "expectancy": figures.expectancy,
        "avg_win": figures.avg_win,
        "avg_loss": figures.avg_loss,
        "avg_hold_hours": math.fsum(hold_hours) / len(hold_hours) if hold_hours else None,
        "exposure_pct": exposure_pct,
        "fees_paid": math.fsum(t.fees for t in trades),
        # ClosedTrade.funding is cash received (the broker's convention: net = gross - fees + funding)
        "funding_paid": -math.fsum(t.funding for t in trades),
        "net_pnl": math.fsum(t.net_pnl for t in trades),
        "exits_by_reason": dict(sorted(Counter(t.exit_reason for t in trades).items())),
        "calibration": calibration(positions) if calibrate else {},
    }
