"""ExchangeBroker through ccxt's real binanceusdm request/response path (only `fetch` is replaced)."""

from __future__ import annotations

import ccxt.async_support as ccxt
import pytest

from core.execution.exchange_orders import client_id, position_key
from tests.fixtures.exchange.env import Env, intent, make_env
from tests.fixtures.exchange.fake_binanceusdm import FakeBinanceUsdm


@pytest.fixture
async def env() -> Env:
    e = await make_env()
    yield e
    await e.exchange.close()


def _algo_open(env: Env) -> list[dict]:
    return [o for o in env.fake.algo.values() if o["algoStatus"] == "NEW"]


async def test_exchange_entry_sets_isolated_leverage_then_market_then_reduce_only_protection(env: Env) -> None:
    events = await env.broker.execute(intent())

    assert [e.kind for e in events] == ["entry"]
    assert events[0].qty == pytest.approx(0.033) and events[0].price == pytest.approx(60_000.0)
    paths = [(r.method, r.path) for r in env.fake.requests if r.method != "GET"]
    assert paths[:3] == [("POST", "/fapi/v1/marginType"), ("POST", "/fapi/v1/leverage"), ("POST", "/fapi/v1/order")]
    assert env.fake.sent("POST", "/fapi/v1/marginType")[0].params["marginType"] == "ISOLATED"
    assert env.fake.sent("POST", "/fapi/v1/leverage")[0].params["leverage"] == "5"
    entry = env.fake.sent("POST", "/fapi/v1/order")[0].params
    key = position_key("2024-06-10T06:00:00Z", "BTC/USDT:USDT")
    assert entry["newClientOrderId"] == client_id(key, "e")
    assert entry["type"] == "MARKET" and entry["side"] == "BUY" and entry["quantity"] == "0.033"
    algo = [r.params for r in env.fake.sent("POST", "/fapi/v1/algoOrder")]
    assert [a["type"] for a in algo] == ["STOP_MARKET", "TAKE_PROFIT_MARKET", "TAKE_PROFIT_MARKET"]
    assert all(a["reduceOnly"] == "true" and a["side"] == "SELL" for a in algo)
    assert algo[0]["triggerPrice"] == "58800" and algo[0]["quantity"] == "0.033"
    assert (algo[1]["quantity"], algo[2]["quantity"]) == ("0.016", "0.017")  # TP1 half (step-rounded), TP2 the rest
    assert len(_algo_open(env)) == 3
    stored = await env.ledger.live_positions()
    assert stored[0].stop is not None and stored[0].stop.client_id == client_id(key, "s0")


async def test_exchange_rounds_amounts_down_to_step_and_prices_to_tick(env: Env) -> None:
    await env.broker.execute(
        intent("ETH/USDT:USDT", "short", qty=1.23456, price=3_000.0, stop=3_061.237, targets=(2_911.111,))
    )
    entry = env.fake.sent("POST", "/fapi/v1/order")[0].params
    assert entry["quantity"] == "1.234" and entry["side"] == "SELL"  # never more than sized
    stop, target = (r.params for r in env.fake.sent("POST", "/fapi/v1/algoOrder"))
    assert stop["triggerPrice"] == "3061.24" and stop["side"] == "BUY"
    assert target["triggerPrice"] == "2911.11" and target["quantity"] == "1.234"  # one target closes everything


async def test_exchange_min_notional_checked_before_sending(env: Env) -> None:
    events = await env.broker.execute(intent(qty=0.0015))  # 0.001 BTC ≈ 60 USDT < the 100 USDT minimum
    assert events == []
    assert env.fake.sent("POST", "/fapi/v1/order") == []
    assert "below the exchange minimum 100" in env.alerts[-1]


async def test_exchange_available_margin_checked_before_sending() -> None:
    env = await make_env(FakeBinanceUsdm(wallet=100.0))
    try:
        assert await env.broker.execute(intent(qty=0.05)) == []
        assert env.fake.sent("POST", "/fapi/v1/order") == []
        assert "of margin" in env.alerts[-1] and "available" in env.alerts[-1]
    finally:
        await env.exchange.close()


async def test_exchange_insufficient_funds_reply_rejects_intent_and_tells_admins() -> None:
    # our check passes at the reference price; the exchange, at its own price, refuses (-2019)
    env = await make_env(FakeBinanceUsdm(wallet=1_300.0, prices={"BTCUSDT": 70_000.0, "ETHUSDT": 3_000.0}))
    try:
        assert await env.broker.execute(intent(qty=0.1)) == []
        assert len(env.fake.sent("POST", "/fapi/v1/order")) == 1
        assert "InsufficientFunds" in env.alerts[-1]
        assert await env.ledger.live_positions() == []
        assert env.broker.entries_paused is None  # a rejection is not an outage
    finally:
        await env.exchange.close()


async def test_exchange_unknown_symbol_is_rejected(env: Env) -> None:
    assert await env.broker.execute(intent("DOGE/USDT:USDT", price=0.15, stop=0.14, targets=(0.17,), qty=1000)) == []
    assert "not a market" in env.alerts[-1]


async def test_exchange_network_error_mid_entry_never_doubles(env: Env) -> None:
    env.fake.fail("POST", "/fapi/v1/order", ccxt.NetworkError("connection reset"), after_accept=True)
    events = await env.broker.execute(intent())

    assert len(env.fake.sent("POST", "/fapi/v1/order")) == 1  # exactly one order reached the exchange
    lookup = env.fake.sent("GET", "/fapi/v1/order")
    assert lookup and lookup[0].params["origClientOrderId"].endswith("-e")
    assert env.fake.positions["BTCUSDT"].amount == pytest.approx(0.033)
    assert [e.kind for e in events] == ["entry"]


async def test_exchange_timeout_before_reaching_exchange_sends_again_with_same_id(env: Env) -> None:
    env.fake.fail("POST", "/fapi/v1/order", ccxt.RequestTimeout("timed out"), after_accept=False)
    await env.broker.execute(intent())
    sent = env.fake.sent("POST", "/fapi/v1/order")
    assert len(sent) == 2 and sent[0].params["newClientOrderId"] == sent[1].params["newClientOrderId"]
    assert env.fake.positions["BTCUSDT"].amount == pytest.approx(0.033)  # filled once


async def test_exchange_network_error_mid_stop_never_doubles(env: Env) -> None:
    env.fake.fail("POST", "/fapi/v1/algoOrder", ccxt.NetworkError("reply lost"), after_accept=True)
    await env.broker.execute(intent())
    stops = [o for o in _algo_open(env) if o["orderType"] == "STOP_MARKET"]
    assert len(stops) == 1
    assert len([r for r in env.fake.sent("POST", "/fapi/v1/algoOrder") if r.params["type"] == "STOP_MARKET"]) == 1


async def test_exchange_same_intent_twice_is_idempotent(env: Env) -> None:
    first = await env.broker.execute(intent())
    second = await env.broker.execute(intent())
    assert len(first) == 1 and second == []
    assert len(env.fake.sent("POST", "/fapi/v1/order")) == 1


async def test_exchange_partial_fill_protects_only_the_filled_quantity() -> None:
    env = await make_env(FakeBinanceUsdm(fill_ratio=0.5))
    try:
        events = await env.broker.execute(intent())
        assert events[0].qty == pytest.approx(0.017)  # half of 0.033, as the exchange filled it
        stop = next(o for o in _algo_open(env) if o["orderType"] == "STOP_MARKET")
        assert stop["quantity"] == "0.017"
        assert any("partly filled" in a for a in env.alerts)
    finally:
        await env.exchange.close()


async def test_exchange_tp1_moves_stop_to_breakeven_placing_new_before_cancelling_old(env: Env) -> None:
    await env.broker.execute(intent())
    old_stop = next(o for o in _algo_open(env) if o["orderType"] == "STOP_MARKET")
    env.fake.move("BTCUSDT", 61_850.0)  # TP1 fills on the exchange
    events = await env.broker.sync(env.clock.now())

    assert [e.kind for e in events] == ["exit", "stop_moved"]
    assert events[0].reason == "tp1" and events[0].qty == pytest.approx(0.016)
    assert events[0].net_pnl > 0
    new_stop = next(o for o in _algo_open(env) if o["orderType"] == "STOP_MARKET")
    assert float(new_stop["triggerPrice"]) == pytest.approx(60_000.0) and new_stop["quantity"] == "0.017"
    assert old_stop["algoStatus"] == "CANCELED"
    placed = next(i for i, r in enumerate(env.fake.requests)
                  if r.path == "/fapi/v1/algoOrder" and r.method == "POST" and r.params.get("clientAlgoId", "").endswith("s1"))
    cancelled = next(i for i, r in enumerate(env.fake.requests)
                     if r.path == "/fapi/v1/algoOrder" and r.method == "DELETE")
    assert placed < cancelled  # never without a stop
    assert [o["orderType"] for o in _algo_open(env)].count("TAKE_PROFIT_MARKET") == 1  # TP2 still resting


async def test_exchange_stop_hit_books_loss_and_cancels_targets(env: Env) -> None:
    await env.broker.execute(intent())
    env.fake.move("BTCUSDT", 58_700.0)
    events = await env.broker.sync(env.clock.now())
    assert [(e.kind, e.reason) for e in events] == [("exit", "stop")]
    assert events[0].net_pnl < 0
    assert _algo_open(env) == []  # the targets left behind are gone
    assert await env.ledger.live_positions() == []
    assert len(await env.ledger.trades()) == 1


async def test_exchange_close_all_closes_at_market_before_cancelling_protection(env: Env) -> None:
    await env.broker.execute(intent())
    await env.broker.execute(intent("ETH/USDT:USDT", "short", qty=1.0, price=3_000.0, stop=3_060.0, targets=(2_900.0,)))
    env.fake.requests.clear()
    events = await env.broker.close_all()

    assert sorted(e.symbol for e in events) == ["BTC/USDT:USDT", "ETH/USDT:USDT"]
    assert all(e.kind == "exit" and e.reason == "manual" for e in events)
    assert all(not p.amount for p in env.fake.positions.values())
    assert _algo_open(env) == []
    closes = env.fake.sent("POST", "/fapi/v1/order")
    assert all(r.params["reduceOnly"] == "true" for r in closes)
    first_close = env.fake.requests.index(closes[0])
    first_cancel = next(i for i, r in enumerate(env.fake.requests) if r.method == "DELETE")
    assert first_close < first_cancel
    assert await env.broker.positions() == []


async def test_exchange_unavailable_pauses_entries_until_it_recovers(env: Env) -> None:
    env.fake.fail("GET", "/fapi/v3/account", ccxt.ExchangeNotAvailable("503 maintenance"))
    assert await env.broker.execute(intent()) == []
    assert env.broker.entries_paused is not None
    assert await env.broker.execute(intent(cycle_id="next")) == []
    assert env.fake.sent("POST", "/fapi/v1/order") == []
    assert any("entries paused" in a for a in env.alerts)
    await env.broker.sync(env.clock.now())  # the exchange answers again
    assert env.broker.entries_paused is None
    assert len(await env.broker.execute(intent(cycle_id="later"))) == 1


async def test_exchange_failed_protection_closes_the_position(env: Env) -> None:
    env.fake.fail("POST", "/fapi/v1/algoOrder", ccxt.InvalidOrder("binanceusdm Order would immediately trigger."))
    events = await env.broker.execute(intent())
    assert [e.kind for e in events] == ["entry", "exit"]
    assert events[1].reason == "unprotected"
    assert env.fake.positions["BTCUSDT"].amount == 0
    assert any("protective orders failed" in a for a in env.alerts)


async def test_exchange_account_reads_balance(env: Env) -> None:
    account = await env.broker.account()
    assert account.equity == pytest.approx(10_000.0) and account.available == pytest.approx(10_000.0)


async def test_exchange_testnet_switches_to_the_exchange_sandbox() -> None:
    from core.execution.exchange_client import ExchangeCredentials, make_exchange

    binance = make_exchange(ExchangeCredentials("binanceusdm", "k", "s", testnet=True))
    bybit = make_exchange(ExchangeCredentials("bybit", "k", "s", testnet=True))
    try:
        assert binance.urls["api"]["fapiPrivate"].startswith("https://demo-fapi.binance.com")
        assert "testnet" in str(bybit.urls["api"])
        creds = ExchangeCredentials("bybit", "api-key-123", "secret-456")
        assert "api-key-123" not in repr(creds) and "secret-456" not in repr(creds)
    finally:
        await binance.close()
        await bybit.close()


# ---- funding on live legs -----------------------------------------------------------------------

_OUR_FUNDING = -0.19812 - 0.1585344  # the recorded BTCUSDT settlements after our entry


async def test_exchange_funding_fetched_since_entry_is_booked_on_the_closing_leg(env: Env) -> None:
    await env.broker.execute(intent())
    env.fake.settle_recorded_funding()
    (event,) = await env.broker.close_position("BTC/USDT:USDT")

    trade = event.trade
    assert trade.funding == pytest.approx(_OUR_FUNDING)  # not the pre-entry row, not the ETHUSDT one
    assert trade.net_pnl == pytest.approx(trade.gross_pnl - trade.fees + trade.funding)
    (query,) = env.fake.sent("GET", "/fapi/v1/income")
    assert query.params["incomeType"] == "FUNDING_FEE" and query.params["symbol"] == "BTCUSDT"
    assert int(query.params["startTime"]) == (await _opened_ms(env, trade.position_id))
    assert (await env.ledger.trades())[0].funding == pytest.approx(_OUR_FUNDING)


async def test_exchange_funding_split_pro_rata_over_tp1_and_breakeven_legs(env: Env) -> None:
    await env.broker.execute(intent())
    env.fake.settle_recorded_funding()
    env.fake.move("BTCUSDT", 61_850.0)  # TP1: 0.016 of 0.033
    await env.broker.sync(env.clock.now())
    env.fake.move("BTCUSDT", 59_900.0)  # the break-even stop closes the other 0.017
    await env.broker.sync(env.clock.now())

    tp1, rest = await env.ledger.trades()
    assert (tp1.exit_reason, rest.exit_reason) == ("tp1", "breakeven")
    assert tp1.funding == pytest.approx(_OUR_FUNDING * 0.016 / 0.033)
    assert rest.funding == pytest.approx(_OUR_FUNDING * 0.017 / 0.033)  # the remainder, never counted twice
    for t in (tp1, rest):
        assert t.net_pnl == pytest.approx(t.gross_pnl - t.fees + t.funding)


async def test_exchange_funding_unavailable_books_zero_and_logs_why(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    await env.broker.execute(intent())
    env.fake.settle_recorded_funding()
    env.fake.fail("GET", "/fapi/v1/income", ccxt.ExchangeError("binanceusdm {\"code\":-1000,\"msg\":\"unknown\"}"))
    with caplog.at_level("WARNING", logger="core.execution.exchange_broker"):
        (event,) = await env.broker.close_position("BTC/USDT:USDT")
    assert event.trade.funding == 0.0
    assert event.trade.net_pnl == pytest.approx(event.trade.gross_pnl - event.trade.fees)
    assert env.fake.positions["BTCUSDT"].amount == 0  # the close itself went through
    assert any("funding history unavailable" in r.getMessage() and "ExchangeError" in r.getMessage()
               for r in caplog.records)


async def test_exchange_funding_not_supported_books_zero_without_asking(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    await env.broker.execute(intent())
    env.fake.settle_recorded_funding()
    env.exchange.has["fetchFundingHistory"] = False  # an exchange whose ccxt client cannot say
    with caplog.at_level("WARNING", logger="core.execution.exchange_broker"):
        (event,) = await env.broker.close_position("BTC/USDT:USDT")
    assert event.trade.funding == 0.0
    assert env.fake.sent("GET", "/fapi/v1/income") == []
    assert any("no funding history" in r.getMessage() for r in caplog.records)


async def _opened_ms(env: Env, position_id: str) -> int:
    entry = next(o for o in env.fake.orders.values() if o["clientOrderId"] == client_id(position_id, "e"))
    return int(entry["updateTime"])
