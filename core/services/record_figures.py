"""The channel's ledger in figures: what the pinned track record and the daily/weekly posts state.

A trade is a position (DESIGN §4.6): its legs are summed by `core.evaluation.metrics.positions_of`, and a
position counts in the period in which its last leg closed. P&L over a period is the legs closed in it
(so the periods add up to the account's P&L); win rate is per position and None with no positions; a
position still open is not counted, whatever legs it closed.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from core.evaluation.metrics import PositionResult, max_drawdown_pct, positions_of
from core.models import ClosedTrade


@dataclass(frozen=True, slots=True)
class PeriodFigures:
    start: datetime | None  # None: since the first trade
    end: datetime
    positions: tuple[PositionResult, ...]
    legs: int
    net_pnl: float
    fees: float
    base_equity: float  # equity the percentages are taken of
    max_drawdown_pct: float | None  # None without an equity curve

    @property
    def wins(self) -> int:
        return sum(1 for p in self.positions if p.net_pnl > 0)

    @property
    def losses(self) -> int:
        return len(self.positions) - self.wins

    @property
    def win_rate(self) -> float | None:
        return self.wins / len(self.positions) if self.positions else None

    @property
    def pnl_pct(self) -> float | None:
        return self.net_pnl / self.base_equity * 100 if self.base_equity > 0 else None

    @property
    def best(self) -> PositionResult | None:
        return max(self.positions, key=lambda p: p.net_pnl, default=None)

    @property
    def worst(self) -> PositionResult | None:
        return min(self.positions, key=lambda p: p.net_pnl, default=None)


def period_figures(
    trades: Sequence[ClosedTrade],
    curve: Sequence[tuple[datetime, float]],
    *,
    start: datetime | None,
    end: datetime,
    initial_equity: float,
    open_ids: Collection[str] = (),
) -> PeriodFigures:
    """Figures of [start, end). `trades` may hold legs from before `start` (a position's earlier legs) and
    after `end` (its later ones: it closed later, so not in this period). A position still open (its id in
    `open_ids`, e.g. after its TP1 leg) is not a closed position yet, though its closed legs count in P&L."""

    def inside(moment: datetime) -> bool:
        return (start is None or moment >= start) and moment < end

    legs = [t for t in trades if inside(t.exit_time)]
    closed = tuple(p for p in positions_of(trades) if inside(p.exit_time) and p.position_id not in open_ids)
    before = math.fsum(t.net_pnl for t in trades if start is not None and t.exit_time < start)
    points = [v for t, v in curve if inside(t)]
    base = initial_equity + before
    drawdown = max_drawdown_pct(base, np.asarray(points)) if points and base > 0 else None
    return PeriodFigures(
        start=start,
        end=end,
        positions=closed,
        legs=len(legs),
        net_pnl=math.fsum(t.net_pnl for t in legs),
        fees=math.fsum(t.fees for t in legs),
        base_equity=base,
        max_drawdown_pct=drawdown,
    )
