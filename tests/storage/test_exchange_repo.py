"""The live broker's SQLite ledger survives a restart, and the broker runs on it unchanged."""

from __future__ import annotations

from pathlib import Path

from core.execution.exchange_broker import ExchangeBroker
from storage.db import Database
from storage.exchange_repo import SqliteExchangeLedger
from tests.fixtures.exchange.env import intent, make_env


async def test_exchange_ledger_sqlite_survives_restart_and_books_stop(tmp_path: Path) -> None:
    env = await make_env()
    path = tmp_path / "live.sqlite"
    try:
        async with Database(path) as db:
            ledger = SqliteExchangeLedger(db)
            broker = ExchangeBroker(env.exchange, ledger, env.clock, retry_wait_s=0)
            await broker.execute(intent())
        env.fake.move("BTCUSDT", 58_000.0)  # the stop fills while the bot is down
        async with Database(path) as db:
            ledger = SqliteExchangeLedger(db)
            (live,) = await ledger.live_positions()
            assert live.stop is not None and live.stop.client_id.endswith("-s0") and len(live.targets) == 2
            broker = ExchangeBroker(env.exchange, ledger, env.clock, retry_wait_s=0)
            events = await broker.sync(env.clock.now())
            assert [e.reason for e in events] == ["stop"]
            assert await ledger.live_positions() == []
            (trade,) = await ledger.trades()
            assert trade.symbol == "BTC/USDT:USDT" and trade.exit_reason == "stop" and trade.net_pnl < 0
    finally:
        await env.exchange.close()
