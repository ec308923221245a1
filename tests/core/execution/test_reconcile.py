"""Reconciliation: the plan (pure) and the live broker carrying it out against the scripted exchange."""

from __future__ import annotations

import pytest

from core.execution.exchange_ledger import LivePosition, RestingOrder
from core.execution.exchange_orders import client_id, position_key
from core.execution.reconcile import ExchangePosition, OpenOrder, plan_reconciliation
from core.models import Position
from tests.fixtures.exchange.env import START, Env, intent, make_env
from tests.fixtures.exchange.fake_binanceusdm import Request


@pytest.fixture
async def env() -> Env:
    e = await make_env()
    yield e
    await e.exchange.close()


def _live(symbol: str = "BTC/USDT:USDT", qty: float = 0.03) -> LivePosition:
    key = position_key("c1", symbol)
    pos = Position(key, symbol, "long", qty, 60_000.0, START, 5, 58_800.0, 58_800.0, (61_800.0,), 48_600.0, 360.0)
    return LivePosition(
        key, pos, client_id(key, "e"), "1", 0,
        stop=RestingOrder("stop", client_id(key, "s0"), "11", 58_800.0, qty),
        targets=[RestingOrder("tp1", client_id(key, "t1"), "12", 61_800.0, qty)],
    )


def _orders(live: LivePosition) -> list[OpenOrder]:
    return [OpenOrder(live.symbol, o.order_id, o.client_id, o.qty, o.price) for o in live.resting()]


def test_reconcile_plan_is_clean_when_book_and_exchange_agree() -> None:
    live = _live()
    plan = plan_reconciliation([live], [ExchangePosition(live.symbol, "long", 0.03, 60_000.0)], _orders(live))
    assert plan.clean


def test_reconcile_plan_names_every_case() -> None:
    gone, reduced, naked = _live("BTC/USDT:USDT"), _live("ETH/USDT:USDT"), _live("SOL/USDT:USDT")
    foreign = OpenOrder("BTC/USDT:USDT", "99", "web_abc123", 0.1, 50_000.0)  # placed by a person: not ours
    stale = OpenOrder("XRP/USDT:USDT", "98", client_id(position_key("old", "XRP/USDT:USDT"), "s0"), 5.0, 0.4)
    plan = plan_reconciliation(
        [gone, reduced, naked],
        [
            ExchangePosition("ETH/USDT:USDT", "long", 0.015, 60_000.0),
            ExchangePosition("SOL/USDT:USDT", "long", 0.03, 60_000.0),
            ExchangePosition("DOGE/USDT:USDT", "short", 100.0, 0.1),
        ],
        _orders(gone) + _orders(reduced) + [foreign, stale],
    )
    assert [p.symbol for p in plan.closed] == ["BTC/USDT:USDT"]
    assert [(r.live.symbol, r.exchange_qty) for r in plan.reduced] == [("ETH/USDT:USDT", 0.015)]
    assert [p.symbol for p in plan.missing_stop] == ["SOL/USDT:USDT"]
    assert [p.symbol for p in plan.unknown] == ["DOGE/USDT:USDT"]
    assert {o.order_id for o in plan.orphans} == {"11", "12", "98"}  # the closed one's orders and the stale stop


async def test_reconcile_missing_stop_is_placed_again(env: Env) -> None:
    await env.broker.execute(intent())
    stop = next(o for o in env.fake.algo.values() if o["orderType"] == "STOP_MARKET")
    stop["algoStatus"] = "CANCELED"  # someone cancelled it in the exchange's web page
    await env.broker.sync(env.clock.now())
    stops = [o for o in env.fake.algo.values() if o["orderType"] == "STOP_MARKET" and o["algoStatus"] == "NEW"]
    assert len(stops) == 1 and stops[0]["triggerPrice"] == "58800" and stops[0]["quantity"] == "0.033"
    assert any("stop missing" in a for a in env.alerts)


async def test_reconcile_crash_between_fill_and_stop_is_protected_on_start(env: Env) -> None:
    env.fake.open_position_by_hand("BTCUSDT", 0.03)  # the fill that happened
    live = _live()
    live.stop, live.targets = None, []  # the bot died before placing anything
    await env.ledger.save(live)
    broker = await env.restart()
    await broker.start()
    stops = [o for o in env.fake.algo.values() if o["orderType"] == "STOP_MARKET" and o["algoStatus"] == "NEW"]
    assert len(stops) == 1 and stops[0]["reduceOnly"] is True and float(stops[0]["quantity"]) == 0.03
    targets = [o for o in env.fake.algo.values() if o["orderType"] == "TAKE_PROFIT_MARKET"]
    assert len(targets) == 1 and targets[0]["triggerPrice"] == "61800"


async def test_reconcile_orphaned_orders_are_cancelled_and_foreign_ones_left(env: Env) -> None:
    await env.broker.execute(intent())
    orphan_id = client_id(position_key("yesterday", "ETH/USDT:USDT"), "t1")
    env.fake._route(_algo_request("ETHUSDT", orphan_id))
    env.fake._route(_algo_request("ETHUSDT", "web_manual_tp"))
    await env.broker.sync(env.clock.now())
    status = {o["clientAlgoId"]: o["algoStatus"] for o in env.fake.algo.values()}
    assert status[orphan_id] == "CANCELED"
    assert status["web_manual_tp"] == "NEW"
    assert sum(1 for s in status.values() if s == "NEW") == 4  # our three protective orders + the foreign one


async def test_reconcile_unknown_position_is_reported_once_and_never_adopted(env: Env) -> None:
    env.fake.open_position_by_hand("ETHUSDT", -2.0)
    await env.broker.sync(env.clock.now())
    await env.broker.sync(env.clock.now())
    reports = [a for a in env.alerts if "not in the bot's book" in a]
    assert len(reports) == 1 and "ETH/USDT:USDT" in reports[0] and "short" in reports[0]
    assert await env.broker.positions() == []
    assert env.fake.sent("POST", "/fapi/v1/algoOrder") == [] and env.fake.sent("POST", "/fapi/v1/order") == []


async def test_reconcile_stop_filled_while_down_is_booked_on_restart(env: Env) -> None:
    await env.broker.execute(intent())
    env.fake.move("BTCUSDT", 58_000.0)  # the bot is down; the resting stop does its job
    broker = await env.restart()
    events = await broker.start()
    assert [(e.kind, e.reason) for e in events] == [("exit", "stop")]
    trade = (await env.ledger.trades())[0]
    assert trade.exit_price == pytest.approx(58_000.0) and trade.qty == pytest.approx(0.033)
    assert trade.net_pnl == pytest.approx(trade.gross_pnl - trade.fees) and trade.gross_pnl < 0
    assert [o for o in env.fake.algo.values() if o["algoStatus"] == "NEW"] == []
    assert await broker.positions() == []


async def test_reconcile_tp1_while_down_books_partial_and_moves_stop(env: Env) -> None:
    await env.broker.execute(intent())
    env.fake.move("BTCUSDT", 62_000.0)
    broker = await env.restart()
    events = await broker.start()
    assert [(e.kind, e.reason) for e in events] == [("exit", "tp1"), ("stop_moved", "breakeven")]
    (pos,) = await broker.positions()
    assert pos.qty == pytest.approx(0.017) and pos.stop_loss == pytest.approx(60_000.0) and pos.targets_hit == 1
    env.fake.move("BTCUSDT", 59_900.0)  # back down: the break-even stop closes the rest
    events = await broker.sync(env.clock.now())
    assert [(e.kind, e.reason) for e in events] == [("exit", "breakeven")]
    assert len(await env.ledger.trades()) == 2


def _algo_request(symbol: str, cid: str) -> Request:
    return Request("POST", "/fapi/v1/algoOrder", {
        "symbol": symbol, "side": "SELL", "clientAlgoId": cid, "type": "TAKE_PROFIT_MARKET",
        "quantity": "1.000", "triggerPrice": "4000", "reduceOnly": "true", "algoType": "CONDITIONAL",
    })


async def test_reconcile_stop_filled_while_down_books_the_settled_funding(env: Env) -> None:
    await env.broker.execute(intent())
    env.fake.settle_recorded_funding()  # two settlements on our long while it was open
    env.fake.move("BTCUSDT", 58_000.0)
    broker = await env.restart()
    await broker.start()
    (trade,) = await env.ledger.trades()
    assert trade.exit_reason == "stop"
    assert trade.funding == pytest.approx(-0.19812 - 0.1585344)
    assert trade.net_pnl == pytest.approx(trade.gross_pnl - trade.fees + trade.funding)
