import asyncio
import itertools
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from core.clock import SimulatedClock
from core.config import CostModel, RiskLimits
from core.execution.paper_book import MemoryBookStore
from core.execution.paper_broker import PaperBroker, to_ms
from core.execution.perp_math import liquidation_price
from core.models import OrderIntent
from tests.core.csv_feed import CYFT, HOUR_MS, ArrayBarFeed, have_data, load_bars, load_funding

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def flat_bars(n=10, start=T0, price=100.0):
    t0 = to_ms(start)
    return np.array([[t0 + i * HOUR_MS, price, price + 0.5, price - 0.5, price] for i in range(n)])


def intent(symbol="BTC/USDT:USDT", side="long", price=100.0, at=T0, qty=1.0, stop_pct=2.0, lev=5, cycle="c1"):
    sign = 1 if side == "long" else -1
    stop = price * (1 - sign * stop_pct / 100)
    targets = (price * (1 + sign * stop_pct * 1.5 / 100), price * (1 + sign * stop_pct * 3 / 100))
    return OrderIntent(symbol, side, qty, lev, stop, targets, price, liquidation_price(sign, price, 1, lev, 0.005),
                       qty * price * stop_pct / 100, 0.7, f"{cycle}-{symbol[:3]}", cycle, at)


def broker(feed, store=None, equity=10_000.0):
    return PaperBroker(feed=feed, store=store or MemoryBookStore(), clock=SimulatedClock(T0), initial_equity=equity,
                       costs=CostModel(), limits=RiskLimits())


async def test_fills_at_next_bar_open_with_slippage_and_fee_and_is_idempotent():
    bars = flat_bars()
    bars[1, 1] = 101.0  # open of the bar after the decision
    feed = ArrayBarFeed({"BTC/USDT:USDT": bars}, {})
    b = broker(feed)
    at = T0 + timedelta(hours=1)
    assert await b.execute(intent(at=at)) == []
    assert await b.execute(intent(at=at)) == []  # same cycle again: nothing new
    assert await b.sync(at) == []  # the bar at `at` has not closed yet
    events = await b.sync(at + timedelta(hours=1))
    assert [e.kind for e in events] == ["entry"]
    assert events[0].price == pytest.approx(101.0 * 1.0002)
    assert events[0].time == at
    (pos,) = await b.positions()
    assert pos.fees_paid == pytest.approx(pos.qty * pos.entry_price * 0.0005)
    assert len(await b.pending_orders()) == 0


async def test_restart_over_the_same_store_continues_exactly():
    store = MemoryBookStore()
    bars = flat_bars(30)
    bars[20, 3] = 90.0  # a low that hits the stop at hour 20
    feed = ArrayBarFeed({"BTC/USDT:USDT": bars}, {})
    first = broker(feed, store)
    await first.execute(intent())
    await first.sync(T0 + timedelta(hours=10))
    second = broker(feed, store)  # a fresh process over the same book
    assert [p.id for p in await second.positions()] == [p.id for p in await first.positions()]
    events = await second.sync(T0 + timedelta(hours=25))
    assert [(e.kind, e.reason) for e in events] == [("exit", "stop")]
    assert await second.sync(T0 + timedelta(hours=25)) == []  # re-running changes nothing
    assert len(store.trades) == 1


async def test_manual_close_and_close_all():
    feed = ArrayBarFeed({"BTC/USDT:USDT": flat_bars(), "ETH/USDT:USDT": flat_bars()}, {})
    b = broker(feed)
    await b.execute(intent())
    await b.execute(intent("ETH/USDT:USDT", "short"))
    await b.sync(T0 + timedelta(hours=3))
    assert len(await b.positions()) == 2
    (event,) = await b.close_position("BTC/USDT:USDT")
    assert event.reason == "manual" and event.trade.exit_price == pytest.approx(100.0 * (1 - 0.0002))
    events = await b.close_all()
    assert [e.symbol for e in events] == ["ETH/USDT:USDT"] and await b.positions() == []


@pytest.mark.skipif(not have_data(), reason="needs ../shared/data (real Binance perp candles and funding)")
async def test_accounting_identity_and_funding_over_real_data():
    symbols = {"BTC/USDT:USDT": "BTCUSDT", "ETH/USDT:USDT": "ETHUSDT"}
    bars = {s: load_bars(p)[:3000] for s, p in symbols.items()}
    funding = {s: load_funding(p) for s, p in symbols.items()}
    feed = ArrayBarFeed(bars, funding)
    initial = 10_000.0
    b = broker(feed, equity=initial)
    start = bars["BTC/USDT:USDT"][0, 0]
    rng = np.random.default_rng(7)
    for i in range(1, 2990):
        as_of = datetime.fromtimestamp((start + i * HOUR_MS) / 1000, tz=UTC)
        await b.sync(as_of)
        if i % 7 == 0:
            account = await b.account()
            for symbol in symbols:
                if account.position(symbol) is None and rng.random() < 0.5:
                    price = float(bars[symbol][i - 1, 4])
                    side = "long" if rng.random() < 0.5 else "short"
                    qty = account.equity * 0.01 / (price * 0.02)
                    await b.execute(intent(symbol, side, price, as_of, qty, 2.0, 5, as_of.isoformat()))
    await b.close_all("end")
    trades = await b._store.closed_trades()
    assert len(trades) > 50
    reasons = {t.exit_reason for t in trades}
    assert {"stop", "tp1"} <= reasons
    total_net = sum(t.net_pnl for t in trades)
    final = (await b.account()).equity
    assert round(final, 2) == round(initial + total_net, 2)
    for t in trades:
        assert t.net_pnl == pytest.approx(t.gross_pnl - t.fees + t.funding, abs=1e-9)
    # funding: an independent calculation from the funding file and the 1h opens at settlement time
    checked = 0
    for t in trades:
        pair = symbols[t.symbol]
        rates = pd.read_csv(CYFT / f"{pair}_perp_funding_8h.csv")
        opens = dict(zip(bars[t.symbol][:, 0].astype(np.int64), bars[t.symbol][:, 1], strict=True))
        sign = 1 if t.side == "long" else -1
        entry_ms, exit_ms = to_ms(t.entry_time), to_ms(t.exit_time)
        window = rates[(rates.timestamp_ms > entry_ms) & (rates.timestamp_ms <= exit_ms)]
        expected = sum(-sign * r * t.qty * opens[int(ts)] for ts, r in zip(window.timestamp_ms, window.funding_rate,
                                                                               strict=True))
        assert t.funding == pytest.approx(expected, rel=1e-9, abs=1e-9)
        checked += len(window) > 0
        if checked > 40:
            break
    assert checked > 10


async def test_market_data_feed_pages_back_so_a_long_downtime_skips_no_bar():
    from core.execution.paper_broker import MarketDataBarFeed
    from core.market.offline import OfflineMarketData, sample_data_dir

    data = OfflineMarketData(sample_data_dir())
    start = datetime(2024, 2, 1, tzinfo=UTC)
    until = start + timedelta(hours=500)
    small = await MarketDataBarFeed(data, "1h", max_bars=50).bars("BTC/USDT:USDT", to_ms(start), to_ms(until))
    whole = await MarketDataBarFeed(data, "1h", max_bars=1000).bars("BTC/USDT:USDT", to_ms(start), to_ms(until))
    assert len(small) == 500 and small == whole
    assert small[0][0] == to_ms(start) and small[-1][0] == to_ms(until - timedelta(hours=1))
    assert all(b[0] - a[0] == 3_600_000 for a, b in itertools.pairwise(small))


class YieldingFeed(ArrayBarFeed):
    """Fetching bars takes turns of the event loop, as the exchange or a file read does live."""

    async def bars(self, symbol, start_ms, until_ms):
        for _ in range(3):
            await asyncio.sleep(0)
        return await super().bars(symbol, start_ms, until_ms)


async def test_concurrent_syncs_and_a_manual_close_never_book_a_bar_twice():
    """Live, the hourly cycle, the minute monitor and an admin's /close can all reach the book at once."""
    bars = flat_bars(30)
    bars[20, 3] = 90.0  # the stop is hit at hour 20
    feeds = {s: bars for s in ("BTC/USDT:USDT", "ETH/USDT:USDT")}
    b = broker(YieldingFeed(feeds, {}))
    await b.execute(intent())
    await b.execute(intent("ETH/USDT:USDT"))
    await b.sync(T0 + timedelta(hours=5))
    results = await asyncio.gather(
        b.sync(T0 + timedelta(hours=25)), b.sync(T0 + timedelta(hours=25)), b.close_position("ETH/USDT:USDT")
    )
    exits = [e for events in results for e in events if e.kind == "exit"]
    assert sorted(e.symbol for e in exits) == ["BTC/USDT:USDT", "ETH/USDT:USDT"]  # each position closed once
    assert await b.positions() == []
    realised = sum(e.trade.net_pnl for e in exits)
    assert b.cash == pytest.approx(10_000.0 + realised)
