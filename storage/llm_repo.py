"""SQLite implementations of what the LLM path persists: call log and budget alerts (`UsageLog`),
endpoint capabilities (`CapabilityStore`) and the decision cache (`DecisionCache`)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from core.decide.cache import record_from_json, record_to_json
from core.decide.capabilities import OUTPUT_MODES, OutputMode
from core.decide.usage import LlmCall
from core.models import DecisionRecord
from storage.db import Database


class SqliteUsageLog:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, call: LlmCall) -> None:
        at = call.at.astimezone(UTC)
        await self._db.write(
            "INSERT INTO llm_calls (at, day, endpoint, model, mode, prompt_tokens, completion_tokens, latency_ms, "
            "status, cost_usd) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                at.isoformat(),
                at.date().isoformat(),
                call.endpoint,
                call.model,
                call.mode,
                call.prompt_tokens,
                call.completion_tokens,
                call.latency_ms,
                call.status,
                call.cost_usd,
            ),
        )

    async def tokens_on(self, day: date) -> int:
        async with self._db.conn.execute(
            "SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0) FROM llm_calls WHERE day = ?",
            (day.isoformat(),),
        ) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def cost_total(self) -> float:
        """Estimated USD of every call recorded (the `aitrader_llm_cost_usd_total` counter)."""
        async with self._db.conn.execute("SELECT COALESCE(SUM(cost_usd), 0) FROM llm_calls") as cursor:
            row = await cursor.fetchone()
        return float(row[0]) if row else 0.0

    async def calls(self, since: datetime | None = None) -> list[LlmCall]:
        query = (
            "SELECT at, endpoint, model, mode, prompt_tokens, completion_tokens, latency_ms, status, cost_usd "
            "FROM llm_calls"
        )
        params: tuple[str, ...] = ()
        if since is not None:
            query += " WHERE at >= ?"
            params = (since.astimezone(UTC).isoformat(),)
        async with self._db.conn.execute(query + " ORDER BY id", params) as cursor:
            rows = await cursor.fetchall()
        return [
            LlmCall(datetime.fromisoformat(r[0]), r[1], r[2], r[3], int(r[4]), int(r[5]), float(r[6]), r[7], float(r[8]))
            for r in rows
        ]

    async def alerted_on(self, day: date) -> bool:
        async with self._db.conn.execute(
            "SELECT 1 FROM llm_budget_alerts WHERE day = ?", (day.isoformat(),)
        ) as cursor:
            return await cursor.fetchone() is not None

    async def mark_alerted(self, day: date) -> None:
        await self._db.write(
            "INSERT OR IGNORE INTO llm_budget_alerts (day, at) VALUES (?, ?)",
            (day.isoformat(), datetime.now(UTC).isoformat()),
        )


class SqliteCapabilityStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def mode(self, endpoint: str, model: str) -> OutputMode | None:
        async with self._db.conn.execute(
            "SELECT mode FROM llm_capabilities WHERE endpoint = ? AND model = ?", (endpoint, model)
        ) as cursor:
            row = await cursor.fetchone()
        if row is None or row[0] not in OUTPUT_MODES:
            return None
        return row[0]

    async def set_mode(self, endpoint: str, model: str, mode: OutputMode) -> None:
        await self._db.write(
            "INSERT INTO llm_capabilities (endpoint, model, mode, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(endpoint, model) DO UPDATE SET mode = excluded.mode, updated_at = excluded.updated_at",
            (endpoint, model, mode, datetime.now(UTC).isoformat()),
        )

    async def reset(self, endpoint: str | None = None) -> int:
        if endpoint is None:
            return await self._db.write("DELETE FROM llm_capabilities")
        return await self._db.write("DELETE FROM llm_capabilities WHERE endpoint = ?", (endpoint,))


class SqliteDecisionCache:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, key: str) -> DecisionRecord | None:
        async with self._db.conn.execute("SELECT record FROM llm_decision_cache WHERE key = ?", (key,)) as cursor:
            row = await cursor.fetchone()
        return None if row is None else record_from_json(json.loads(row[0]))

    async def put(self, key: str, record: DecisionRecord) -> None:
        if record.status == "failed":
            return
        await self._db.write(
            "INSERT OR REPLACE INTO llm_decision_cache (key, record, created_at) VALUES (?, ?, ?)",
            (key, json.dumps(record_to_json(record)), datetime.now(UTC).isoformat()),
        )
