"""Reconciliation carried out against every venue's scripted account (test ids name the venue); the
pure plan is tested once in test_reconcile.py."""

from __future__ import annotations

import pytest

from core.execution.exchange_ledger import LivePosition
from core.execution.exchange_orders import client_id, position_key
from core.models import Position
from tests.fixtures.exchange.env import START, Env, intent
from tests.fixtures.exchange.venue_fakes import btc, eth


@pytest.fixture
def env(venue_env: Env) -> Env:
    return venue_env


async def test_reconcile_missing_stop_is_placed_again(env: Env) -> None:
    await env.broker.execute(intent(btc(env.fake), qty=0.033))
    (stop,) = env.fake.open_triggers("stop")
    env.fake.cancel_by_hand(stop)  # someone cancelled it in the venue's web page
    await env.broker.sync(env.clock.now())
    (again,) = env.fake.open_triggers("stop")
    assert again.trigger == pytest.approx(58_800.0) and again.qty == pytest.approx(0.033) and again.reduce_only
    assert any("stop missing" in a for a in env.alerts)


async def test_reconcile_crash_between_fill_and_stop_is_protected_on_start(env: Env) -> None:
    env.fake.open_position_by_hand(btc(env.fake), 0.03)  # the fill that happened
    key = position_key("c1", btc(env.fake))
    pos = Position(key, btc(env.fake), "long", 0.03, 60_000.0, START, 5, 58_800.0, 58_800.0, (61_800.0,), 48_600.0, 360.0)
    await env.ledger.save(LivePosition(key, pos, client_id(key, "e"), "1", 0))  # died before placing anything
    broker = await env.restart()
    await broker.start()
    (stop,) = env.fake.open_triggers("stop")
    assert stop.reduce_only and stop.qty == pytest.approx(0.03)
    (target,) = env.fake.open_triggers("tp")
    assert target.trigger == pytest.approx(61_800.0)


async def test_reconcile_orphaned_orders_are_cancelled_and_foreign_ones_left(env: Env) -> None:
    await env.broker.execute(intent(btc(env.fake), qty=0.033))
    from core.execution.venues import venue_of

    orphan = venue_of(env.exchange).wire_id(client_id(position_key("yesterday", eth(env.fake)), "t1"))
    foreign = "0x" + "ab" * 16 if env.fake.exchange_id == "hyperliquid" else "web_manual_tp"
    env.fake.add_foreign_trigger(eth(env.fake), orphan)
    env.fake.add_foreign_trigger(eth(env.fake), foreign)
    await env.broker.sync(env.clock.now())
    open_cids = {o.cid for o in env.fake.open_triggers()}
    assert orphan not in open_cids
    assert foreign in open_cids
    assert len(open_cids) == 4  # our three protective orders + the foreign one


async def test_reconcile_unknown_position_is_reported_once_and_never_adopted(env: Env) -> None:
    env.fake.open_position_by_hand(eth(env.fake), -2.0)
    await env.broker.sync(env.clock.now())
    await env.broker.sync(env.clock.now())
    reports = [a for a in env.alerts if "not in the bot's book" in a]
    assert len(reports) == 1 and eth(env.fake) in reports[0] and "short" in reports[0]
    assert await env.broker.positions() == []
    assert env.fake.sent("trigger") == [] and env.fake.sent("order") == []


async def test_reconcile_stop_filled_while_down_is_booked_on_restart(env: Env) -> None:
    await env.broker.execute(intent(btc(env.fake), qty=0.033))
    env.fake.move(btc(env.fake), 58_000.0)  # the bot is down; the resting stop does its job
    broker = await env.restart()
    events = await broker.start()
    assert [(e.kind, e.reason) for e in events] == [("exit", "stop")]
    (trade,) = await env.ledger.trades()
    assert trade.exit_price == pytest.approx(58_000.0) and trade.qty == pytest.approx(0.033)
    assert trade.net_pnl == pytest.approx(trade.gross_pnl - trade.fees) and trade.gross_pnl < 0
    assert env.fake.open_triggers() == []
    assert await broker.positions() == []


async def test_reconcile_tp1_while_down_books_partial_and_moves_stop(env: Env) -> None:
    await env.broker.execute(intent(btc(env.fake), qty=0.033))
    (tp1, _tp2) = sorted(env.fake.open_triggers("tp"), key=lambda o: o.trigger)
    env.fake.move(btc(env.fake), 62_000.0)
    broker = await env.restart()
    events = await broker.start()
    assert [(e.kind, e.reason) for e in events] == [("exit", "tp1"), ("stop_moved", "breakeven")]
    (pos,) = await broker.positions()
    assert pos.qty == pytest.approx(0.033 - tp1.qty) and pos.stop_loss == pytest.approx(60_000.0)
    assert pos.targets_hit == 1
    env.fake.move(btc(env.fake), 59_900.0)  # back down: the break-even stop closes the rest
    events = await broker.sync(env.clock.now())
    assert [(e.kind, e.reason) for e in events] == [("exit", "breakeven")]
    assert len(await env.ledger.trades()) == 2


async def test_reconcile_stop_filled_while_down_books_the_settled_funding(env: Env) -> None:
    await env.broker.execute(intent(btc(env.fake), qty=0.033))
    ours = env.fake.settle_recorded_funding()  # two settlements on our long while it was open
    env.fake.move(btc(env.fake), 58_000.0)
    broker = await env.restart()
    await broker.start()
    (trade,) = await env.ledger.trades()
    assert trade.exit_reason == "stop"
    assert trade.funding == pytest.approx(ours)
    assert trade.net_pnl == pytest.approx(trade.gross_pnl - trade.fees + trade.funding)
