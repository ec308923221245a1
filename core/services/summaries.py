"""The values the Market Pulse and the daily summary are made of: built by the jobs, worded by
`bot.telegram.post_format`. Here, below both, so that jobs never import Telegram presentation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from core.models import DomainError, Position, Sentiment


@dataclass(frozen=True, slots=True)
class PulseItem:
    symbol: str
    price: float
    change_24h_pct: float | None
    funding_rate: float | None
    regime: str
    view: str  # the engine's one-line view
    doing: str = ""  # what the bot did about it this hour (entered, refused by the guard and why)
    sentiment: Sentiment | None = None  # news and Fear & Greed at the pulse's time (#17)


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
    days: int = 1  # 7: the weekly summary, `day` being its Monday

    def __post_init__(self) -> None:
        if not (0 <= self.wins <= self.trades):
            raise DomainError(f"wins must be within [0, trades={self.trades}], got {self.wins}")
        if self.days < 1:
            raise DomainError(f"days must be at least 1, got {self.days}")

    @property
    def win_rate(self) -> float | None:
        return self.wins / self.trades if self.trades else None


@dataclass(frozen=True, slots=True)
class TrackRecordCard:
    """The channel's pinned, edited-in-place ledger: positions closed since the first, P&L, max drawdown."""

    since: datetime | None
    as_of: datetime
    positions: int
    wins: int
    net_pnl: float
    pnl_pct: float | None
    max_drawdown_pct: float | None
    equity: float
    open_positions: int = 0
