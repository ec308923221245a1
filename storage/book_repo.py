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
    """The bot's paper book (tables `book_*`), or with `contestant` an arena contestant's own book (tables
    `arena_*`, every row keyed by the contestant's name): the same statements over either."""

    def __init__(self, db: Database, contestant: str | None = None) -> None:
        self._db = db
        self._prefix = "book" if contestant is None else "arena"
        self._key = "" if contestant is None else "contestant, "  # the extra key column, first in each key
        self._mark = "" if contestant is None else "?, "
        self._args: tuple[Any, ...] = () if contestant is None else (contestant,)

    def _table(self, name: str) -> str:
        return f"{self._prefix}_{name}"

    def _where(self, condition: str = "") -> str:
        parts = (["contestant = ?"] if self._args else []) + ([condition] if condition else [])
        return f" WHERE {' AND '.join(parts)}" if parts else ""

    async def load(self, recent: int = 50) -> LoadedBook:
        conn, where, args = self._db.conn, self._where(), self._args
        async with conn.execute(f"SELECT doc, cursor_ms, mark FROM {self._table('positions')}{where}", args) as cursor:
            positions = [BookedPosition(_position(r[0]), int(r[1]), float(r[2])) for r in await cursor.fetchall()]
        async with conn.execute(f"SELECT id, doc, created_ms, status FROM {self._table('orders')}{where}", args) as cursor:
            rows = await cursor.fetchall()
        orders = [PendingOrder(r[0], _intent(r[1]), int(r[2])) for r in rows if r[3] == "pending"]
        order_ids = {r[0] for r in rows}
        async with conn.execute(f"SELECT key, value FROM {self._table('meta')}{where}", args) as cursor:
            meta: dict[str, float | str] = {}
            for key, value in await cursor.fetchall():
                try:
                    meta[key] = float(value)
                except ValueError:
                    meta[key] = value
        async with conn.execute(
            f"SELECT {', '.join(_TRADE_COLUMNS)} FROM {self._table('trades')}{where} ORDER BY id DESC LIMIT ?",
            (*args, recent),
        ) as cursor:
            trades = [_trade(r) for r in reversed(list(await cursor.fetchall()))]
        return LoadedBook(positions, orders, order_ids, meta, trades)

    async def commit(self, change: BookChange) -> None:
        if not change:
            return
        key, mark, args = self._key, self._mark, self._args
        async with self._db.transaction() as conn:
            for booked in change.upsert_positions:
                p = booked.position
                await conn.execute(
                    f"INSERT INTO {self._table('positions')} ({key}id, symbol, doc, cursor_ms, mark) "
                    f"VALUES ({mark}?, ?, ?, ?, ?) ON CONFLICT({key}id) DO UPDATE SET doc=excluded.doc, "
                    "cursor_ms=excluded.cursor_ms, mark=excluded.mark",
                    (*args, p.id, p.symbol, _doc(p), booked.cursor_ms, booked.mark),
                )
            for position_id in change.delete_positions:
                await conn.execute(f"DELETE FROM {self._table('positions')}{self._where('id = ?')}",
                                   (*args, position_id))
            for order in change.add_orders:
                await conn.execute(
                    f"INSERT OR IGNORE INTO {self._table('orders')} ({key}id, symbol, doc, created_ms, status) "
                    f"VALUES ({mark}?, ?, ?, ?, 'pending')",
                    (*args, order.id, order.intent.symbol, _doc(order.intent), order.created_ms),
                )
            for order_id, status in change.finish_orders:
                await conn.execute(f"UPDATE {self._table('orders')} SET status = ?{self._where('id = ?')}",
                                   (status, *args, order_id))
            if change.fills:
                await conn.executemany(
                    f"INSERT INTO {self._table('fills')} ({key}order_id, position_id, symbol, side, kind, time, "
                    f"price, qty, fee, reason) VALUES ({mark}?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(*args, f.order_id, f.position_id, f.symbol, f.side, f.kind, _iso(f.time), f.price, f.qty,
                      f.fee, f.reason) for f in change.fills],
                )
            if change.trades:
                await conn.executemany(
                    f"INSERT INTO {self._table('trades')} ({key}{', '.join(_TRADE_COLUMNS)}) "
                    f"VALUES ({mark}{', '.join('?' * len(_TRADE_COLUMNS))})",
                    [(*args, *(_iso(v) if isinstance(v, datetime) else v for v in asdict(t).values()))
                     for t in change.trades],
                )
            if change.meta:
                await conn.executemany(
                    f"INSERT INTO {self._table('meta')} ({key}key, value) VALUES ({mark}?, ?) "
                    f"ON CONFLICT({key}key) DO UPDATE SET value=excluded.value",
                    [(*args, k, repr(v) if isinstance(v, float) else str(v)) for k, v in change.meta.items()],
                )
            if change.equity is not None:
                await conn.execute(
                    f"INSERT OR REPLACE INTO {self._table('equity')} ({key}time, equity) VALUES ({mark}?, ?)",
                    (*args, _iso(change.equity[0]), change.equity[1]),
                )

    async def closed_trades(self, since: datetime | None = None) -> list[ClosedTrade]:
        where = self._where("exit_time >= ?" if since is not None else "")
        args = (*self._args, _iso(since)) if since is not None else self._args
        sql = f"SELECT {', '.join(_TRADE_COLUMNS)} FROM {self._table('trades')}{where} ORDER BY id"
        async with self._db.conn.execute(sql, args) as cursor:
            return [_trade(r) for r in await cursor.fetchall()]

    async def equity_curve(self, since: datetime | None = None) -> list[tuple[datetime, float]]:
        where = self._where("time >= ?" if since is not None else "")
        args = (*self._args, _iso(since)) if since is not None else self._args
        async with self._db.conn.execute(
            f"SELECT time, equity FROM {self._table('equity')}{where} ORDER BY time", args
        ) as cursor:
            return [(datetime.fromisoformat(r[0]), float(r[1])) for r in await cursor.fetchall()]

    async def fills(self) -> list[Fill]:
        async with self._db.conn.execute(
            "SELECT order_id, position_id, symbol, side, kind, time, price, qty, fee, reason "
            f"FROM {self._table('fills')}{self._where()} ORDER BY id", self._args
        ) as cursor:
            return [Fill(r[0], r[1], r[2], r[3], r[4], datetime.fromisoformat(r[5]), r[6], r[7], r[8], r[9])
                    for r in await cursor.fetchall()]
