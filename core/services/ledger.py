"""What freqtrade's users ask their bot from chat — /balance, /profit, /performance, /daily, /weekly,
/monthly, /trades, /count — read from the track record and the broker. Trades are positions (legs summed,
`core.trade_stats`); a position belongs to the period in which its last leg closed. Read-only."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from core.errors import UserInputError
from core.models import AccountView, ClosedTrade
from core.protocols import Broker, Clock, TradeHistory
from core.trade_stats import PositionResult, TradeStats, legs_of_positions_closed, positions_of, trade_stats

Period = Literal["daily", "weekly", "monthly"]
MAX_ROWS = 60


@dataclass(frozen=True, slots=True)
class PeriodRow:
    start: date
    positions: int
    wins: int
    net_pnl: float  # every leg closed in the period


@dataclass(frozen=True, slots=True)
class SymbolRow:
    symbol: str
    positions: int
    wins: int
    net_pnl: float


@dataclass(frozen=True, slots=True)
class ProfitReport:
    days: int | None  # None: since the start
    stats: TradeStats  # the positions that finished in the window, all legs included
    realised: float  # every leg closed in the window
    fees: float
    equity: float
    first_entry: datetime | None


def _count(text: str | None, name: str, default: int, cap: int = MAX_ROWS) -> int:
    raw = (text or "").strip()
    if not raw:
        return default
    if not raw.isdecimal() or not (1 <= int(raw) <= cap):
        raise UserInputError(f"{name} takes a whole number from 1 to {cap}, got {raw!r}")
    return int(raw)


def _period_start(moment: datetime, period: Period) -> date:
    day = moment.astimezone(UTC).date()
    if period == "daily":
        return day
    if period == "weekly":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _step_back(start: date, period: Period) -> date:
    if period == "daily":
        return start - timedelta(days=1)
    if period == "weekly":
        return start - timedelta(days=7)
    return (start - timedelta(days=1)).replace(day=1)


class LedgerReports:
    def __init__(self, *, history: TradeHistory, broker: Broker, clock: Clock) -> None:
        self._history = history
        self._broker = broker
        self._clock = clock

    async def _legs_and_account(self) -> tuple[list[ClosedTrade], AccountView]:
        return await self._history.closed_trades(), await self._broker.account()

    async def balance(self) -> AccountView:
        return await self._broker.account()

    async def profit(self, days: str | None = None) -> ProfitReport:
        span = _count(days, "/profit", 0, cap=3650) if days and days.strip() else None
        legs, account = await self._legs_and_account()
        since = None if span is None else self._clock.now() - timedelta(days=span)
        open_ids = {p.id for p in account.positions}
        finished = trade_stats(legs_of_positions_closed(legs, since=since, open_ids=open_ids))
        window = [t for t in legs if since is None or t.exit_time >= since]
        return ProfitReport(
            days=span,
            stats=finished,
            realised=sum(t.net_pnl for t in window),
            fees=sum(t.fees for t in window),
            equity=account.equity,
            first_entry=min((t.entry_time for t in legs), default=None),
        )

    async def performance(self) -> list[SymbolRow]:
        legs, account = await self._legs_and_account()
        finished = positions_of(legs_of_positions_closed(legs, open_ids={p.id for p in account.positions}))
        by_symbol: dict[str, list[PositionResult]] = defaultdict(list)
        for p in finished:
            by_symbol[p.symbol].append(p)
        rows = [
            SymbolRow(symbol, len(ps), sum(1 for p in ps if p.net_pnl > 0), sum(p.net_pnl for p in ps))
            for symbol, ps in by_symbol.items()
        ]
        return sorted(rows, key=lambda r: -r.net_pnl)

    async def periods(self, period: Period, count: str | None = None) -> list[PeriodRow]:
        default = {"daily": 7, "weekly": 4, "monthly": 6}[period]
        n = _count(count, f"/{period}", default)
        legs, account = await self._legs_and_account()
        positions = positions_of(legs_of_positions_closed(legs, open_ids={p.id for p in account.positions}))
        starts = [_period_start(self._clock.now(), period)]
        while len(starts) < n:
            starts.append(_step_back(starts[-1], period))
        rows = []
        for i, start in enumerate(starts):
            begin = datetime.combine(start, time(0), tzinfo=UTC)
            end = datetime.combine(starts[i - 1], time(0), tzinfo=UTC) if i else None
            inside = [p for p in positions if p.exit_time >= begin and (end is None or p.exit_time < end)]
            realised = sum(t.net_pnl for t in legs if t.exit_time >= begin and (end is None or t.exit_time < end))
            rows.append(PeriodRow(start, len(inside), sum(1 for p in inside if p.net_pnl > 0), realised))
        return rows

    async def trades(self, count: str | None = None) -> list[PositionResult]:
        n = _count(count, "/trades", 10)
        legs, account = await self._legs_and_account()
        finished = positions_of(legs_of_positions_closed(legs, open_ids={p.id for p in account.positions}))
        return sorted(finished, key=lambda p: p.exit_time, reverse=True)[:n]

    async def count(self) -> tuple[int, Sequence[str]]:
        positions = await self._broker.positions()
        return len(positions), tuple(p.symbol for p in positions)
