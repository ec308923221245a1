"""The arena: several decision engines trade side by side on the same snapshots, each with its own paper book.

Each contestant is the live `TradingCycle` with its own engine, `PaperBroker` (own book, same feed, costs
and limits) and a silent notifier: only the primary engine's cycle posts to the channel. The snapshot of a
symbol at an `as_of` is built once and shared, so every contestant answers the same question. Contestants
run concurrently (their LLM calls overlap; the engines share the usage log that holds the daily token
budget); one contestant that raises or overruns its time is marked and skipped for that cycle, never
stalling the others. `standings()` gives equity, return, max drawdown, positions and win rate per position.

`parse_arena("rules,llm:MODEL_A,llm:MODEL_B")` reads the ARENA setting. The wiring into the bot (a job after
the primary cycle, the admin `/arena` command and its chart) is the composition root's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from core.decide.engines import ENGINE_KINDS
from core.errors import UserInputError
from core.execution.paper_book import MemoryBookStore
from core.execution.paper_broker import PaperBroker
from core.models import DecisionRecord, RuntimeState, Snapshot, TradeEvent
from core.protocols import Clock, DecisionEngine, SnapshotSource
from core.risk.guard import RiskGuard
from core.services.cycle import TradingCycle
from core.services.memory_log import MemoryDecisionLog
from core.services.memory_state import MemoryStateStore
from core.trade_stats import trade_stats

log = logging.getLogger(__name__)

BrokerFactory = Callable[[MemoryBookStore], PaperBroker]  # a paper broker on the given (own) book


def parse_arena(text: str) -> tuple[str, ...]:
    """`rules,llm:MODEL_A,llm:MODEL_B` → contestant engine names; UserInputError naming the bad part."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    for name in names:
        kind, colon, model = name.partition(":")
        if not ((kind in ENGINE_KINDS and not colon) or (kind == "llm" and model.strip())):
            raise UserInputError(f"ARENA: {name!r} is not one of {', '.join(ENGINE_KINDS)} or llm:MODEL")
    if len(set(names)) != len(names):
        raise UserInputError(f"ARENA: a contestant is listed twice in {text!r}")
    return names


class _SharedSnapshots:
    """One snapshot per symbol and as_of for every contestant (the same question, computed once)."""

    def __init__(self, source: SnapshotSource) -> None:
        self._source = source
        self._as_of: datetime | None = None
        self._built: dict[str, asyncio.Task[Snapshot]] = {}

    async def snapshot(self, symbol: str, as_of: datetime) -> Snapshot:
        if as_of != self._as_of:
            self._as_of, self._built = as_of, {}
        task = self._built.get(symbol)
        if task is None:
            task = asyncio.ensure_future(self._source.snapshot(symbol, as_of))
            self._built[symbol] = task
        return await asyncio.shield(task)


class _Silent:
    """Contestants never post: only the primary engine speaks to followers."""

    async def entry(self, event: TradeEvent, snapshot: Snapshot | None, record: DecisionRecord | None) -> None:
        return None

    async def exit(self, event: TradeEvent) -> None:
        return None

    async def alert(self, text: str) -> None:
        return None


@dataclass(slots=True)
class Contestant:
    name: str
    engine: DecisionEngine
    broker: PaperBroker
    book: MemoryBookStore
    cycle: TradingCycle
    initial_equity: float
    peak: float = 0.0
    max_drawdown_pct: float = 0.0
    failures: int = 0
    last_error: str | None = None
    equity_curve: list[tuple[datetime, float]] = field(default_factory=list)

    def mark(self, at: datetime) -> None:
        equity = self.broker.equity()
        self.peak = max(self.peak, equity, self.initial_equity)
        if self.peak > 0:
            self.max_drawdown_pct = max(self.max_drawdown_pct, (self.peak - equity) / self.peak * 100)
        self.equity_curve.append((at, equity))


@dataclass(frozen=True, slots=True)
class Standing:
    name: str
    equity: float
    return_pct: float
    max_drawdown_pct: float
    trades: int  # positions closed
    win_rate: float | None  # per position
    net_pnl: float  # Σ net of the closed legs
    failures: int


class Arena:
    def __init__(
        self,
        engines: Sequence[tuple[str, DecisionEngine]],
        *,
        snapshots: SnapshotSource,
        guard: RiskGuard,
        broker_factory: BrokerFactory,
        defaults: RuntimeState,
        clock: Clock,
        initial_equity: float,
        timeout_s: float = 600.0,
    ) -> None:
        shared = _SharedSnapshots(snapshots)
        self.timeout_s = timeout_s
        self.contestants: list[Contestant] = []
        for name, engine in engines:
            book = MemoryBookStore()
            broker = broker_factory(book)
            cycle = TradingCycle(
                snapshots=shared, engine=engine, guard=guard, broker=broker, log=MemoryDecisionLog(keep_snapshots=False),
                notifier=_Silent(), state=MemoryStateStore(), defaults=defaults, clock=clock, record_last_cycle=False,
            )
            self.contestants.append(Contestant(name, engine, broker, book, cycle, initial_equity))

    async def run(self, as_of: datetime) -> dict[str, str | None]:
        """One cycle for every contestant at once; name → None when it ran, else why it did not."""
        results = await asyncio.gather(*(self._run_one(c, as_of) for c in self.contestants))
        return {c.name: r for c, r in zip(self.contestants, results, strict=True)}

    async def _run_one(self, contestant: Contestant, as_of: datetime) -> str | None:
        try:
            async with asyncio.timeout(self.timeout_s):
                await contestant.cycle.run(as_of)
            contestant.last_error = None
        except Exception as error:  # one contestant's failure must never stall the others
            reason = "timeout" if isinstance(error, TimeoutError) else f"{type(error).__name__}: {error}"
            contestant.failures += 1
            contestant.last_error = reason[:200]
            log.warning("arena contestant %s failed at %s: %s", contestant.name, as_of, reason)
        contestant.mark(as_of)
        return contestant.last_error

    async def standings(self) -> list[Standing]:
        """Best return first."""
        rows = []
        for c in self.contestants:
            legs = await c.book.closed_trades()
            stats = trade_stats(legs)
            equity = c.broker.equity()
            rows.append(Standing(
                name=c.name,
                equity=equity,
                return_pct=(equity / c.initial_equity - 1) * 100,
                max_drawdown_pct=c.max_drawdown_pct,
                trades=stats.positions,
                win_rate=stats.win_rate,
                net_pnl=sum(leg.net_pnl for leg in legs),
                failures=c.failures,
            ))
        return sorted(rows, key=lambda r: -r.return_pct)
