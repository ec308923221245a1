"""SQLite BookStore (core.execution.paper_book): the paper broker's book, one transaction per BookChange."""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from datetime import UTC, datetime
from typing import Any

from core.execution.paper_book import BookChange, BookedPosition, Fill, LoadedBook, PendingOrder
from core.models import ClosedTrade, OrderIntent, Position
from storage.db import Database

_TRADE_COLUMNS = [f.name for f in fields(ClosedTrade)]
_TIME_FIELDS = ("entry_time", "exit_time", "created_at", "time")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _doc(value: Any) -> str:
    data = asdict(value)
    for key in _TIME_FIELDS:
        if key in data and isinstance(data[key], datetime):
            data[key] = _iso(data[key])
    return json.dumps(data)


def _position(doc: str) -> Position:
    data = json.loads(doc)
    data["entry_time"] = datetime.fromisoformat(data["entry_time"])
    data["take_profit"] = tuple(data["take_profit"])
    return Position(**data)


def _intent(doc: str) -> OrderIntent:
    data = json.loads(doc)
    data["created_at"] = datetime.fromisoformat(data["created_at"])
    return OrderIntent(**data)


def _trade(row: Any) -> ClosedTrade:
    data = dict(zip(_TRADE_COLUMNS, row, strict=True))
    data["entry_time"] = datetime.fromisoformat(data["entry_time"])
    data["exit_time"] = datetime.fromisoformat(data["exit_time"])
    return ClosedTrade(**data)


class SqliteBookStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def load(self, recent: int = 50) -> LoadedBook:
        conn = self._db.conn
        async with conn.execute("SELECT doc, cursor_ms, mark FROM book_positions") as cursor:
            positions = [BookedPosition(_position(r[0]), int(r[1]), float(r[2])) for r in await cursor.fetchall()]
        async with conn.execute("SELECT id, doc, created_ms, status FROM book_orders") as cursor:
            rows = await cursor.fetchall()
        orders = [PendingOrder(r[0], _intent(r[1]), int(r[2])) for r in rows if r[3] == "pending"]
        order_ids = {r[0] for r in rows}
        async with conn.execute("SELECT key, value FROM book_meta") as cursor:
            meta: dict[str, float | str] = {}
            for key, value in await cursor.fetchall():
                try:
                    meta[key] = float(value)
                except ValueError:
                    meta[key] = value
        async with conn.execute(
            f"SELECT {', '.join(_TRADE_COLUMNS)} FROM book_trades ORDER BY id DESC LIMIT ?", (recent,)
        ) as cursor:
            trades = [_trade(r) for r in reversed(list(await cursor.fetchall()))]
        return LoadedBook(positions, orders, order_ids, meta, trades)

    async def commit(self, change: BookChange) -> None:
        if not change:
            return
        async with self._db.transaction() as conn:
            for booked in change.upsert_positions:
                p = booked.position
                await conn.execute(
                    "INSERT INTO book_positions (id, symbol, doc, cursor_ms, mark) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT(id) DO UPDATE SET doc=excluded.doc, cursor_ms=excluded.cursor_ms, mark=excluded.mark",
                    (p.id, p.symbol, _doc(p), booked.cursor_ms, booked.mark),
                )
            for position_id in change.delete_positions:
                await conn.execute("DELETE FROM book_positions WHERE id = ?", (position_id,))
            for order in change.add_orders:
                await conn.execute(
                    "INSERT OR IGNORE INTO book_orders (id, symbol, doc, created_ms, status) "
                    "VALUES (?, ?, ?, ?, 'pending')",
                    (order.id, order.intent.symbol, _doc(order.intent), order.created_ms),
                )
            for order_id, status in change.finish_orders:
                await conn.execute("UPDATE book_orders SET status = ? WHERE id = ?", (status, order_id))
            if change.fills:
                await conn.executemany(
                    "INSERT INTO book_fills (order_id, position_id, symbol, side, kind, time, price, qty, fee, "
                    "reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(f.order_id, f.position_id, f.symbol, f.side, f.kind, _iso(f.time), f.price, f.qty, f.fee,
                      f.reason) for f in change.fills],
                )
            if change.trades:
                await conn.executemany(
                    f"INSERT INTO book_trades ({', '.join(_TRADE_COLUMNS)}) "
                    f"VALUES ({', '.join('?' * len(_TRADE_COLUMNS))})",
                    [tuple(_iso(v) if isinstance(v, datetime) else v for v in asdict(t).values())
                     for t in change.trades],
                )
            if change.meta:
                await conn.executemany(
                    "INSERT INTO book_meta (key, value) VALUES (?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                    [(k, repr(v) if isinstance(v, float) else str(v)) for k, v in change.meta.items()],
                )
            if change.equity is not None:
                await conn.execute(
                    "INSERT OR REPLACE INTO book_equity (time, equity) VALUES (?, ?)",
                    (_iso(change.equity[0]), change.equity[1]),
                )

    async def closed_trades(self, since: datetime | None = None) -> list[ClosedTrade]:
        sql = f"SELECT {', '.join(_TRADE_COLUMNS)} FROM book_trades"
        args: tuple[Any, ...] = ()
        if since is not None:
            sql += " WHERE exit_time >= ?"
            args = (_iso(since),)
        async with self._db.conn.execute(sql + " ORDER BY id", args) as cursor:
            return [_trade(r) for r in await cursor.fetchall()]

    async def equity_curve(self, since: datetime | None = None) -> list[tuple[datetime, float]]:
        sql = "SELECT time, equity FROM book_equity"
        args: tuple[Any, ...] = ()
        if since is not None:
            sql += " WHERE time >= ?"
            args = (_iso(since),)
        async with self._db.conn.execute(sql + " ORDER BY time", args) as cursor:
            return [(datetime.fromisoformat(r[0]), float(r[1])) for r in await cursor.fetchall()]

    async def fills(self) -> list[Fill]:
        async with self._db.conn.execute(
            "SELECT order_id, position_id, symbol, side, kind, time, price, qty, fee, reason FROM book_fills ORDER BY id"
        ) as cursor:
            return [Fill(r[0], r[1], r[2], r[3], r[4], datetime.fromisoformat(r[5]), r[6], r[7], r[8], r[9])
                    for r in await cursor.fetchall()]
