"""The live broker's scenarios on every venue, each through that venue's real ccxt class (only `fetch` is
replaced by a stateful fake answering in the venue's JSON shape). Test ids name the venue:
`test_exchange_entry_…[bybit]`. Binance's wire details are pinned in test_exchange_broker.py."""

from __future__ import annotations

import ccxt.async_support as ccxt
import pytest

from core.execution.exchange_client import ExchangeCredentials, make_exchange
from core.execution.exchange_orders import client_id, position_key, supports_trailing
from core.execution.venues import venue_of
from tests.fixtures.exchange.env import Env, intent, make_env
from tests.fixtures.exchange.fake_bybit import FakeBybit
from tests.fixtures.exchange.venue_fakes import VENUES, btc, eth, new_fake

CYCLE = "2024-06-10T06:00:00Z"


@pytest.fixture
def env(venue_env: Env) -> Env:
    return venue_env


@pytest.fixture(params=VENUES)
def venue_id(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def wire(env: Env, role: str, cycle: str = CYCLE) -> str:
    return venue_of(env.exchange).wire_id(client_id(position_key(cycle, btc(env.fake)), role))


def half(env: Env, qty: float) -> float:
    return float(env.exchange.amount_to_precision(btc(env.fake), qty / 2))


async def test_exchange_entry_with_client_id_then_reduce_only_stop_and_targets(env: Env) -> None:
    events = await env.broker.execute(intent(btc(env.fake), qty=0.033))

    assert [e.kind for e in events] == ["entry"]
    assert events[0].qty == pytest.approx(0.033) and events[0].price == pytest.approx(60_000.0)
    # isolated margin and the intent's leverage are set before the entry (Hyperliquid: in one action)
    before = env.fake.journal[: env.fake.index("order")]
    assert [s.margin_mode for s in before if s.margin_mode] == ["isolated"]
    assert [s.leverage for s in before if s.leverage] == [5]
    assert not any(s.op == "trigger" for s in before)
    (entry,) = env.fake.sent("order")
    assert entry.cid == wire(env, "e") and entry.side == "buy" and entry.qty == pytest.approx(0.033)
    assert not entry.reduce_only
    triggers = env.fake.sent("trigger")
    assert [t.kind for t in triggers] == ["stop", "tp", "tp"]
    assert all(t.reduce_only and t.side == "sell" for t in triggers)
    assert triggers[0].trigger == pytest.approx(58_800.0) and triggers[0].qty == pytest.approx(0.033)
    assert triggers[1].qty == pytest.approx(half(env, 0.033))
    assert triggers[1].qty + triggers[2].qty == pytest.approx(0.033)
    assert [t.trigger for t in triggers[1:]] == [pytest.approx(61_800.0), pytest.approx(63_000.0)]
    assert len(env.fake.open_triggers()) == 3
    (stored,) = await env.ledger.live_positions()
    assert stored.stop is not None and stored.stop.client_id == client_id(position_key(CYCLE, btc(env.fake)), "s0")


async def test_exchange_network_error_mid_entry_never_doubles(env: Env) -> None:
    env.fake.fail("order", ccxt.NetworkError("connection reset"), after_accept=True)
    events = await env.broker.execute(intent(btc(env.fake), qty=0.033))

    assert len(env.fake.sent("order")) == 1  # exactly one order reached the exchange
    assert any(s.cid == wire(env, "e") for s in env.fake.sent("lookup"))
    assert env.fake.amount(btc(env.fake)) == pytest.approx(0.033)
    assert [e.kind for e in events] == ["entry"]


async def test_exchange_timeout_before_reaching_exchange_sends_again_with_same_id(env: Env) -> None:
    env.fake.fail("order", ccxt.RequestTimeout("timed out"), after_accept=False)
    await env.broker.execute(intent(btc(env.fake), qty=0.033))
    sent = env.fake.sent("order")
    assert len(sent) == 2 and sent[0].cid == sent[1].cid == wire(env, "e")
    assert env.fake.amount(btc(env.fake)) == pytest.approx(0.033)  # filled once


async def test_exchange_network_error_mid_stop_never_doubles(env: Env) -> None:
    env.fake.fail("trigger", ccxt.NetworkError("reply lost"), after_accept=True)
    await env.broker.execute(intent(btc(env.fake), qty=0.033))
    assert len(env.fake.open_triggers("stop")) == 1
    assert len([t for t in env.fake.sent("trigger") if t.kind == "stop"]) == 1


async def test_exchange_second_entry_at_the_same_leverage_is_no_error(env: Env) -> None:
    # Bybit answers 110043 "leverage not modified" when it is already set: not a reason to refuse
    await env.broker.execute(intent(btc(env.fake), qty=0.033))
    await env.broker.close_position(btc(env.fake))
    events = await env.broker.execute(intent(btc(env.fake), qty=0.033, cycle_id="next"))
    assert [e.kind for e in events] == ["entry"]
    assert env.fake.amount(btc(env.fake)) == pytest.approx(0.033)


async def test_exchange_same_intent_twice_is_idempotent(env: Env) -> None:
    first = await env.broker.execute(intent(btc(env.fake), qty=0.033))
    second = await env.broker.execute(intent(btc(env.fake), qty=0.033))
    assert len(first) == 1 and second == []
    assert len(env.fake.sent("order")) == 1


async def test_exchange_tp1_moves_stop_to_breakeven_placing_new_before_cancelling_old(env: Env) -> None:
    await env.broker.execute(intent(btc(env.fake), qty=0.033))
    (old_stop,) = env.fake.open_triggers("stop")
    env.fake.move(btc(env.fake), 61_850.0)  # TP1 fills on the exchange
    events = await env.broker.sync(env.clock.now())

    assert [e.kind for e in events] == ["exit", "stop_moved"]
    tp1 = half(env, 0.033)
    assert events[0].reason == "tp1" and events[0].qty == pytest.approx(tp1) and events[0].net_pnl > 0
    (new_stop,) = env.fake.open_triggers("stop")
    assert new_stop.trigger == pytest.approx(60_000.0) and new_stop.qty == pytest.approx(0.033 - tp1)
    assert new_stop.id != old_stop.id
    placed = env.fake.index("trigger", cid=wire(env, "s1"))
    cancelled = env.fake.index("cancel", order_id=old_stop.id)
    assert placed < cancelled  # never without a stop
    assert len(env.fake.open_triggers("tp")) == 1  # TP2 still resting


async def test_exchange_stop_hit_books_loss_and_cancels_targets(env: Env) -> None:
    await env.broker.execute(intent(btc(env.fake), qty=0.033))
    env.fake.move(btc(env.fake), 58_700.0)
    events = await env.broker.sync(env.clock.now())
    assert [(e.kind, e.reason) for e in events] == [("exit", "stop")]
    assert events[0].net_pnl < 0
    assert env.fake.open_triggers() == []  # the targets left behind are gone
    assert await env.ledger.live_positions() == []
    assert len(await env.ledger.trades()) == 1


async def test_exchange_close_position_closes_at_market_before_cancelling_protection(env: Env) -> None:
    await env.broker.execute(intent(btc(env.fake), qty=0.033))
    env.fake.forget()
    (event,) = await env.broker.close_position(btc(env.fake))
    assert event.kind == "exit" and event.reason == "manual" and event.qty == pytest.approx(0.033)
    assert env.fake.amount(btc(env.fake)) == 0
    (close,) = env.fake.sent("order")
    assert close.reduce_only and close.side == "sell"
    assert env.fake.index("order") < env.fake.index("cancel")
    assert env.fake.open_triggers() == []


async def test_exchange_close_all_closes_at_market_before_cancelling_protection(env: Env) -> None:
    await env.broker.execute(intent(btc(env.fake), qty=0.033))
    await env.broker.execute(intent(eth(env.fake), "short", qty=1.0, price=3_000.0, stop=3_060.0, targets=(2_900.0,)))
    env.fake.forget()
    events = await env.broker.close_all()

    assert sorted(e.symbol for e in events) == sorted([btc(env.fake), eth(env.fake)])
    assert all(e.kind == "exit" and e.reason == "manual" for e in events)
    assert env.fake.amount(btc(env.fake)) == 0 and env.fake.amount(eth(env.fake)) == 0
    assert env.fake.open_triggers() == []
    assert all(s.reduce_only for s in env.fake.sent("order"))
    assert env.fake.index("order") < env.fake.index("cancel")
    assert await env.broker.positions() == []


async def test_exchange_unavailable_pauses_entries_until_it_recovers(env: Env) -> None:
    env.fake.fail("balance", ccxt.ExchangeNotAvailable("503 maintenance"))
    assert await env.broker.execute(intent(btc(env.fake), qty=0.033)) == []
    assert env.broker.entries_paused is not None
    assert env.fake.sent("order") == []
    await env.broker.sync(env.clock.now())  # the exchange answers again
    assert env.broker.entries_paused is None
    assert len(await env.broker.execute(intent(btc(env.fake), qty=0.033, cycle_id="later"))) == 1


async def test_exchange_failed_protection_closes_the_position(env: Env) -> None:
    env.fake.fail("trigger", ccxt.InvalidOrder("Order would immediately trigger."))
    events = await env.broker.execute(intent(btc(env.fake), qty=0.033))
    assert [e.kind for e in events] == ["entry", "exit"]
    assert events[1].reason == "unprotected"
    assert env.fake.amount(btc(env.fake)) == 0
    assert any("protective orders failed" in a for a in env.alerts)


async def test_exchange_account_reads_balance(env: Env) -> None:
    account = await env.broker.account()
    assert account.equity == pytest.approx(10_000.0) and account.available == pytest.approx(10_000.0)


async def test_exchange_funding_since_entry_is_booked_on_the_closing_leg(env: Env) -> None:
    await env.broker.execute(intent(btc(env.fake), qty=0.033))
    ours = env.fake.settle_recorded_funding()
    (event,) = await env.broker.close_position(btc(env.fake))
    trade = event.trade
    assert trade.funding == pytest.approx(ours)  # not the pre-entry settlement, not the ETH one
    assert trade.net_pnl == pytest.approx(trade.gross_pnl - trade.fees + trade.funding)
    assert len(env.fake.sent("funding")) == 1


async def test_exchange_funding_split_pro_rata_over_tp1_and_breakeven_legs(env: Env) -> None:
    await env.broker.execute(intent(btc(env.fake), qty=0.033))
    ours = env.fake.settle_recorded_funding()
    env.fake.move(btc(env.fake), 61_850.0)
    await env.broker.sync(env.clock.now())
    env.fake.move(btc(env.fake), 59_900.0)  # the break-even stop closes the rest
    await env.broker.sync(env.clock.now())

    tp1, rest = await env.ledger.trades()
    assert (tp1.exit_reason, rest.exit_reason) == ("tp1", "breakeven")
    assert tp1.funding == pytest.approx(ours * tp1.qty / 0.033)
    assert tp1.funding + rest.funding == pytest.approx(ours)  # the remainder, never counted twice


@pytest.mark.parametrize("exchange_id", VENUES)
async def test_exchange_testnet_switches_to_the_venue_test_environment(exchange_id: str) -> None:
    live = make_exchange(ExchangeCredentials(exchange_id))
    test = make_exchange(ExchangeCredentials(exchange_id, testnet=True))
    try:
        live_urls, test_urls = (" ".join(ex.implode_hostname(u) for u in ex.urls["api"].values() if isinstance(u, str))
                                for ex in (live, test))
        assert live_urls != test_urls
        expected = {"binanceusdm": "demo-fapi.binance.com", "bybit": "api-testnet.bybit.com",
                    "hyperliquid": "api.hyperliquid-testnet.xyz"}[exchange_id]
        assert expected in test_urls and expected not in live_urls
    finally:
        await live.close()
        await test.close()


async def test_exchange_bybit_duplicate_link_id_on_resend_finds_the_first_order() -> None:
    # the reply was lost and Bybit's order list did not show the order yet: the resend is refused as a
    # duplicate orderLinkId (110072), which must lead to the first order, not to a rejected entry
    fake = FakeBybit(lookup_misses=2)
    env = await make_env(fake)
    try:
        fake.fail("order", ccxt.NetworkError("reply lost"), after_accept=True)
        events = await env.broker.execute(intent(btc(fake), qty=0.033))
        assert [e.kind for e in events] == ["entry"]
        assert len(fake.sent("order")) == 2 and fake.amount(btc(fake)) == pytest.approx(0.033)
    finally:
        await env.exchange.close()


async def test_exchange_account_equity_includes_the_open_position_pnl(env: Env) -> None:
    await env.broker.execute(intent(btc(env.fake), qty=0.033))
    env.fake.move(btc(env.fake), 61_000.0)  # +33 unrealized, below TP1
    account = await env.broker.account()
    wallet = env.fake.wallet
    assert account.equity == pytest.approx(wallet + 0.033 * 1_000.0, abs=0.01)
    assert account.available < account.equity  # the position's margin is in use


async def test_exchange_partial_fill_protects_only_the_filled_quantity(venue_id: str) -> None:
    env = await make_env(new_fake(venue_id, fill_ratio=0.5))
    try:
        events = await env.broker.execute(intent(btc(env.fake), qty=0.034))
        assert events[0].qty == pytest.approx(0.017)  # half of it, as the venue filled it
        (stop,) = env.fake.open_triggers("stop")
        assert stop.qty == pytest.approx(0.017)
        assert any("partly filled" in a for a in env.alerts)
    finally:
        await env.exchange.close()


async def test_exchange_insufficient_margin_reply_rejects_the_intent(venue_id: str) -> None:
    # our check passes at the reference price; the venue, at its own price, refuses
    fake = new_fake(venue_id, wallet=1_300.0)
    fake.prices[fake.market_id(btc(fake))] = 70_000.0
    env = await make_env(fake)
    try:
        assert await env.broker.execute(intent(btc(fake), qty=0.1)) == []
        assert len(fake.sent("order")) == 1
        assert "InsufficientFunds" in env.alerts[-1]
        assert await env.ledger.live_positions() == [] and env.broker.entries_paused is None
    finally:
        await env.exchange.close()


async def test_exchange_unknown_symbol_is_rejected_before_sending(env: Env) -> None:
    quote = env.fake.quote
    assert await env.broker.execute(intent(f"DOGE/{quote}:{quote}", price=0.15, stop=0.14, targets=(0.17,),
                                           qty=1000)) == []
    assert "not a market" in env.alerts[-1] and env.fake.sent("order") == []


async def test_exchange_after_tp1_the_rest_trails_on_the_venue_or_by_moving_the_stop(env: Env) -> None:
    await env.broker.execute(intent(btc(env.fake), qty=0.033, targets=(61_800.0, 70_000.0)))
    env.fake.move(btc(env.fake), 61_850.0)  # TP1
    await env.broker.sync(env.clock.now())
    env.fake.move(btc(env.fake), 66_000.0)  # well beyond: the rest trails 1 R (1,200) behind the best price
    await env.broker.sync(env.clock.now())
    rest = 0.033 - half(env, 0.033)
    if supports_trailing(env.exchange):  # Binance: a trailing stop rests on the exchange
        (trail,) = env.fake.open_triggers("trail")
        assert trail.qty == pytest.approx(rest) and trail.reduce_only
    else:  # Bybit, Hyperliquid: the bot moved its resting stop up (new before old off)
        (stop,) = env.fake.open_triggers("stop")
        assert stop.trigger == pytest.approx(66_000.0 - 1_200.0, abs=1.0) and stop.qty == pytest.approx(rest)
    env.fake.move(btc(env.fake), 64_000.0)  # the pullback takes the rest out, in profit
    events = await env.broker.sync(env.clock.now())
    assert [e.kind for e in events] == ["exit"] and events[0].net_pnl > 0
    assert env.fake.amount(btc(env.fake)) == 0 and env.fake.open_triggers() == []
