"""Stand-ins behind the core protocols for handler tests (a real ControlService runs on top of them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pandas as pd

from core.config import RiskLimits
from core.models import AccountView, ClosedTrade, Position, RuntimeState, TradeEvent
from core.protocols import CycleRecord, Ticker
from core.services.control import ControlService
from core.services.memory_state import MemoryStateStore

NOW = datetime(2024, 3, 1, 12, tzinfo=UTC)
MARKETS = ("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT", "LTC/USDT:USDT")


class FixedClock:
    def __init__(self, now: datetime = NOW) -> None:
        self.moment = now

    def now(self) -> datetime:
        return self.moment


def position(symbol: str = "BTC/USDT:USDT") -> Position:
    return Position(
        id=f"p-{symbol}", symbol=symbol, side="long", qty=0.1, entry_price=60_000.0, entry_time=NOW,
        leverage=3, stop_loss=59_000.0, initial_stop=59_000.0, take_profit=(62_000.0, 63_000.0),
        liquidation_price=40_500.0, margin=2_000.0, signal_id="2024-03-01T12-BTC",
    )


@dataclass
class FakeBroker:
    open_positions: list[Position] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)

    async def account(self) -> AccountView:
        return AccountView(equity=10_250.0, available=8_000.0, positions=tuple(self.open_positions),
                           day_start_equity=10_000.0)

    async def positions(self) -> list[Position]:
        return list(self.open_positions)

    async def execute(self, intent: object) -> list[TradeEvent]:
        return []

    async def sync(self, as_of: datetime) -> list[TradeEvent]:
        return []

    async def close_position(self, symbol: str, reason: str = "manual") -> list[TradeEvent]:
        events = []
        for p in [p for p in self.open_positions if p.symbol == symbol]:
            self.open_positions.remove(p)
            self.closed.append(p.symbol)
            events.append(TradeEvent(kind="exit", position_id=p.id, symbol=p.symbol, side=p.side, time=NOW,
                                     price=61_000.0, qty=p.qty, reason=reason, net_pnl=95.5))
        return events

    async def close_all(self, reason: str = "manual") -> list[TradeEvent]:
        events: list[TradeEvent] = []
        for p in list(self.open_positions):
            events += await self.close_position(p.symbol, reason)
        return events


class FakeMarketData:
    async def candles(self, symbol: str, timeframe: str, *, until: datetime, limit: int) -> pd.DataFrame:
        raise NotImplementedError

    async def funding_rates(self, symbol: str, *, since: datetime, until: datetime) -> pd.Series:
        raise NotImplementedError

    async def ticker(self, symbol: str) -> Ticker:
        if symbol != "BTC/USDT:USDT":
            raise ConnectionError(f"no ticker for {symbol}")
        return Ticker(symbol, 61_000.0, None, None, 1e9)

    async def symbols(self) -> Sequence[str]:
        return MARKETS

    async def close(self) -> None:
        return None


@dataclass
class FakeLog:
    records: dict[str, CycleRecord] = field(default_factory=dict)

    async def cycle_done(self, cycle_id: str, symbol: str) -> bool:
        return False

    async def record_cycle(self, entry: CycleRecord) -> None:
        self.records[entry.signal_id] = entry

    async def signal(self, signal_id: str) -> CycleRecord | None:
        return self.records.get(signal_id)

    async def guard_counts(self) -> dict[str, int]:
        return {"approved": 2, "low_confidence": 5}


@dataclass
class FakeHistory:
    trades: list[ClosedTrade] = field(default_factory=list)

    async def closed_trades(self, since: datetime | None = None) -> list[ClosedTrade]:
        return [t for t in self.trades if since is None or t.exit_time >= since]

    async def equity_curve(self, since: datetime | None = None) -> list[tuple[datetime, float]]:
        return [(NOW - timedelta(hours=h), 10_000.0 + 10 * (48 - h)) for h in range(48, -1, -1)]


@dataclass(frozen=True)
class FakeCycleSummary:
    cycle_id: str
    symbols: int
    entries: int


class FakeCycle:
    def __init__(self) -> None:
        self.runs: list[datetime] = []

    async def run(self, as_of: datetime) -> FakeCycleSummary:
        self.runs.append(as_of)
        return FakeCycleSummary(cycle_id=as_of.strftime("%Y-%m-%dT%H"), symbols=2, entries=0)


DEFAULTS = RuntimeState(paused=False, dry_run=True, max_leverage=5, symbols=("BTC/USDT:USDT", "ETH/USDT:USDT"))


def build_control(
    *, broker: FakeBroker | None = None, clock: FixedClock | None = None, live_blocker: str | None = None,
    log: FakeLog | None = None, cycle: FakeCycle | None = None, notifier: object | None = None,
    confirmation_clock: FixedClock | None = None,
) -> ControlService:
    return ControlService(
        state_store=MemoryStateStore(), defaults=DEFAULTS, limits=RiskLimits(), broker=broker or FakeBroker(),
        market_data=FakeMarketData(), cycle=cycle, clock=clock or FixedClock(), decision_log=log or FakeLog(),
        history=FakeHistory(), guard=None,  # type: ignore[arg-type]  # the service only stores it
        live_allowed=lambda: live_blocker, confirmation_ttl_s=120, confirmation_clock=confirmation_clock,
        notifier=notifier,  # type: ignore[arg-type]
    )
