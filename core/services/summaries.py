"""The values the Market Pulse and the daily summary are made of: built by the jobs, worded by
`bot.telegram.post_format`. Here, below both, so that jobs never import Telegram presentation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from core.models import DomainError, Position


@dataclass(frozen=True, slots=True)
class PulseItem:
    symbol: str
    price: float
    change_24h_pct: float | None
    funding_rate: float | None
    regime: str
    view: str  # the engine's one-line view


@dataclass(frozen=True, slots=True)
class DailySummary:
    """The UTC day that ended: `trades` and `wins` count the positions that finished that day, judged on
    all their legs (`core.trade_stats`); `day_pnl` is what every leg closed that day realised."""

    day: date
    equity: float
    day_pnl: float
    trades: int
    wins: int
    open_positions: tuple[Position, ...] = ()
    day_start_equity: float = 0.0
    legs: int = 0  # legs (partial exits included) closed that day; `trades` counts positions

    def __post_init__(self) -> None:
        if not (0 <= self.wins <= self.trades):
            raise DomainError(f"wins must be within [0, trades={self.trades}], got {self.wins}")

    @property
    def win_rate(self) -> float | None:
        return self.wins / self.trades if self.trades else None
