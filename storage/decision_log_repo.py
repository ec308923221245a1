"""SQLite DecisionLog (table decision_log of migration 001): one row per (cycle, symbol), written before
the broker executes; the snapshot, decision record and verdict are kept as JSON for /why."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from core.market.snapshot_json import snapshot_from_json
from core.models import Decision, DecisionRecord, GuardVerdict, OrderIntent, Snapshot, TokenUsage
from core.protocols import CycleRecord
from storage.db import Database


def _verdict_json(verdict: GuardVerdict) -> str:
    intent = verdict.intent
    return json.dumps({
        "approved": verdict.approved,
        "reason": verdict.reason,
        "detail": verdict.detail,
        "checks": list(verdict.checks),
        "intent": None if intent is None else {
            "symbol": intent.symbol, "side": intent.side, "qty": intent.qty, "leverage": intent.leverage,
            "stop_loss": intent.stop_loss, "take_profit": list(intent.take_profit),
            "reference_price": intent.reference_price, "est_liquidation": intent.est_liquidation,
            "risk_amount": intent.risk_amount, "confidence": intent.confidence, "signal_id": intent.signal_id,
            "cycle_id": intent.cycle_id, "created_at": intent.created_at.astimezone(UTC).isoformat(),
        },
    })


def _snapshot(raw: str | None) -> Snapshot | None:
    """The stored snapshot back, or None (none stored, or a row older than today's snapshot shape)."""
    if raw is None:
        return None
    try:
        return snapshot_from_json(json.loads(raw))
    except (ValueError, TypeError):
        return None


def _record_from_json(raw: str) -> DecisionRecord:
    data = json.loads(raw)
    decision = None
    if data.get("decision"):
        d = data["decision"]
        decision = Decision(d["action"], d["confidence"], d.get("stop_loss"), tuple(d.get("take_profit") or ()),
                            d.get("leverage", 1), d.get("invalidation", ""), d.get("reasoning", ""),
                            d.get("note", ""))
    usage = data.get("usage") or {}
    return DecisionRecord(data["status"], data["engine"], data["model"], data["attempts"], decision,
                          data.get("error"), TokenUsage(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)))


def _verdict_from_json(raw: str) -> GuardVerdict:
    data = json.loads(raw)
    if data["approved"]:
        i = dict(data["intent"])
        i["created_at"] = datetime.fromisoformat(i["created_at"])
        return GuardVerdict(True, OrderIntent(**i), None, data["detail"], tuple(data["checks"]))
    return GuardVerdict(False, None, data["reason"], data["detail"], tuple(data["checks"]))


class SqliteDecisionLog:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def cycle_done(self, cycle_id: str, symbol: str) -> bool:
        async with self._db.conn.execute(
            "SELECT 1 FROM decision_log WHERE cycle_id = ? AND symbol = ?", (cycle_id, symbol)
        ) as cursor:
            return await cursor.fetchone() is not None

    async def record_cycle(self, entry: CycleRecord) -> None:
        record, verdict = entry.record, entry.verdict
        decision = record.decision if record is not None else None
        await self._insert(entry, record, verdict, decision)

    async def _insert(self, entry: CycleRecord, record: Any, verdict: Any, decision: Any) -> None:
        await self._db.write(
            "INSERT OR REPLACE INTO decision_log (cycle_id, symbol, as_of, signal_id, snapshot, record, verdict, "
            "status, action, approved, reason, error, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                entry.cycle_id,
                entry.symbol,
                entry.as_of.astimezone(UTC).isoformat(),
                entry.signal_id,
                None if entry.snapshot is None else json.dumps(entry.snapshot.to_json_dict()),
                None if record is None else json.dumps(record.to_json_dict()),
                None if verdict is None else _verdict_json(verdict),
                None if record is None else record.status,
                None if decision is None else str(decision.action),
                1 if verdict is not None and verdict.approved else 0,
                None if verdict is None else verdict.reason,
                entry.error,
                datetime.now(UTC).isoformat(),
            ),
        )

    async def signal(self, signal_id: str) -> CycleRecord | None:
        async with self._db.conn.execute(
            "SELECT cycle_id, symbol, as_of, record, verdict, error, snapshot FROM decision_log WHERE signal_id = ?",
            (signal_id,),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        return CycleRecord(
            cycle_id=row[0],
            symbol=row[1],
            as_of=datetime.fromisoformat(row[2]),
            snapshot=_snapshot(row[6]),  # for /why's context (#17); the JSON itself: snapshot_json()
            record=None if row[3] is None else _record_from_json(row[3]),
            verdict=None if row[4] is None else _verdict_from_json(row[4]),
            signal_id=signal_id,
            error=row[5],
        )

    async def recent(self, limit: int = 50) -> list[CycleRecord]:
        """The newest decisions first (the dashboard's decision log), without their snapshots."""
        async with self._db.conn.execute(
            "SELECT cycle_id, symbol, as_of, record, verdict, error, signal_id FROM decision_log "
            "ORDER BY as_of DESC, symbol LIMIT ?",
            (int(limit),),
        ) as cursor:
            rows = await cursor.fetchall()
        return [
            CycleRecord(
                cycle_id=r[0], symbol=r[1], as_of=datetime.fromisoformat(r[2]), snapshot=None,
                record=None if r[3] is None else _record_from_json(r[3]),
                verdict=None if r[4] is None else _verdict_from_json(r[4]),
                signal_id=r[6], error=r[5],
            )
            for r in rows
        ]

    async def snapshot_json(self, signal_id: str) -> dict[str, Any] | None:
        async with self._db.conn.execute(
            "SELECT snapshot FROM decision_log WHERE signal_id = ?", (signal_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None or row[0] is None else json.loads(row[0])

    async def guard_counts(self) -> dict[str, int]:
        async with self._db.conn.execute(
            "SELECT CASE WHEN approved = 1 THEN 'approved' ELSE reason END AS k, COUNT(*) FROM decision_log "
            "WHERE verdict IS NOT NULL GROUP BY k"
        ) as cursor:
            return {str(k): int(n) for k, n in await cursor.fetchall() if k is not None}
