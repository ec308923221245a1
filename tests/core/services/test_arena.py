"""The arena: contestants on the same snapshots, own paper books, concurrent, failures isolated."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from core.clock import SimulatedClock
from core.config import CostModel, RiskLimits
from core.errors import UserInputError
from core.evaluation.arena_standings import standings
from core.execution.paper_broker import PaperBroker
from core.models import AccountView, Decision, DecisionRecord, RuntimeState, Snapshot
from core.protocols import Ticker
from core.risk.guard import RiskGuard
from core.services.arena import Arena, parse_arena
from tests.core.csv_feed import ArrayBarFeed
from tests.core.cycle_fakes import ArraySnapshotSource, MomentumEngine, ScriptedEngine
from tests.core.services.test_cycle import SYMS, T0, series


class CountingSource(ArraySnapshotSource):
    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.built = 0

    async def snapshot(self, symbol: str, as_of):  # type: ignore[no-untyped-def]
        self.built += 1
        return await super().snapshot(symbol, as_of)


class Broken:
    name = "broken"

    async def decide(self, snapshot: Snapshot, account: AccountView) -> DecisionRecord:
        raise RuntimeError("the model server went away")


class Slow:
    name = "slow"

    async def decide(self, snapshot: Snapshot, account: AccountView) -> DecisionRecord:
        await asyncio.sleep(30)
        raise AssertionError("never reached")


def arena(engines, bars, timeout_s: float = 5.0):  # type: ignore[no-untyped-def]
    clock = SimulatedClock(T0)
    limits = RiskLimits(max_open_positions=5)
    feed = ArrayBarFeed(bars, {})
    source = CountingSource(bars)
    made = Arena(
        engines,
        snapshots=source,
        guard=RiskGuard(limits),
        broker_factory=lambda book: PaperBroker(feed=feed, store=book, clock=clock, initial_equity=10_000.0,
                                                costs=CostModel(), limits=limits),
        defaults=RuntimeState(False, True, 10, SYMS),
        clock=clock,
        initial_equity=10_000.0,
        timeout_s=timeout_s,
    )
    return made, clock, source


def flat(snapshot: Snapshot) -> Decision:
    return Decision.hold("no edge")


async def test_contestants_trade_their_own_books_on_the_same_snapshots() -> None:
    bars = {s: series(n=300, drift=0.05 if i % 2 == 0 else -0.05) for i, s in enumerate(SYMS)}
    holder = ScriptedEngine(flat)
    a, clock, source = arena([("momentum", MomentumEngine()), ("hold", holder)], bars)
    for h in range(50, 120):
        at = T0 + timedelta(hours=h)
        clock.set(at)
        assert await a.run(at) == {"momentum": None, "hold": None}
    assert source.built == 70 * len(SYMS)  # one snapshot per symbol and hour, shared by both
    assert holder.calls == 70 * len(SYMS)
    rows = {r.name: r for r in await standings(a)}
    assert rows["hold"].equity == 10_000.0 and rows["hold"].trades == 0 and rows["hold"].win_rate is None
    momentum = rows["momentum"]
    assert momentum.trades > 0 and momentum.equity != 10_000.0 and 0 <= momentum.max_drawdown_pct < 100
    contestant = next(c for c in a.contestants if c.name == "momentum")
    await contestant.broker.close_all(reason="end")
    legs = await contestant.book.closed_trades()
    # Each book reconciles on its own: final = initial + Σ net.
    assert contestant.broker.equity() == pytest.approx(10_000.0 + sum(leg.net_pnl for leg in legs), abs=1e-6)


async def test_one_contestants_failure_or_stall_never_stops_the_others() -> None:
    bars = {s: series(n=300, drift=0.05) for s in SYMS}
    a, clock, _ = arena([("momentum", MomentumEngine()), ("broken", Broken()), ("slow", Slow())], bars,
                        timeout_s=0.5)
    at = T0 + timedelta(hours=60)
    clock.set(at)
    loop = asyncio.get_running_loop()
    started = loop.time()
    outcome = await a.run(at)
    assert loop.time() - started < 5  # the slow one was cut at its time, the others did not wait
    assert outcome["momentum"] is None and outcome["slow"] == "timeout"
    momentum = next(c for c in a.contestants if c.name == "momentum")
    assert len(await momentum.broker.pending_orders()) == len(SYMS)  # it traded regardless
    rows = {r.name: r for r in await standings(a)}
    assert rows["slow"].failures == 1 and rows["broken"].equity == 10_000.0


def test_arena_setting() -> None:
    assert parse_arena("rules, llm:gpt-4o-mini,llm:deepseek-chat") == ("rules", "llm:gpt-4o-mini", "llm:deepseek-chat")
    assert parse_arena("trend,llm") == ("trend", "llm")
    for bad in ("rules,magic", "llm:", "rules,rules"):
        with pytest.raises(UserInputError, match="ARENA"):
            parse_arena(bad)


class WideSpreads:
    """Live tickers whose spread is far over MAX_SPREAD_BPS: no entry may pass the guard on them."""

    async def ticker(self, symbol: str) -> Ticker:
        return Ticker(symbol, 100.0, 99.0, 101.0, 1e9)


async def test_contestants_meet_the_live_spread_filter_like_the_primary() -> None:
    """Was: the contestants' cycles got no market data, so the guard's spread filter never saw a ticker."""
    bars = {s: series(n=300, drift=0.05) for s in SYMS}
    clock = SimulatedClock(T0)
    limits = RiskLimits(max_open_positions=5)
    feed = ArrayBarFeed(bars, {})
    a = Arena(
        [("momentum", MomentumEngine())], snapshots=ArraySnapshotSource(bars), guard=RiskGuard(limits),
        broker_factory=lambda book: PaperBroker(feed=feed, store=book, clock=clock, initial_equity=10_000.0,
                                                costs=CostModel(), limits=limits),
        defaults=RuntimeState(False, True, 10, SYMS), clock=clock, initial_equity=10_000.0,
        market_data=WideSpreads(),  # type: ignore[arg-type]
    )
    at = T0 + timedelta(hours=60)
    clock.set(at)
    assert await a.run(at) == {"momentum": None}
    (momentum,) = a.contestants
    assert await momentum.broker.pending_orders() == []
    records = momentum.cycle._log.records()  # type: ignore[attr-defined]
    assert {r.verdict.reason for r in records if r.verdict is not None} == {"spread_too_wide"}


async def test_contestants_follow_the_bots_symbols_and_keep_their_own_pause_in_its_store() -> None:
    from core.services.memory_state import MemoryStateStore

    bars = {s: series(n=300, drift=0.05) for s in SYMS}
    shared = MemoryStateStore()
    defaults = RuntimeState(False, True, 10, SYMS)
    await shared.save_state(RuntimeState(True, False, 3, SYMS[:1], "an admin's /pause"))  # the bot's own state

    def build() -> tuple[Arena, ScriptedEngine, SimulatedClock]:
        clock = SimulatedClock(T0)
        limits = RiskLimits(max_open_positions=5)
        feed = ArrayBarFeed(bars, {})
        holder = ScriptedEngine(flat)
        made = Arena([("hold", holder)], snapshots=ArraySnapshotSource(bars), guard=RiskGuard(limits),
                     broker_factory=lambda book: PaperBroker(feed=feed, store=book, clock=clock, initial_equity=10_000.0,
                                                             costs=CostModel(), limits=limits),
                     defaults=defaults, clock=clock, initial_equity=10_000.0, state=shared)
        return made, holder, clock

    a, holder, clock = build()
    at = T0 + timedelta(hours=60)
    clock.set(at)
    await a.run(at)
    assert holder.calls == 1  # only the symbol the admins kept; the bot's pause is not the contestant's
    state = a.contestants[0].cycle._state  # type: ignore[attr-defined]
    assert (await state.load_state(defaults)) == RuntimeState(False, True, 3, SYMS[:1])
    await state.save_state(RuntimeState(True, True, 3, SYMS[:1], "drawdown kill-switch"))  # its own kill-switch

    again, _, _ = build()  # after a restart, over the same store
    resumed = again.contestants[0].cycle._state  # type: ignore[attr-defined]
    assert (await resumed.load_state(defaults)).pause_reason == "drawdown kill-switch"
    assert await shared.load_state(defaults) == RuntimeState(True, False, 3, SYMS[:1], "an admin's /pause")
