import asyncio
from datetime import timedelta

import pytest

from core.clock import SimulatedClock
from core.config import RiskLimits
from core.errors import UserInputError
from core.execution.paper_book import MemoryBookStore
from core.execution.paper_broker import PaperBroker
from core.models import RuntimeState
from core.risk.guard import RiskGuard
from core.services.control import ControlService
from core.services.cycle import TradingCycle
from core.services.memory_log import MemoryDecisionLog
from core.services.memory_state import MemoryStateStore
from tests.core.csv_feed import ArrayBarFeed
from tests.core.cycle_fakes import ArraySnapshotSource, RecordingNotifier, ScriptedEngine
from tests.core.services.test_cycle import SYMS, T0, long_decision, series

DEFAULTS = RuntimeState(False, True, 5, SYMS[:2])


class FakeMarkets:
    async def symbols(self):
        return [*SYMS, "DOGE/USDT:USDT"]


def build(live_allowed=lambda: None, state_store=None, confirmation_clock=None):
    bars = {s: series() for s in SYMS}
    clock = SimulatedClock(T0 + timedelta(hours=50))
    store = MemoryBookStore()
    limits = RiskLimits()
    broker = PaperBroker(feed=ArrayBarFeed(bars, {}), store=store, clock=clock, initial_equity=10_000.0)
    state = state_store or MemoryStateStore()
    log = MemoryDecisionLog()
    guard = RiskGuard(limits)
    notifier = RecordingNotifier()
    cycle = TradingCycle(snapshots=ArraySnapshotSource(bars), engine=ScriptedEngine(long_decision), guard=guard,
                         broker=broker, log=log, notifier=notifier, state=state, defaults=DEFAULTS, clock=clock)
    control = ControlService(state_store=state, defaults=DEFAULTS, limits=limits, broker=broker,
                             market_data=FakeMarkets(), cycle=cycle, clock=clock, decision_log=log,
                             history=store, guard=guard, live_allowed=live_allowed,
                             confirmation_ttl_s=60, confirmation_clock=confirmation_clock)
    return control, clock, state


async def test_pause_resume_audited():
    control, _, _state = build()
    st = await control.pause("tg:1", "news")
    assert st.paused and st.pause_reason == "news"
    assert not (await control.resume("cli")).paused
    audit = await control.audit()
    assert [(a.actor, a.action) for a in audit] == [("cli", "resume"), ("tg:1", "pause")]
    assert audit[1].old == "paused=off; pause_reason=" and "paused=on" in audit[1].new


@pytest.mark.parametrize("bad", ["abc", "0", "1000", "21", "-3", "2.5", "", "²", "1²"])  # "²".isdigit() is True
async def test_bad_leverage_is_refused_and_changes_nothing(bad):
    control, _, _ = build()
    with pytest.raises(UserInputError, match="whole number from 1 to 20"):
        await control.set_leverage("tg:1", bad)
    assert (await control.state()).max_leverage == 5 and await control.audit() == []


async def test_set_leverage_and_symbols():
    control, _, _ = build()
    assert (await control.set_leverage("tg:1", " 12 ")).max_leverage == 12
    assert (await control.add_symbols("tg:1", ["doge/usdt:usdt"])).symbols == (*SYMS[:2], "DOGE/USDT:USDT")
    with pytest.raises(UserInputError, match="unknown symbol NOPE/USDT:USDT"):
        await control.add_symbols("tg:1", ["NOPE/USDT:USDT"])
    assert (await control.remove_symbols("tg:1", ["BTC/USDT:USDT"])).symbols == ("ETH/USDT:USDT", "DOGE/USDT:USDT")
    with pytest.raises(UserInputError, match="not traded"):
        await control.remove_symbols("tg:1", ["SOL/USDT:USDT"])
    await control.remove_symbols("tg:1", ["ETH/USDT:USDT"])
    with pytest.raises(UserInputError, match="at least one symbol must remain"):
        await control.remove_symbols("tg:1", ["DOGE/USDT:USDT"])


async def test_going_live_needs_confirmation_by_the_same_actor_before_expiry():
    control, clock, _ = build()
    with pytest.raises(UserInputError, match="confirmation"):
        await control.set_dry_run("tg:1", False)
    c = await control.request_confirmation("tg:1", "live")
    with pytest.raises(UserInputError, match="only the admin who asked"):
        await control.confirm("tg:2", c.token)
    with pytest.raises(UserInputError, match="unknown"):
        await control.confirm("tg:1", "forged")
    assert "dry-run is off" in await control.confirm("tg:1", c.token)
    assert not (await control.state()).dry_run
    with pytest.raises(UserInputError, match="unknown or already used"):
        await control.confirm("tg:1", c.token)
    assert (await control.set_dry_run("tg:1", True)).dry_run
    expired = await control.request_confirmation("tg:1", "live")
    clock.advance(timedelta(seconds=61))
    with pytest.raises(UserInputError, match="expired"):
        await control.confirm("tg:1", expired.token)
    assert (await control.state()).dry_run


async def test_live_refused_with_the_reason():
    control, _, _ = build(live_allowed=lambda: "EXCHANGE_API_KEY is not set")
    with pytest.raises(UserInputError, match="cannot go live: EXCHANGE_API_KEY is not set"):
        await control.request_confirmation("tg:1", "live")
    assert (await control.status()).live_blocker == "EXCHANGE_API_KEY is not set"


async def test_cycle_close_and_close_all_via_confirmation():
    control, clock, _ = build()
    summary = await control.run_cycle_now("tg:1")
    assert sorted(summary.approved) == sorted(SYMS[:2])
    clock.advance(timedelta(hours=1))
    await control.run_cycle_now("cli")
    assert len(await control.positions()) == 2
    with pytest.raises(UserInputError, match="no open position in 'SOL/USDT:USDT'"):
        await control.close_position("tg:1", "SOL/USDT:USDT")
    (event,) = await control.close_position("tg:1", "btc/usdt:usdt")
    assert event.reason == "manual"
    with pytest.raises(UserInputError):
        await control.close_all("tg:1")
    c = await control.request_confirmation("tg:1", "closeall")
    assert (await control.confirm("tg:1", c.token)).startswith("closed 1 position")
    assert await control.positions() == []
    status = await control.status()
    assert status.guard_counts["approved"] == 2 and status.last_cycle_at == clock.now()
    assert status.equity < 10_000.0 and status.day_pnl == pytest.approx(status.equity - 10_000.0)
    stats = await control.stats("all")
    assert stats.trades == 2 and stats.net_pnl == pytest.approx(status.equity - 10_000.0)
    assert stats.equity_points
    with pytest.raises(UserInputError):
        await control.stats("1y")
    rec = await control.why(f"{summary.cycle_id}-BTCUSDT")
    assert rec.verdict.approved
    actions = [a.action for a in await control.audit(50)]
    assert actions.count("run_cycle") == 2 and "close_position" in actions and "close_all" in actions
    assert (await control.risk()).risk_per_trade_pct == 1.5


async def test_status_lines_data():
    control, _, _ = build()
    status = await control.status()
    assert status.state.symbols == SYMS[:2] and status.engine == "rules" and status.last_cycle_at is None
    assert status.positions == () and status.equity == 10_000.0 and status.day_pnl == 0.0


class YieldingStateStore(MemoryStateStore):
    """Reads take a turn of the event loop, as a real store's I/O does (SQLite through aiosqlite)."""

    async def load_state(self, defaults: RuntimeState) -> RuntimeState:
        await asyncio.sleep(0)
        return await super().load_state(defaults)


async def test_concurrent_changes_all_land():
    """aiogram handles updates concurrently: /pause, /leverage and two symbol edits sent at once (and the
    kill-switch firing meanwhile) must each apply on top of the others, never overwrite them."""
    control, _, _ = build(state_store=YieldingStateStore())
    await asyncio.gather(
        control.pause("tg:1", "news"),
        control.set_leverage("tg:2", "7"),
        control.add_symbols("tg:1", ["DOGE/USDT:USDT"]),
        control.remove_symbols("tg:2", ["ETH/USDT:USDT"]),
    )
    state = await control.state()
    assert (state.paused, state.pause_reason, state.max_leverage) == (True, "news", 7)
    assert state.symbols == ("BTC/USDT:USDT", "DOGE/USDT:USDT")
    assert len(await control.audit()) == 4


async def test_a_symbol_edit_is_checked_against_the_state_it_changes():
    control, _, _ = build(state_store=YieldingStateStore())
    results = await asyncio.gather(
        control.remove_symbols("tg:1", ["BTC/USDT:USDT"]),
        control.remove_symbols("tg:2", ["ETH/USDT:USDT"]),
        return_exceptions=True,
    )
    assert sum(isinstance(r, UserInputError) for r in results) == 1  # the second would remove the last symbol
    assert len((await control.state()).symbols) == 1


async def test_a_confirmation_expires_on_the_wall_clock_not_the_simulated_market_clock():
    """In the demo the market clock runs an hour per tick: a /closeall button expired before anyone could
    press it (found by the e2e demo test). Confirmations are timed on the wall clock."""
    wall = SimulatedClock(T0)
    control, clock, _ = build(confirmation_clock=wall)  # as App wires it: the wall clock
    pending = await control.request_confirmation("tg:1", "closeall")
    clock.advance(timedelta(hours=5))  # five demo bars later
    assert "closed" in await control.confirm("tg:1", pending.token)
    again = await control.request_confirmation("tg:1", "closeall")
    wall.advance(timedelta(seconds=61))
    with pytest.raises(UserInputError, match="expired"):
        await control.confirm("tg:1", again.token)


async def test_open_a_manual_trade_goes_through_the_guard_and_is_marked_manual():
    control, _clock, _ = build()
    with pytest.raises(UserInputError, match="long or short"):
        await control.request_open("tg:1", SYMS[0], "up")
    with pytest.raises(UserInputError, match=r"risk must be a number from 0\.1% to 5%"):
        await control.request_open("tg:1", SYMS[0], "long", "9")
    pending = await control.request_open("tg:1", SYMS[0].lower(), "long", "1")
    assert pending.action == "open" and "LONG BTC/USDT:USDT at market, risking 1%" in pending.detail
    with pytest.raises(UserInputError, match="only the admin who asked"):
        await control.confirm("tg:2", pending.token)
    result = await control.confirm("tg:1", pending.token)
    assert "approved" in result and "-manual" in result, result
    record = await control._log.signal(result.rsplit("signal ", 1)[1])
    assert record.record.engine == "manual" and "Manual long by tg:1" in record.record.decision.reasoning
    intent = record.verdict.intent
    assert intent.stop_loss < intent.reference_price < intent.take_profit[0]  # a stop, on the right side
    equity = (await control._broker.account()).equity
    assert intent.risk_amount == pytest.approx(equity * 0.01, rel=0.02)  # sized by the 1 % asked
    assert (await control.audit())[0].action == "open_manual"


async def test_a_manual_trade_the_guard_refuses_is_not_forced():
    control, _clock, _ = build()
    await control.pause("tg:1")
    pending = await control.request_open("tg:1", SYMS[0], "short")
    assert "refused by the risk guard (paused)" in await control.confirm("tg:1", pending.token)
    assert await control.positions() == []
