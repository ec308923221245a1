"""ExchangeBroker under concurrency: execute, sync, close, close-all and reconcile started together, as the
hourly cycle, the minute monitor and an admin's /close or /closeall can start them, against the fake
exchange with requests and replies held in flight for a seeded number of event-loop turns (other tasks
run meanwhile) and network errors before or after the exchange did the work.

After each interleaving and one quiet sync, the exchange and the broker's book must agree:
- no double close: every symbol's booked exit quantity equals what the exchange filled to reduce it, and
  the exchange's position equals the book's;
- no lost fill: every entry the exchange filled is a position in the book (open or closed) exactly once;
- no orphaned protective order: every stop or target resting on the exchange belongs to an open position
  (its current stop or one of its targets), and every open position has its stop resting at its size.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import Awaitable, Callable

import ccxt.async_support as ccxt
import pytest

from core.execution.exchange_orders import parse_client_id
from core.execution.venues import venue_of
from tests.fixtures.exchange.env import Env, intent, make_env
from tests.fixtures.exchange.venue_fakes import btc, eth, new_fake

SYMBOLS = {"BTCUSDT": "BTC/USDT:USDT", "ETHUSDT": "ETH/USDT:USDT"}


def _eth_short(cycle_id: str = "2024-06-10T06:00:00Z"):
    return intent("ETH/USDT:USDT", "short", qty=1.0, price=3_000.0, stop=3_060.0, targets=(2_900.0, 2_800.0),
                  cycle_id=cycle_id)


async def _interleaving(seed: int) -> tuple[Env, list[BaseException]]:
    env = await make_env()
    await env.broker.execute(intent())
    await env.broker.execute(_eth_short())
    rng = random.Random(seed)
    env.fake.rng, env.fake.max_hops, env.fake.error_rate = rng, 6, 0.08 if seed % 2 else 0.0
    broker, now = env.broker, env.clock.now()

    async def market_moves() -> None:
        for _ in range(rng.randint(0, 30)):
            await asyncio.sleep(0)
        symbol, price = rng.choice([("BTCUSDT", 61_850.0), ("BTCUSDT", 58_700.0), ("ETHUSDT", 2_899.0),
                                    ("ETHUSDT", 3_070.0), ("BTCUSDT", 60_000.0)])
        env.fake.move(symbol, price)

    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: broker.close_position("BTC/USDT:USDT"),
        lambda: broker.sync(now),
        lambda: broker.close_all(),
        lambda: broker.execute(intent(cycle_id="2024-06-10T07:00:00Z")),
        lambda: broker.execute(_eth_short("2024-06-10T07:00:00Z")),
        lambda: broker.reconcile(),
        lambda: broker.sync(now),
        market_moves,
    ]
    rng.shuffle(calls)
    results = await asyncio.gather(*(call() for call in calls), return_exceptions=True)
    unexpected = [r for r in results if isinstance(r, BaseException) and not isinstance(r, ccxt.NetworkError)]
    env.fake.rng = None  # the network is quiet again: the next sync settles what the last tick left
    await broker.sync(now)
    return env, unexpected


def _book_disagreements(env: Env, live: list, trades: list) -> list[str]:
    fake, problems = env.fake, []
    entry_orders = {oid: o for oid, o in fake.orders.items() if o["clientOrderId"].endswith("-e")}
    exits: dict[str, float] = defaultdict(float)
    for t in fake.trades:
        if t["orderId"] not in entry_orders:
            exits[SYMBOLS[t["symbol"]]] += float(t["qty"])
    booked: dict[str, float] = defaultdict(float)
    for trade in trades:
        booked[trade.symbol] += trade.qty
    for symbol in SYMBOLS.values():
        if abs(booked[symbol] - exits[symbol]) > 1e-9:
            problems.append(f"{symbol}: booked exits {booked[symbol]:.3f}, the exchange reduced {exits[symbol]:.3f}")
    open_by_symbol = {p.symbol: p.position for p in live}
    for raw, symbol in SYMBOLS.items():
        pos = open_by_symbol.get(symbol)
        booked_amount = 0.0 if pos is None else pos.qty * pos.sign
        if abs(fake.positions[raw].amount - booked_amount) > 1e-9:
            problems.append(f"{symbol}: the exchange holds {fake.positions[raw].amount}, the book {booked_amount}")
    filled_keys = {parse_client_id(o["clientOrderId"])[0] for o in entry_orders.values() if float(o["executedQty"]) > 0}
    booked_keys = {t.position_id for t in trades} | {p.key for p in live}
    if filled_keys != booked_keys:
        problems.append(f"entries filled on the exchange {sorted(filled_keys)} vs positions booked {sorted(booked_keys)}")
    return problems


def _orphans(env: Env, live: list) -> list[str]:
    problems = []
    attached = {o.client_id: p for p in live for o in p.resting()}
    for order in env.fake.algo.values():
        if order["algoStatus"] != "NEW":
            continue
        owner = attached.get(order["clientAlgoId"])
        if owner is None:
            problems.append(f"orphan {order['orderType']} {order['clientAlgoId']} on {order['symbol']}")
    for p in live:
        stop = next((o for o in env.fake.algo.values() if p.stop and o["clientAlgoId"] == p.stop.client_id), None)
        if stop is None or stop["algoStatus"] != "NEW" or float(stop["quantity"]) != pytest.approx(p.position.qty):
            problems.append(f"{p.symbol}: open {p.position.qty} without its stop resting at that size")
    return problems


async def _failures(seeds: range) -> list[str]:
    failures: list[str] = []
    for seed in seeds:
        env, unexpected = await _interleaving(seed)
        try:
            live, trades = await env.ledger.live_positions(), await env.ledger.trades()
            problems = [f"{type(e).__name__}: {e}" for e in unexpected]
            problems += _book_disagreements(env, live, trades) + _orphans(env, live)
            failures += [f"seed {seed}: {p}" for p in problems]
        finally:
            await env.exchange.close()
    return failures


@pytest.mark.slow
async def test_exchange_concurrent_close_sync_close_all_execute_reconcile_50_interleavings() -> None:
    failures = await _failures(range(50))
    assert failures == [], "\n".join(failures)


async def test_exchange_concurrent_calls_a_few_interleavings() -> None:
    failures = await _failures(range(50, 54))  # the inner loop's share; the slow test runs 50
    assert failures == [], "\n".join(failures)


async def test_exchange_close_and_close_all_together_book_one_exit() -> None:
    env = await make_env()
    try:
        await env.broker.execute(intent())
        env.fake.rng, env.fake.max_hops = random.Random(1), 3
        results = await asyncio.gather(env.broker.close_position("BTC/USDT:USDT"), env.broker.close_all())
        assert sum(len(r) for r in results) == 1  # one closing event, not one per caller
        (trade,) = await env.ledger.trades()
        assert trade.qty == pytest.approx(0.033) and trade.exit_reason == "manual"
        assert env.fake.positions["BTCUSDT"].amount == 0 and await env.ledger.live_positions() == []
    finally:
        await env.exchange.close()


async def test_exchange_entry_filled_beyond_its_stop_is_closed_at_once_and_booked() -> None:
    env = await make_env()
    try:
        env.fake.prices["BTCUSDT"] = 58_700.0  # the market ran through the 58,800 stop before the entry filled
        events = await env.broker.execute(intent())
        assert events == []  # never announced as an entry
        orders = [r.params for r in env.fake.sent("POST", "/fapi/v1/order")]
        assert [(o["side"], o.get("reduceOnly")) for o in orders] == [("BUY", None), ("SELL", "true")]
        assert env.fake.positions["BTCUSDT"].amount == 0
        (trade,) = await env.ledger.trades()
        assert trade.exit_reason == "stop" and trade.qty == pytest.approx(0.033) and trade.net_pnl < 0
        assert trade.net_pnl == pytest.approx(trade.gross_pnl - trade.fees)
        assert await env.ledger.live_positions() == []
        assert any("beyond its stop" in a for a in env.alerts)
    finally:
        await env.exchange.close()


# ---- the same interleavings on the other venues (their venue-neutral fake account) ------------------


async def _venue_interleaving(venue: str, seed: int) -> tuple[Env, list[BaseException]]:
    env = await make_env(new_fake(venue))
    fake = env.fake
    long_btc = intent(btc(fake))
    short_eth = intent(eth(fake), "short", qty=1.0, price=3_000.0, stop=3_060.0, targets=(2_900.0, 2_800.0))
    await env.broker.execute(long_btc)
    await env.broker.execute(short_eth)
    rng = random.Random(seed)
    fake.rng, fake.max_hops, fake.error_rate = rng, 6, 0.08 if seed % 2 else 0.0
    broker, now = env.broker, env.clock.now()

    async def market_moves() -> None:
        for _ in range(rng.randint(0, 30)):
            await asyncio.sleep(0)
        symbol, price = rng.choice([(btc(fake), 61_850.0), (btc(fake), 58_700.0), (eth(fake), 2_899.0),
                                    (eth(fake), 3_070.0), (btc(fake), 60_000.0)])
        fake.move(symbol, price)

    later = "2024-06-10T07:00:00Z"
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: broker.close_position(btc(fake)),
        lambda: broker.sync(now),
        lambda: broker.close_all(),
        lambda: broker.execute(intent(btc(fake), cycle_id=later)),
        lambda: broker.execute(intent(eth(fake), "short", qty=1.0, price=3_000.0, stop=3_060.0,
                                      targets=(2_900.0, 2_800.0), cycle_id=later)),
        lambda: broker.reconcile(),
        lambda: broker.sync(now),
        market_moves,
    ]
    rng.shuffle(calls)
    results = await asyncio.gather(*(call() for call in calls), return_exceptions=True)
    unexpected = [r for r in results if isinstance(r, BaseException) and not isinstance(r, ccxt.NetworkError)]
    fake.rng = None
    await broker.sync(now)
    return env, unexpected


def _venue_disagreements(env: Env, live: list, trades: list) -> list[str]:
    fake, local = env.fake, venue_of(env.exchange).local_id
    ours = {o.id: parse_client_id(local(o.cid)) for o in fake.orders.values()}
    entries = {oid for oid, parsed in ours.items() if parsed and parsed[1] == "e"}
    problems = []
    open_by_symbol = {p.symbol: p for p in live}
    for symbol, market_id in fake.symbols.items():
        reduced = sum(f.qty for f in fake.fills if f.symbol == market_id and f.order_id not in entries)
        booked = sum(t.qty for t in trades if t.symbol == symbol)
        if abs(booked - reduced) > 1e-9:
            problems.append(f"{symbol}: booked exits {booked:.4f}, the venue reduced {reduced:.4f}")
        p = open_by_symbol.get(symbol)
        in_book = 0.0 if p is None else p.position.qty * p.position.sign
        if abs(fake.amount(symbol) - in_book) > 1e-9:
            problems.append(f"{symbol}: the venue holds {fake.amount(symbol)}, the book {in_book}")
    filled = {ours[o.id][0] for o in fake.orders.values() if o.id in entries and o.filled > 0}
    booked_keys = {t.position_id for t in trades} | {p.key for p in live}
    if filled != booked_keys:
        problems.append(f"entries filled {sorted(filled)} vs positions booked {sorted(booked_keys)}")
    attached = {o.client_id for p in live for o in p.resting()}
    for order in fake.open_triggers():
        if parse_client_id(local(order.cid)) and local(order.cid) not in attached:
            problems.append(f"orphan {order.kind} {local(order.cid)} on {order.symbol}")
    for p in live:
        stop = next((o for o in fake.open_triggers("stop") if p.stop and local(o.cid) == p.stop.client_id), None)
        if stop is None or stop.qty != pytest.approx(p.position.qty):
            problems.append(f"{p.symbol}: open {p.position.qty} without its stop resting at that size")
    return problems


@pytest.mark.slow
@pytest.mark.parametrize("venue", ["bybit", "hyperliquid"])
async def test_exchange_concurrent_calls_50_interleavings_on_other_venues(venue: str) -> None:
    failures: list[str] = []
    for seed in range(50):
        env, unexpected = await _venue_interleaving(venue, seed)
        try:
            live, trades = await env.ledger.live_positions(), await env.ledger.trades()
            problems = [f"{type(e).__name__}: {e}" for e in unexpected] + _venue_disagreements(env, live, trades)
            failures += [f"{venue} seed {seed}: {p}" for p in problems]
        finally:
            await env.exchange.close()
    assert failures == [], "\n".join(failures)
