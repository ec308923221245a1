from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from core.clock import SimulatedClock
from core.execution.paper_broker import PaperBroker, to_ms
from core.execution.perp_math import liquidation_price
from core.models import OrderIntent
from storage.book_repo import SqliteBookStore
from storage.db import Database
from tests.core.csv_feed import HOUR_MS, ArrayBarFeed

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def bars(n=60):
    t0 = to_ms(T0)
    out = np.array([[t0 + i * HOUR_MS, 100.0, 100.5, 99.5, 100.0] for i in range(n)])
    out[5, 2] = 103.5  # TP1 at 103 in hour 5
    out[6, 3] = 99.0  # the bar after TP1 falls back through break-even (entry 100.02)
    return out


def intent():
    return OrderIntent("BTC/USDT:USDT", "long", 10.0, 5, 98.0, (103.0, 106.0), 100.0,
                       liquidation_price(1, 100, 1, 5, 0.005), 20.0, 0.7, "2024-01-01T00-BTCUSDT", "2024-01-01T00", T0)


async def make(path):
    db = await Database(path).connect()
    store = SqliteBookStore(db)
    feed = ArrayBarFeed({"BTC/USDT:USDT": bars()}, {})
    return db, store, PaperBroker(feed=feed, store=store, clock=SimulatedClock(T0), initial_equity=1_000.0)


async def test_book_survives_a_restart_with_partial_exit_and_moved_stop(tmp_path):
    path = tmp_path / "book.sqlite"
    db, store, broker = await make(path)
    await broker.execute(intent())
    events = await broker.sync(T0 + timedelta(hours=6))
    assert [(e.kind, e.reason) for e in events] == [("entry", ""), ("exit", "tp1")]
    before = (await broker.account()).equity
    await db.close()

    db, store, restarted = await make(path)
    (pos,) = await restarted.positions()
    assert pos.targets_hit == 1 and pos.stop_loss == pos.entry_price and pos.qty == pytest.approx(5.0)
    assert (await restarted.account()).equity == pytest.approx(before)
    assert await restarted.execute(intent()) == []  # the same order again is a no-op
    events = await restarted.sync(T0 + timedelta(hours=40))
    assert [(e.kind, e.reason) for e in events] == [("exit", "breakeven")]
    history = store  # a book store is the paper side's TradeHistory
    trades = await history.closed_trades()
    assert [t.exit_reason for t in trades] == ["tp1", "breakeven"]
    final = (await restarted.account()).equity
    assert round(final, 2) == round(1_000.0 + sum(t.net_pnl for t in trades), 2)
    curve = await history.equity_curve()
    assert curve[-1][1] == pytest.approx(final)
    assert [f.kind for f in await store.fills()] == ["entry", "exit", "exit"]
    assert await history.closed_trades(since=T0 + timedelta(hours=6)) == trades[1:]
    await db.close()


async def test_arena_contestants_keep_their_own_books_beside_the_bots_across_a_restart(tmp_path):
    """The same cycle's order (same id) in two contestants' books and none in the bot's: three books."""
    path = tmp_path / "book.sqlite"
    feed = ArrayBarFeed({"BTC/USDT:USDT": bars()}, {})

    def broker(store):
        return PaperBroker(feed=feed, store=store, clock=SimulatedClock(T0), initial_equity=1_000.0)

    db = await Database(path).connect()
    a, b = SqliteBookStore(db, contestant="rules"), SqliteBookStore(db, contestant="llm:m1")
    await broker(a).execute(intent())
    trader = broker(b)
    await trader.execute(intent())
    await trader.sync(T0 + timedelta(hours=40))
    await db.close()

    db = await Database(path).connect()
    main, a, b = SqliteBookStore(db), SqliteBookStore(db, contestant="rules"), SqliteBookStore(db, contestant="llm:m1")
    assert await broker(main).positions() == [] and await main.closed_trades() == [] and await main.equity_curve() == []
    assert len(await broker(a).pending_orders()) == 1 and await a.closed_trades() == []
    trades = await b.closed_trades()
    assert [t.exit_reason for t in trades] == ["tp1", "breakeven"]
    resumed = broker(b)
    assert await resumed.execute(intent()) == []  # its own order ids came back with it
    assert (await resumed.account()).equity == pytest.approx(1_000.0 + sum(t.net_pnl for t in trades))
    assert (await b.equity_curve())[-1][1] == pytest.approx((await resumed.account()).equity)
    assert [f.kind for f in await b.fills()] == ["entry", "exit", "exit"] and await a.fills() == []
    await db.close()
