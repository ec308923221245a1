"""The small protocols through which `core` reaches the outside world (DESIGN §2).

Real implementations: market data in core gateways (ccxt, offline files), storage-backed stores in
`storage/`, the Telegram notifier in `bot/`. Tests and replay use in-memory ones.

The protocols shared by several consumers live here. A protocol with one consumer lives beside it:
- `core.decide`: `cache.DecisionCache`, `capabilities.CapabilityStore`, `usage.UsageLog` (LLM engine's stores)
- `core.execution`: `paper_book.BookStore`, `paper_broker.BarFeed`, `exchange_ledger.ExchangeLedger`,
  `reconcile.PositionKeeper`
- `core.services`: `outbox.Outbox` (notifier → publisher), `track_record.LiveTrades`, `news_analyst.ScoreCache`
- `core.market` (#17): `news.NewsProvider`, `news.FearGreedProvider`, `news.NewsStore`, `sentiment.HeadlineScorer`
- outside core: `bot.telegram.publisher.PostSender`, `handlers.public.ChartSource`,
  `jobs.daily_job.DailyNotifier`, `jobs.pulse_job.PulseNotifier`
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:  # annotations only: importing the kernel must not cost pandas' import (#18)
    import pandas as pd

from core.models import (
    AccountView,
    AuditEntry,
    ClosedTrade,
    DecisionRecord,
    GuardVerdict,
    OrderIntent,
    Position,
    RuntimeState,
    Snapshot,
    TradeEvent,
)

Alert = Callable[[str], Awaitable[None]]
"""How a message reaches the admins (Notifier.alert, or a stand-in in tests)."""


class Clock(Protocol):
    def now(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class Ticker:
    symbol: str
    last: float
    bid: float | None
    ask: float | None
    quote_volume_24h: float | None
    change_24h_pct: float | None = None

    @property
    def spread_bps(self) -> float | None:
        if self.bid is None or self.ask is None or self.bid <= 0:
            return None
        return (self.ask - self.bid) / ((self.ask + self.bid) / 2) * 10_000


@dataclass(frozen=True, slots=True)
class OrderBookTop:
    symbol: str
    bid: float
    bid_size: float
    ask: float
    ask_size: float


@runtime_checkable
class MarketData(Protocol):
    """Candles frames have a UTC DatetimeIndex of bar **open** times and columns open, high, low, close, volume.

    `until` is exclusive on the bar's close: only bars with open_time + timeframe <= until are returned,
    so nothing a caller gets can be from the future of `until`.
    """

    async def candles(self, symbol: str, timeframe: str, *, until: datetime, limit: int) -> pd.DataFrame: ...

    async def funding_rates(self, symbol: str, *, since: datetime, until: datetime) -> pd.Series:
        """Settled funding rates per interval, indexed by settlement time (UTC), at or before `until`."""
        ...

    async def ticker(self, symbol: str) -> Ticker: ...

    async def symbols(self) -> Sequence[str]:
        """Every symbol this source can serve (exchange markets, or what is on disk)."""
        ...

    async def close(self) -> None: ...


class DecisionEngine(Protocol):
    name: str

    async def decide(self, snapshot: Snapshot, account: AccountView) -> DecisionRecord: ...


class Broker(Protocol):
    """Paper or exchange: the only place where dry-run is decided (DESIGN §3)."""

    async def account(self) -> AccountView: ...

    async def positions(self) -> list[Position]: ...

    async def execute(self, intent: OrderIntent) -> list[TradeEvent]:
        """Submit an approved intent. Idempotent per (cycle_id, symbol). Paper fills at the next bar's open,
        so this may return no event yet; the fill arrives from `sync`."""
        ...

    async def sync(self, as_of: datetime) -> list[TradeEvent]:
        """Bring the book up to `as_of`: fills, stops, targets, trailing, stale exits, funding, liquidation."""
        ...

    async def close_position(self, symbol: str, reason: str = "manual") -> list[TradeEvent]: ...

    async def close_all(self, reason: str = "manual") -> list[TradeEvent]: ...


class Notifier(Protocol):
    """Where followers and admins hear about things. The Telegram one posts through a durable outbox."""

    async def entry(self, event: TradeEvent, snapshot: Snapshot | None, record: DecisionRecord | None) -> None: ...

    async def exit(self, event: TradeEvent) -> None: ...

    async def alert(self, text: str) -> None:
        """To the admins only."""
        ...


class StateStore(Protocol):
    """Runtime state (paused, dry-run, leverage cap, symbols) and its audit trail."""

    def changing(self) -> AbstractAsyncContextManager[object]:
        """Held around load → change → save (core.services.state_change.change_state), so that concurrent changes (two
        admins, an admin and the kill-switch) apply on top of each other instead of overwriting."""
        ...

    async def load_state(self, defaults: RuntimeState) -> RuntimeState: ...

    async def save_state(self, state: RuntimeState) -> None: ...

    async def append_audit(self, entry: AuditEntry) -> None: ...

    async def audit(self, limit: int = 20) -> list[AuditEntry]: ...

    async def get_value(self, key: str) -> str | None: ...

    async def set_value(self, key: str, value: str) -> None: ...


@dataclass(frozen=True, slots=True)
class CycleRecord:
    """What one symbol's turn of a cycle decided, stored before anything executes."""

    cycle_id: str
    symbol: str
    as_of: datetime
    snapshot: Snapshot | None
    record: DecisionRecord | None
    verdict: GuardVerdict | None
    signal_id: str
    error: str | None = None


class DecisionLog(Protocol):
    async def cycle_done(self, cycle_id: str, symbol: str) -> bool: ...

    async def record_cycle(self, entry: CycleRecord) -> None: ...

    async def signal(self, signal_id: str) -> CycleRecord | None: ...

    async def guard_counts(self) -> dict[str, int]: ...


class TradeHistory(Protocol):
    async def closed_trades(self, since: datetime | None = None) -> list[ClosedTrade]: ...

    async def equity_curve(self, since: datetime | None = None) -> list[tuple[datetime, float]]: ...


class SnapshotSource(Protocol):
    """Point-in-time snapshots for the cycle. Live: built from `MarketData` (last ~500 bars per frame);
    replay: indicators precomputed once per series and sliced per bar (causal, so the values agree)."""

    async def snapshot(self, symbol: str, as_of: datetime) -> Snapshot: ...
