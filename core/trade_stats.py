"""The one definition of the trade figures (DESIGN §4.6): a trade is a position, its partial exits are legs.

Win rate, profit factor, expectancy, best and worst are per position — in the replay report
(`core.evaluation.metrics` and its `breakdowns`), in `/stats` (`core.services.control`) and in the daily post
(`jobs.daily_job`). A TP1 exit followed by a break-even stop is one position: one win when the legs sum to
more than zero. A position whose legs sum to zero or less counts as a loss. Legs are counted as legs.

In the kernel beside `core.models`, so that both the services and the evaluation may use it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from core.models import ClosedTrade


@dataclass(frozen=True, slots=True)
class PositionResult:
    """The legs of one position summed: what a follower would call one trade."""

    position_id: str
    symbol: str
    side: str
    entry_time: datetime
    exit_time: datetime
    net_pnl: float
    confidence: float


def position_key(leg: ClosedTrade) -> str:
    """Which position a leg belongs to (legs from before position ids existed: symbol and entry time)."""
    return leg.position_id or f"{leg.symbol}@{leg.entry_time.isoformat()}"


def _legs_by_position(legs: Sequence[ClosedTrade]) -> dict[str, list[ClosedTrade]]:
    grouped: dict[str, list[ClosedTrade]] = defaultdict(list)
    for leg in legs:
        grouped[position_key(leg)].append(leg)
    return grouped


def positions_of(legs: Sequence[ClosedTrade]) -> list[PositionResult]:
    out = []
    for pid, group in _legs_by_position(legs).items():
        first = group[0]
        out.append(
            PositionResult(
                position_id=pid,
                symbol=first.symbol,
                side=first.side,
                entry_time=min(t.entry_time for t in group),
                exit_time=max(t.exit_time for t in group),
                net_pnl=math.fsum(t.net_pnl for t in group),
                confidence=first.confidence,
            )
        )
    out.sort(key=lambda p: (p.entry_time, p.symbol, p.position_id))
    return out


def legs_of_positions_closed(
    legs: Sequence[ClosedTrade],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    open_ids: Collection[str] = (),
) -> list[ClosedTrade]:
    """Every leg (whenever it closed) of the positions that finished in [since, until): their last leg
    exited in the window and they are not still open (`open_ids`: a position with only TP1 done)."""
    out: list[ClosedTrade] = []
    for pid, group in _legs_by_position(legs).items():
        last = max(t.exit_time for t in group)
        if pid in open_ids or (since is not None and last < since) or (until is not None and last >= until):
            continue
        out.extend(group)
    return sorted(out, key=lambda t: t.exit_time)


def _none_if_not_finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


@dataclass(frozen=True, slots=True)
class TradeStats:
    """The figures of a set of legs, per position. Rates and ratios are None when undefined (no
    positions; profit factor also with no losing position)."""

    positions: int
    legs: int
    wins: int
    losses: int
    gross_profit: float
    gross_loss: float  # positive: the sum of the losing positions' losses
    net_pnl: float
    win_rate: float | None
    profit_factor: float | None
    expectancy: float | None  # mean net P&L per position
    avg_win: float | None
    avg_loss: float | None
    best: float | None
    worst: float | None


def trade_stats(legs: Sequence[ClosedTrade]) -> TradeStats:
    """The figures of these legs, summed per position first."""
    return figures_of(positions_of(legs), legs=len(legs))


class Summed(Protocol):
    """A position whose legs are already summed (`PositionResult`, the report breakdowns' outcomes)."""

    @property
    def net_pnl(self) -> float: ...


def figures_of(positions: Sequence[Summed], *, legs: int) -> TradeStats:
    """The figures of positions already summed (a report's breakdown by bucket, side, month …)."""
    wins = [p.net_pnl for p in positions if p.net_pnl > 0]
    losses = [p.net_pnl for p in positions if p.net_pnl <= 0]
    gross_profit = math.fsum(wins)
    gross_loss = -math.fsum(losses)
    nets = [p.net_pnl for p in positions]
    return TradeStats(
        positions=len(positions),
        legs=legs,
        wins=len(wins),
        losses=len(losses),
        gross_profit=gross_profit,
        gross_loss=gross_loss,
        net_pnl=math.fsum(nets),
        win_rate=len(wins) / len(positions) if positions else None,
        profit_factor=_none_if_not_finite(gross_profit / gross_loss) if gross_loss > 0 else None,
        expectancy=math.fsum(nets) / len(positions) if positions else None,
        avg_win=gross_profit / len(wins) if wins else None,
        avg_loss=-gross_loss / len(losses) if losses else None,
        best=max(nets, default=None),
        worst=min(nets, default=None),
    )
