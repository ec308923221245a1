"""The durable outbox in SQLite (migration 004): `core.services.outbox.Outbox` over the shared connection.

Every write commits at once: a post enqueued is on disk before anyone is told it will be posted, and a
Telegram message id is on disk the moment Telegram answers.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime

from core.services.outbox import NewPost, OutboxPost
from storage.db import Database

_COLUMNS = (
    "id, dedupe_key, chat_id, kind, text, image, image_path, reply_to_key, status, attempts, "
    "next_attempt_at, message_ids, created_at, handed_at, sent_at, last_error"
)


def _iso(moment: datetime) -> str:
    # Fixed-width UTC text so that string comparison in SQL orders like time.
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _row(row: sqlite3.Row) -> OutboxPost:
    created = _parse(row["created_at"])
    next_at = _parse(row["next_attempt_at"])
    assert created is not None and next_at is not None
    return OutboxPost(
        id=int(row["id"]),
        dedupe_key=row["dedupe_key"],
        chat_id=row["chat_id"],
        kind=row["kind"],
        text=row["text"],
        image=None if row["image"] is None else bytes(row["image"]),
        image_path=row["image_path"],
        reply_to_key=row["reply_to_key"],
        status=row["status"],
        attempts=int(row["attempts"]),
        next_attempt_at=next_at,
        message_ids=tuple(int(m) for m in json.loads(row["message_ids"])),
        created_at=created,
        handed_at=_parse(row["handed_at"]),
        sent_at=_parse(row["sent_at"]),
        last_error=row["last_error"],
    )


class SqliteOutbox:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def enqueue(self, post: NewPost) -> bool:
        inserted = await self._db.write(
            "INSERT INTO outbox (dedupe_key, chat_id, kind, text, image, image_path, reply_to_key, "
            "next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(dedupe_key) DO NOTHING",
            (
                post.dedupe_key,
                post.chat_id,
                post.kind,
                post.text,
                post.image,
                post.image_path,
                post.reply_to_key,
                _iso(post.created_at),
                _iso(post.created_at),
            ),
        )
        return inserted == 1

    async def due(self, now: datetime) -> list[OutboxPost]:
        async with self._db.conn.execute(
            f"SELECT {_COLUMNS} FROM outbox WHERE id IN "
            "(SELECT MIN(id) FROM outbox WHERE status = 'pending' GROUP BY chat_id) "
            "AND next_attempt_at <= ? ORDER BY id",
            (_iso(now),),
        ) as cursor:
            rows = await cursor.fetchall()
        return [_row(r) for r in rows]

    async def mark_handed(self, post_id: int, now: datetime) -> None:
        await self._write(
            "UPDATE outbox SET attempts = attempts + 1, handed_at = COALESCE(handed_at, ?) WHERE id = ?",
            (_iso(now), post_id),
        )

    async def record_part(self, post_id: int, message_id: int) -> None:
        await self._write(
            "UPDATE outbox SET message_ids = json_insert(message_ids, '$[#]', ?), "
            "message_id = COALESCE(message_id, ?) WHERE id = ?",
            (int(message_id), int(message_id), post_id),
        )

    async def mark_sent(self, post_id: int, now: datetime) -> None:
        await self._write(
            "UPDATE outbox SET status = 'sent', sent_at = ?, last_error = NULL WHERE id = ?", (_iso(now), post_id)
        )

    async def mark_retry(self, post_id: int, next_attempt_at: datetime, error: str) -> None:
        await self._write(
            "UPDATE outbox SET next_attempt_at = ?, last_error = ? WHERE id = ?",
            (_iso(next_attempt_at), error[:1000], post_id),
        )

    async def mark_failed(self, post_id: int, error: str) -> None:
        await self._write("UPDATE outbox SET status = 'failed', last_error = ? WHERE id = ?", (error[:1000], post_id))

    async def get(self, dedupe_key: str) -> OutboxPost | None:
        async with self._db.conn.execute(
            f"SELECT {_COLUMNS} FROM outbox WHERE dedupe_key = ?", (dedupe_key,)
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else _row(row)

    async def posts(self, kind: str | None = None) -> list[OutboxPost]:
        sql = f"SELECT {_COLUMNS} FROM outbox"
        params: tuple[object, ...] = ()
        if kind is not None:
            sql += " WHERE kind = ?"
            params = (kind,)
        async with self._db.conn.execute(sql + " ORDER BY id", params) as cursor:
            rows = await cursor.fetchall()
        return [_row(r) for r in rows]

    async def pending_count(self) -> int:
        """Posts not yet sent (the dashboard's outbox depth)."""
        async with self._db.conn.execute("SELECT COUNT(*) FROM outbox WHERE status = 'pending'") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def _write(self, sql: str, params: tuple[object, ...]) -> None:
        await self._db.write(sql, params)
