from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from core.clock import SimulatedClock
from core.config import CostModel, RiskLimits
from core.execution.paper_book import MemoryBookStore
from core.execution.paper_broker import PaperBroker, to_ms
from core.models import Decision, RuntimeState
from core.risk.guard import RiskGuard
from core.services.cycle import TradingCycle, cycle_id_for, signal_id_for
from core.services.memory_log import MemoryDecisionLog
from core.services.memory_state import MemoryStateStore
from tests.core.csv_feed import HOUR_MS, ArrayBarFeed
from tests.core.cycle_fakes import ArraySnapshotSource, RecordingNotifier, ScriptedEngine

T0 = datetime(2024, 1, 1, tzinfo=UTC)
SYMS = ("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT")


def series(n=200, drift=0.0):
    t0 = to_ms(T0)
    close = 100 + drift * np.arange(n)
    return np.column_stack([t0 + np.arange(n) * HOUR_MS, close, close + 0.8, close - 0.8, close])


def long_decision(snapshot):
    p = snapshot.price
    return Decision("long", 0.8, p * 0.98, (p * 1.04, p * 1.06), 5)


def build(decide=long_decision, bars=None, fail=None, limits=None, store=None):
    bars = bars or {s: series() for s in SYMS}
    feed = ArrayBarFeed(bars, {})
    clock = SimulatedClock(T0)
    limits = limits or RiskLimits(max_open_positions=5)
    broker = PaperBroker(feed=feed, store=store or MemoryBookStore(), clock=clock, initial_equity=10_000.0,
                         costs=CostModel(), limits=limits)
    state = MemoryStateStore()
    defaults = RuntimeState(False, True, 10, SYMS)
    log = MemoryDecisionLog()
    notifier = RecordingNotifier()
    engine = ScriptedEngine(decide)
    cycle = TradingCycle(snapshots=ArraySnapshotSource(bars, fail), engine=engine, guard=RiskGuard(limits),
                         broker=broker, log=log, notifier=notifier, state=state, defaults=defaults, clock=clock)
    return cycle, broker, log, notifier, state, engine


def test_ids():
    at = datetime(2024, 3, 1, 12, 34, tzinfo=UTC)
    assert cycle_id_for(at) == "2024-03-01T12"
    assert signal_id_for("2024-03-01T12", "BTC/USDT:USDT") == "2024-03-01T12-BTCUSDT"


async def test_rerun_of_the_same_hour_is_a_no_op():
    cycle, broker, _log, notifier, _, engine = build()
    at = T0 + timedelta(hours=50)
    first = await cycle.run(at)
    assert sorted(first.approved) == sorted(SYMS)
    again = await cycle.run(at + timedelta(minutes=20))
    assert sorted(again.skipped) == sorted(SYMS) and engine.calls == 3
    assert len(await broker.pending_orders()) == 3
    summary = await cycle.run(at + timedelta(hours=1))
    assert len(await broker.positions()) == 3  # filled once each, never doubled
    assert [e.kind for e in summary.events] == ["entry"] * 3
    assert {s for s, r in summary.rejected.items() if r == "position_exists"} == set(SYMS)
    _event, snapshot, record = notifier.entries[0]
    assert snapshot is not None and record.decision.action == "long"  # announced with its decision


async def test_one_symbol_failing_never_stops_the_others():
    cycle, _broker, log, *_ = build(fail={"ETH/USDT:USDT"})
    summary = await cycle.run(T0 + timedelta(hours=50))
    assert "ETH/USDT:USDT" in summary.errors and sorted(summary.approved) == ["BTC/USDT:USDT", "SOL/USDT:USDT"]
    failed = await log.signal(signal_id_for(summary.cycle_id, "ETH/USDT:USDT"))
    assert failed.error.startswith("snapshot")


async def test_record_is_stored_before_the_broker_executes():
    cycle, broker, log, *_ = build()
    seen = []
    original = broker.execute

    async def checking_execute(intent):
        seen.append(await log.cycle_done(intent.cycle_id, intent.symbol))
        return await original(intent)

    broker.execute = checking_execute
    await cycle.run(T0 + timedelta(hours=50))
    assert seen == [True, True, True]


async def test_close_decision_closes_the_open_position():
    holding = {"n": 0}

    def decide(snapshot):
        holding["n"] += 1
        return long_decision(snapshot) if holding["n"] <= 3 else Decision("close", 0.9)

    cycle, broker, _, notifier, *_ = build(decide)
    await cycle.run(T0 + timedelta(hours=50))
    await cycle.run(T0 + timedelta(hours=51))  # fills, then the engine says close
    assert await broker.positions() == []
    assert {e.reason for e in notifier.exits} == {"signal"}


async def test_kill_switch_pauses_through_the_system_path_and_alerts():
    bars = {s: series(200, drift=0.0) for s in SYMS}
    for s in SYMS:
        bars[s][60:, 1:5] *= 0.5  # a crash far through every stop
    limits = RiskLimits(max_open_positions=5, max_drawdown_pct=2.0)
    cycle, _broker, _, notifier, state, _ = build(bars=bars, limits=limits)
    await cycle.run(T0 + timedelta(hours=50))
    await cycle.run(T0 + timedelta(hours=51))
    summary = await cycle.run(T0 + timedelta(hours=62))
    # a 50 % gap is past the isolated-margin liquidation price too: liquidated there, not filled at the open
    assert {e.reason for e in summary.events if e.kind == "exit"} == {"liquidation"}
    st = await state.load_state(RuntimeState(False, True, 10, SYMS))
    assert st.paused and "drawdown_kill_switch" in st.pause_reason
    assert any("Kill-switch" in a for a in notifier.alerts)
    (audit,) = [a for a in await state.audit() if a.action == "pause"]
    assert audit.actor == "system"
    assert set(summary.rejected.values()) == {"paused"}


async def test_monitor_enforces_stops_between_cycles():
    bars = {s: series() for s in SYMS}
    bars["BTC/USDT:USDT"][55, 3] = 50.0
    cycle, _broker, _, notifier, *_ = build(bars=bars)
    await cycle.run(T0 + timedelta(hours=50))
    events = await cycle.monitor(T0 + timedelta(hours=57))
    assert [(e.symbol, e.reason) for e in events if e.kind == "exit"] == [("BTC/USDT:USDT", "stop")]
    assert notifier.exits[0].trade.exit_price == pytest.approx(notifier.exits[0].trade.stop_loss * (1 - 0.0002))


@pytest.mark.parametrize("concurrent", [True, False])
async def test_intents_approved_earlier_in_the_cycle_count_for_the_next_review(concurrent):
    # the paper fill only comes at the next bar's open, so without counting this cycle's intents the
    # guard would see an empty book for every symbol and let both longs of one group through
    limits = RiskLimits(max_open_positions=2, correlation_groups=(("BTC/USDT:USDT", "ETH/USDT:USDT"),))
    cycle, broker, log, *_ = build(limits=limits)
    cycle._concurrent = concurrent
    summary = await cycle.run(T0 + timedelta(hours=50))
    assert summary.approved == ["BTC/USDT:USDT", "SOL/USDT:USDT"]  # the admins' order, every time
    assert summary.rejected == {"ETH/USDT:USDT": "correlated_exposure"}
    assert len(await broker.pending_orders()) == 2
    eth = await log.signal(signal_id_for(summary.cycle_id, "ETH/USDT:USDT"))
    assert eth.verdict.reason == "correlated_exposure"


async def test_the_position_cap_counts_this_cycles_intents():
    cycle, broker, *_ = build(limits=RiskLimits(max_open_positions=2))
    summary = await cycle.run(T0 + timedelta(hours=50))
    assert summary.approved == ["BTC/USDT:USDT", "ETH/USDT:USDT"]
    assert summary.rejected == {"SOL/USDT:USDT": "max_positions"}
    assert len(await broker.pending_orders()) == 2


async def test_a_breaker_tripped_before_a_restart_still_holds_that_day():
    cycle, _broker, _log, _n, state, _e = build(limits=RiskLimits(max_open_positions=5))
    at = T0 + timedelta(hours=50)
    await state.set_value("daily_breaker_day", at.date().isoformat())  # stored by the process that died
    summary = await cycle.run(at)
    assert summary.approved == [] and set(summary.rejected.values()) == {"daily_loss_breaker"}
    next_day = await cycle.run(datetime.combine(at.date() + timedelta(days=1), datetime.min.time(), UTC))
    assert sorted(next_day.approved) == sorted(SYMS)


async def test_paused_symbols_without_a_position_build_no_snapshot():
    # #18: a 64-symbol replay 96.6 % paused spent 22–32 s building snapshots nobody looked at
    cycle, broker, log, _, state, engine = build()
    await cycle.run(T0 + timedelta(hours=50))
    await cycle.run(T0 + timedelta(hours=51))  # BTC, ETH, SOL filled
    await broker.close_position("ETH/USDT:USDT", reason="manual")
    await broker.close_position("SOL/USDT:USDT", reason="manual")
    await state.save_state(replace(await state.load_state(RuntimeState(False, True, 10, SYMS)), paused=True))
    asked = []
    source = cycle._snapshots
    original = source.snapshot

    async def counting(symbol, as_of):
        asked.append(symbol)
        return await original(symbol, as_of)

    source.snapshot = counting
    calls = engine.calls
    summary = await cycle.run(T0 + timedelta(hours=52))
    assert asked == ["BTC/USDT:USDT"]  # the open position is still managed on a fresh snapshot
    assert summary.rejected == {"BTC/USDT:USDT": "position_exists", "ETH/USDT:USDT": "paused", "SOL/USDT:USDT": "paused"}
    assert engine.calls == calls + 1
    paused = await log.signal(signal_id_for(summary.cycle_id, "ETH/USDT:USDT"))
    assert paused.verdict.reason == "paused" and paused.snapshot is None
