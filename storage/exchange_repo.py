"""SQLite implementation of `core.execution.exchange_ledger.ExchangeLedger` (migration 005)."""

from __future__ import annotations

from datetime import UTC, datetime

from core.execution.exchange_ledger import LivePosition, trade_from_json, trade_to_json
from core.models import ClosedTrade
from storage.db import Database


class SqliteExchangeLedger:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def live_positions(self) -> list[LivePosition]:
        async with self._db.conn.execute("SELECT doc FROM exchange_positions ORDER BY symbol") as cursor:
            return [LivePosition.from_json(row[0]) async for row in cursor]

    async def save(self, live: LivePosition) -> None:
        await self._db.write(
            "INSERT INTO exchange_positions (symbol, key, doc, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(symbol) DO UPDATE SET key=excluded.key, doc=excluded.doc, updated_at=excluded.updated_at",
            (live.symbol, live.key, live.to_json(), datetime.now(UTC).isoformat()),
        )

    async def remove(self, symbol: str) -> None:
        await self._db.write("DELETE FROM exchange_positions WHERE symbol = ?", (symbol,))

    async def add_trade(self, trade: ClosedTrade) -> None:
        await self._db.write(
            "INSERT INTO exchange_trades (position_id, symbol, exit_time, doc) VALUES (?, ?, ?, ?)",
            (trade.position_id, trade.symbol, trade.exit_time.astimezone(UTC).isoformat(), trade_to_json(trade)),
        )

    async def trades(self, since: datetime | None = None) -> list[ClosedTrade]:
        """Closed legs in booking order; `since` filters on the indexed UTC exit time."""
        sql = "SELECT doc FROM exchange_trades"
        args: tuple[str, ...] = ()
        if since is not None:
            sql, args = sql + " WHERE exit_time >= ?", (since.astimezone(UTC).isoformat(),)
        async with self._db.conn.execute(sql + " ORDER BY id", args) as cursor:
            return [trade_from_json(row[0]) async for row in cursor]
