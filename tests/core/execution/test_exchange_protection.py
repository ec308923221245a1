"""Protection that survives the bot (issue #19): every target resting as a reduce-only order, and after TP1 a
trailing stop resting on the exchange (Binance TRAILING_STOP_MARKET with callbackRate, through ccxt's real
binanceusdm path) — or, where the venue has none, the bot trailing by moving the stop."""

from __future__ import annotations

import logging

import ccxt.async_support as ccxt
import pytest

from core.execution.exchange_broker import ExchangeBroker
from core.execution.exchange_orders import client_id, position_key
from tests.fixtures.exchange.env import Env, intent, make_env

KEY = position_key("2024-06-10T06:00:00Z", "BTC/USDT:USDT")


@pytest.fixture
async def env() -> Env:
    e = await make_env()
    yield e
    await e.exchange.close()


def _open(env: Env, kind: str | None = None) -> list[dict]:
    return [o for o in env.fake.algo.values() if o["algoStatus"] == "NEW" and kind in (None, o["orderType"])]


def _placed(env: Env, kind: str) -> list[dict]:
    return [r.params for r in env.fake.sent("POST", "/fapi/v1/algoOrder") if r.params["type"] == kind]


async def _tp1(env: Env, targets: tuple[float, ...] = (61_800.0, 70_000.0)) -> None:
    await env.broker.execute(intent(targets=targets))
    env.fake.move("BTCUSDT", 61_850.0)
    await env.broker.sync(env.clock.now())


async def test_exchange_three_targets_all_rest_reduce_only(env: Env) -> None:
    await env.broker.execute(intent(targets=(61_800.0, 63_000.0, 64_500.0)))
    targets = _placed(env, "TAKE_PROFIT_MARKET")
    assert [(t["triggerPrice"], t["quantity"]) for t in targets] == [("61800", "0.016"), ("63000", "0.008"),
                                                                     ("64500", "0.009")]  # was: no order at 64,500
    assert all(t["reduceOnly"] == "true" and t["side"] == "SELL" for t in targets)
    assert [t["clientAlgoId"] for t in targets] == [client_id(KEY, f"t{n}") for n in (1, 2, 3)]


async def test_exchange_after_tp1_a_trailing_stop_rests_beside_the_breakeven_stop(env: Env) -> None:
    await _tp1(env)
    (trail,) = _placed(env, "TRAILING_STOP_MARKET")
    # 1 R = 1,200 behind the best price, as a percentage of the TP1 price 61,800: 1.94 % → 1.9
    assert trail["callbackRate"] == "1.9" and "activatePrice" not in trail
    assert trail["quantity"] == "0.017" and trail["side"] == "SELL" and trail["reduceOnly"] == "true"
    assert trail["workingType"] == "MARK_PRICE" and trail["clientAlgoId"] == client_id(KEY, "r0")
    assert float(_open(env, "STOP_MARKET")[0]["triggerPrice"]) == 60_000.0  # the break-even floor stays
    (live,) = await env.ledger.live_positions()
    assert live.trail is not None and live.trail.callback_pct == 1.9
    assert live.position.trailing_on_exchange_pct == 1.9


async def test_exchange_trailing_fill_is_booked_as_trailing_and_the_rest_cancelled(env: Env) -> None:
    await _tp1(env)
    env.fake.move("BTCUSDT", 64_000.0)  # the exchange tracks the best price…
    env.fake.move("BTCUSDT", 62_700.0)  # …and fires 1.9 % below it (62,784)
    events = await env.broker.sync(env.clock.now())

    assert [(e.kind, e.reason) for e in events] == [("exit", "trailing")]
    assert events[0].qty == pytest.approx(0.017) and events[0].price == pytest.approx(62_700.0)
    assert _open(env) == []  # break-even stop and TP2 cancelled
    assert await env.ledger.live_positions() == []
    assert [t.exit_reason for t in await env.ledger.trades()] == ["tp1", "trailing"]


async def test_exchange_restart_finds_the_trailing_stop_resting(env: Env) -> None:
    await _tp1(env)
    env.fake.requests.clear()
    broker = await env.restart()
    assert await broker.start() == []
    assert env.fake.sent("DELETE", "/fapi/v1/algoOrder") == []  # not taken for an orphan
    assert _placed(env, "TRAILING_STOP_MARKET") == []  # nor placed twice
    assert len(_open(env, "TRAILING_STOP_MARKET")) == 1
    env.fake.move("BTCUSDT", 64_000.0)
    env.fake.move("BTCUSDT", 62_700.0)
    events = await broker.sync(env.clock.now())
    assert [(e.kind, e.reason) for e in events] == [("exit", "trailing")]


async def test_exchange_trailing_stop_cancelled_by_hand_is_placed_again(env: Env) -> None:
    await _tp1(env)
    env.fake.algo[int(_open(env, "TRAILING_STOP_MARKET")[0]["algoId"])]["algoStatus"] = "CANCELED"
    await env.broker.sync(env.clock.now())
    (trail,) = _open(env, "TRAILING_STOP_MARKET")
    assert trail["clientAlgoId"] == client_id(KEY, "r1") and trail["quantity"] == "0.017"
    assert any("trailing stop missing" in a for a in env.alerts)


async def test_exchange_three_targets_fill_in_turn_and_the_trailing_stop_follows_the_size(env: Env) -> None:
    await _tp1(env, (61_800.0, 63_000.0, 64_500.0))
    env.fake.move("BTCUSDT", 63_050.0)  # TP2: 0.008
    await env.broker.sync(env.clock.now())
    (trail,) = _open(env, "TRAILING_STOP_MARKET")
    assert trail["quantity"] == "0.009" and trail["clientAlgoId"] == client_id(KEY, "r1")
    assert _open(env, "STOP_MARKET")[0]["quantity"] == "0.009"
    env.fake.move("BTCUSDT", 64_550.0)  # TP3: the rest
    await env.broker.sync(env.clock.now())
    assert [(t.exit_reason, t.qty) for t in await env.ledger.trades()] == [
        ("tp1", pytest.approx(0.016)), ("tp2", pytest.approx(0.008)), ("tp3", pytest.approx(0.009))]
    assert _open(env) == [] and await env.ledger.live_positions() == []


async def test_exchange_without_trailing_orders_the_bot_moves_the_stop(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    env.exchange.has["createTrailingPercentOrder"] = False  # a venue whose ccxt client cannot trail
    with caplog.at_level(logging.INFO, logger="core.execution.exchange_trailing"):
        await _tp1(env)
        assert _placed(env, "TRAILING_STOP_MARKET") == []
        assert any("has no trailing stop order; the bot trails by moving the stop" in r.getMessage()
                   for r in caplog.records)
        env.fake.move("BTCUSDT", 64_000.0)
        await env.broker.sync(env.clock.now())  # best mark 64,000 → stop 62,800
    (stop,) = _open(env, "STOP_MARKET")
    assert float(stop["triggerPrice"]) == 62_800.0 and stop["quantity"] == "0.017"
    placed = next(i for i, r in enumerate(env.fake.requests) if r.method == "POST"
                  and r.params.get("clientAlgoId") == stop["clientAlgoId"])
    cancelled = max(i for i, r in enumerate(env.fake.requests) if r.method == "DELETE")
    assert placed < cancelled  # the new stop before the old one off
    (live,) = await env.ledger.live_positions()
    assert live.position.trailing_stop == 62_800.0 and live.position.trailing_on_exchange_pct is None
    env.fake.move("BTCUSDT", 64_020.0)  # less than 0.1 % better: not worth two requests
    await env.broker.sync(env.clock.now())
    assert float(_open(env, "STOP_MARKET")[0]["triggerPrice"]) == 62_800.0
    env.fake.move("BTCUSDT", 62_700.0)
    events = await env.broker.sync(env.clock.now())
    assert [(e.kind, e.reason) for e in events] == [("exit", "trailing")]


async def test_exchange_trailing_stop_lost_to_the_network_is_placed_next_sync_without_losing_tp1(env: Env) -> None:
    await env.broker.execute(intent(targets=(61_800.0, 70_000.0)))
    env.fake.move("BTCUSDT", 61_850.0)
    for _ in range(4):  # every attempt of the trailing order fails before reaching the exchange
        env.fake.fail("POST", "/fapi/v1/algoOrder", ccxt.RequestTimeout("timed out"),
                      where={"type": "TRAILING_STOP_MARKET"})
    events = await env.broker.sync(env.clock.now())
    assert [(e.kind, e.reason) for e in events] == [("exit", "tp1"), ("stop_moved", "breakeven")]
    assert _open(env, "TRAILING_STOP_MARKET") == []
    await env.broker.sync(env.clock.now())
    (trail,) = _open(env, "TRAILING_STOP_MARKET")
    assert trail["quantity"] == "0.017"


def _with_trail_setting(env: Env, pct: float = 0.0, **ladder: float) -> None:
    """The broker as bot.app builds it with TRAIL_AFTER_TP1_PCT (the exit ladder's trail in % of the best) or the
    profit lock (LOCK_PROFIT_TRIGGER_PCT / LOCK_PROFIT_OFFSET_PCT) set."""
    env.broker = ExchangeBroker(env.exchange, env.ledger, env.clock, alert=env._alert, retry_wait_s=0,
                                trail_after_tp1_pct=pct, **ladder)


async def test_exchange_trail_after_tp1_pct_is_the_callback_rate(env: Env) -> None:
    _with_trail_setting(env, 2.5)
    await _tp1(env)
    (trail,) = _placed(env, "TRAILING_STOP_MARKET")
    assert trail["callbackRate"] == "2.5"


async def test_exchange_trail_wider_than_a_trailing_order_can_follow_is_kept_by_the_bot(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    _with_trail_setting(env, 12.0)  # Binance's callbackRate stops at 10 %
    with caplog.at_level(logging.INFO, logger="core.execution.exchange_trailing"):
        await _tp1(env)
    assert _placed(env, "TRAILING_STOP_MARKET") == []
    assert any("wider than the 10 % a trailing order can follow" in r.getMessage() for r in caplog.records)
    env.fake.move("BTCUSDT", 69_000.0)  # best 69,000 → 12 % behind: 60,720
    await env.broker.sync(env.clock.now())
    assert float(_open(env, "STOP_MARKET")[0]["triggerPrice"]) == 60_720.0


async def test_exchange_profit_lock_before_tp1_moves_the_stop_beyond_entry_as_the_ladder_does(env: Env) -> None:
    _with_trail_setting(env, lock_trigger_pct=2.0, lock_offset_pct=0.15)
    await env.broker.execute(intent(targets=(61_800.0, 70_000.0)))
    env.fake.move("BTCUSDT", 61_100.0)  # +1.8 %: not yet
    await env.broker.sync(env.clock.now())
    assert float(_open(env, "STOP_MARKET")[0]["triggerPrice"]) == 58_800.0
    env.fake.move("BTCUSDT", 61_300.0)  # +2.2 % (TP1 at 61,800 not reached): stop to entry + 0.15 %
    await env.broker.sync(env.clock.now())
    (stop,) = _open(env, "STOP_MARKET")
    assert float(stop["triggerPrice"]) == 60_090.0 and stop["clientAlgoId"] == client_id(KEY, "s1")
    env.fake.move("BTCUSDT", 61_850.0)  # TP1: the locked stop stays (beyond break-even), resized to the rest
    await env.broker.sync(env.clock.now())
    (stop,) = _open(env, "STOP_MARKET")
    assert float(stop["triggerPrice"]) == 60_090.0 and stop["quantity"] == "0.017"
    env.fake.move("BTCUSDT", 60_050.0)  # the trailing order (1.9 % below 61,850 = 60,675) fires first
    events = await env.broker.sync(env.clock.now())
    assert [(e.kind, e.reason) for e in events] == [("exit", "trailing")]


async def test_exchange_locked_stop_fill_before_tp1_is_booked_as_breakeven(env: Env) -> None:
    _with_trail_setting(env, lock_trigger_pct=2.0, lock_offset_pct=0.15)
    await env.broker.execute(intent(targets=(61_800.0, 70_000.0)))
    env.fake.move("BTCUSDT", 61_300.0)
    await env.broker.sync(env.clock.now())
    env.fake.move("BTCUSDT", 60_000.0)
    events = await env.broker.sync(env.clock.now())
    assert [(e.kind, e.reason) for e in events] == [("exit", "breakeven")]  # the exit ladder's name for it
    assert events[0].price == pytest.approx(60_000.0) and _open(env) == []
