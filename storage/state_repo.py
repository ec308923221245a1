"""Runtime state (typed key/value) and the audit log."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from core.models import AuditEntry, RuntimeState
from storage.db import Database

_STATE_KEYS = {"paused": "bool", "dry_run": "bool", "max_leverage": "int", "symbols": "json", "pause_reason": "str"}


def _encode(kind: str, value: object) -> str:
    if kind == "bool":
        return "1" if value else "0"
    if kind == "json":
        return json.dumps(list(value) if isinstance(value, tuple) else value)
    return str(value)


def _decode(kind: str, raw: str) -> object:
    if kind == "bool":
        return raw == "1"
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    if kind == "json":
        return json.loads(raw)
    return raw


class SqliteStateStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._changing = asyncio.Lock()

    def changing(self) -> asyncio.Lock:
        """One state change at a time (see core.protocols.StateStore.changing)."""
        return self._changing

    async def load_state(self, defaults: RuntimeState) -> RuntimeState:
        values: dict[str, object] = {
            "paused": defaults.paused,
            "dry_run": defaults.dry_run,
            "max_leverage": defaults.max_leverage,
            "symbols": defaults.symbols,
            "pause_reason": defaults.pause_reason,
        }
        async with self._db.conn.execute(
            f"SELECT key, kind, value FROM runtime_state WHERE key IN ({','.join('?' * len(_STATE_KEYS))})",
            tuple(_STATE_KEYS),
        ) as cursor:
            async for key, kind, raw in cursor:
                values[key] = _decode(kind, raw)
        values["symbols"] = tuple(values["symbols"])  # type: ignore[arg-type]
        return RuntimeState(**values)  # type: ignore[arg-type]

    async def save_state(self, state: RuntimeState) -> None:
        now = datetime.now(UTC).isoformat()
        rows = [(key, kind, _encode(kind, getattr(state, key)), now) for key, kind in _STATE_KEYS.items()]
        await self._db.write_many(
            "INSERT INTO runtime_state (key, kind, value, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET kind=excluded.kind, value=excluded.value, updated_at=excluded.updated_at",
            rows,
        )

    async def get_value(self, key: str) -> str | None:
        async with self._db.conn.execute("SELECT value FROM runtime_state WHERE key = ?", (key,)) as cursor:
            row = await cursor.fetchone()
        return None if row is None else str(row[0])

    async def set_value(self, key: str, value: str) -> None:
        await self._db.write(
            "INSERT INTO runtime_state (key, kind, value, updated_at) VALUES (?, 'str', ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value=excluded.value, updated_at=excluded.updated_at",
            (key, value, datetime.now(UTC).isoformat()),
        )

    async def append_audit(self, entry: AuditEntry) -> None:
        await self._db.write(
            "INSERT INTO audit_log (at, actor, action, old, new) VALUES (?, ?, ?, ?, ?)",
            (entry.at.astimezone(UTC).isoformat(), entry.actor, entry.action, entry.old, entry.new),
        )

    async def audit(self, limit: int = 20) -> list[AuditEntry]:
        async with self._db.conn.execute(
            "SELECT at, actor, action, old, new FROM audit_log ORDER BY id DESC LIMIT ?", (limit,)
        ) as cursor:
            rows = await cursor.fetchall()
        return [AuditEntry(datetime.fromisoformat(r[0]), r[1], r[2], r[3], r[4]) for r in rows]
