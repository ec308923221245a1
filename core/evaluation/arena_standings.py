"""The arena's standings: each contestant's figures from its own book, by the definitions `aitrader compare`
uses (`core.evaluation.metrics.compute_metrics` over the marked equity curve and the closed legs; win rate
and positions per position as `core.trade_stats` counts them), so `/arena` and compare never disagree on
what a return, a drawdown or a win is."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from core.evaluation.metrics import compute_metrics
from core.services.arena import Arena, Contestant

MARK_SECONDS = 3600  # contestants are marked once per cycle, hourly


@dataclass(frozen=True, slots=True)
class Standing:
    name: str
    equity: float
    return_pct: float
    max_drawdown_pct: float
    trades: int  # positions closed
    win_rate: float | None  # per position
    net_pnl: float  # Σ net of the closed legs
    open_positions: int
    failures: int
    last_error: str | None


async def standing(contestant: Contestant) -> Standing:
    curve = await contestant.book.equity_curve()
    legs = await contestant.book.closed_trades()
    equity = (await contestant.broker.account()).equity  # loads a book resumed after a restart
    points = np.array([contestant.initial_equity] + [value for _, value in curve])
    step_ms = np.array([int(curve[0][0].timestamp() * 1000) - MARK_SECONDS * 1000]
                       + [int(t.timestamp() * 1000) for t, _ in curve]) if curve else None
    metrics = compute_metrics(initial_equity=contestant.initial_equity, equity=points, trades=legs,
                              bar_seconds=MARK_SECONDS, step_ms=step_ms, final_equity=equity, calibrate=False)
    win_rate = metrics["win_rate"]
    return Standing(
        name=contestant.name,
        equity=equity,
        return_pct=float(metrics["total_return_pct"]),  # type: ignore[arg-type]
        max_drawdown_pct=float(metrics["max_drawdown_pct"]),  # type: ignore[arg-type]
        trades=int(metrics["positions"]),  # type: ignore[call-overload]
        win_rate=None if win_rate is None else float(win_rate),  # type: ignore[arg-type]
        net_pnl=float(metrics["net_pnl"]),  # type: ignore[arg-type]
        open_positions=len(await contestant.broker.positions()),
        failures=contestant.failures,
        last_error=contestant.last_error,
    )


async def standings(arena: Arena) -> list[Standing]:
    """Best return first."""
    rows = [await standing(c) for c in arena.contestants]
    return sorted(rows, key=lambda r: -r.return_pct)


async def equity_curves(arena: Arena) -> dict[str, list[tuple[datetime, float]]]:
    """Every contestant's marked equity, for the one chart of all of them."""
    return {c.name: await c.book.equity_curve() for c in arena.contestants}
