"""The arena: several decision engines trade side by side on the same snapshots, each with its own paper book.

Each contestant is the live `TradingCycle` with its own engine, `PaperBroker` (own book, same feed, costs
and limits) and a silent notifier: only the primary engine's cycle posts to the channel. The snapshot of a
symbol at an `as_of` is built once and shared, so every contestant answers the same question. Contestants
run concurrently (their LLM calls overlap; the engines share the usage log that holds the daily token
budget); one contestant that raises or overruns its time is marked and skipped for that cycle, never
stalling the others. Each book is a `BookStore` from `book_factory` (in the bot: SQLite, one per contestant,
so books survive a restart; in memory by default). The figures of a contestant (`core.evaluation.arena_standings`)
come from its book alone: the same metrics as `aitrader compare`.

`parse_arena("rules,llm:MODEL_A,llm:MODEL_B")` reads the ARENA setting. The wiring into the bot (run after
the primary cycle, the admin `/arena` command and its chart) is the composition root's.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from core.decide.engines import ENGINE_KINDS
from core.errors import UserInputError
from core.execution.paper_book import BookStore, MemoryBookStore
from core.execution.paper_broker import PaperBroker
from core.models import AuditEntry, DecisionRecord, RuntimeState, Snapshot, TradeEvent
from core.protocols import Clock, DecisionEngine, MarketData, SnapshotSource, StateStore
from core.risk.guard import RiskGuard
from core.services.cycle import TradingCycle
from core.services.engine_memory import MEMORY_KEY, MemoryKeeper
from core.services.memory_log import MemoryDecisionLog
from core.services.memory_state import MemoryStateStore

log = logging.getLogger(__name__)

BrokerFactory = Callable[[BookStore], PaperBroker]  # a paper broker on the given (own) book
BookFactory = Callable[[str], BookStore]  # contestant name → its own book


def _memory_book(name: str) -> BookStore:
    return MemoryBookStore()


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


class ContestantState:
    """A contestant's runtime state (a StateStore for its cycle): the symbols and leverage cap the admins set for
    the bot, so every contestant answers for the same symbols as the primary; its own pause (its drawdown
    kill-switch) and its own values (daily-loss breaker day, data warnings) under `arena:<name>:` keys of the
    bot's store, so they survive a restart; it always trades on paper; its audit stays in memory."""

    def __init__(self, shared: StateStore, name: str) -> None:
        self._shared = shared
        self._prefix = f"arena:{name}:"
        self._changing = asyncio.Lock()
        self._audit = MemoryStateStore()

    def changing(self) -> asyncio.Lock:
        return self._changing

    async def load_state(self, defaults: RuntimeState) -> RuntimeState:
        bot = await self._shared.load_state(defaults)
        own = json.loads(await self._shared.get_value(self._prefix + "pause") or '{"paused": false, "reason": ""}')
        return RuntimeState(bool(own["paused"]), True, bot.max_leverage, bot.symbols, str(own["reason"]))

    async def save_state(self, state: RuntimeState) -> None:
        await self._shared.set_value(self._prefix + "pause", json.dumps({"paused": state.paused,
                                                                          "reason": state.pause_reason}))

    async def get_value(self, key: str) -> str | None:
        return await self._shared.get_value(self._prefix + key)

    async def set_value(self, key: str, value: str) -> None:
        await self._shared.set_value(self._prefix + key, value)

    async def append_audit(self, entry: AuditEntry) -> None:
        await self._audit.append_audit(entry)

    async def audit(self, limit: int = 20) -> list[AuditEntry]:
        return await self._audit.audit(limit)


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
    book: BookStore
    cycle: TradingCycle
    initial_equity: float
    memory: MemoryKeeper | None = None  # its engine's memory under arena:<name>:engine_memory (None: keeps none)
    failures: int = 0  # cycles it failed or overran since the process started
    last_error: str | None = None


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
        book_factory: BookFactory = _memory_book,
        market_data: MarketData | None = None,  # live tickers: the guard's spread/volume filters, as the primary's
        state: StateStore | None = None,  # the bot's: its symbols and leverage cap; each contestant's pause kept in it
    ) -> None:
        shared = _SharedSnapshots(snapshots)
        self.timeout_s = timeout_s
        self.contestants: list[Contestant] = []
        for name, engine in engines:
            book = book_factory(name)
            broker = broker_factory(book)
            own = ContestantState(state or MemoryStateStore(), name)
            keeper = MemoryKeeper(engine, own, clock, key=MEMORY_KEY, label=f"arena contestant {name}")
            cycle = TradingCycle(
                snapshots=shared, engine=engine, guard=guard, broker=broker, log=MemoryDecisionLog(keep_snapshots=False),
                notifier=_Silent(), state=own, defaults=defaults,
                clock=clock, record_last_cycle=False,
                market_data=market_data, memory=keeper if keeper.active else None,
            )
            self.contestants.append(Contestant(name, engine, broker, book, cycle, initial_equity,
                                               keeper if keeper.active else None))

    def memory_keepers(self) -> list[MemoryKeeper]:
        """The contestants' engine memories (the bot resumes them at start-up, core.services.engine_memory)."""
        return [c.memory for c in self.contestants if c.memory is not None]

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
        return contestant.last_error
