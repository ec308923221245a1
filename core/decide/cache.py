"""Decision cache: the same model, prompt version, snapshot and account context give the same record.

A replay of the same history therefore costs nothing the second time and gives the same decisions.
Live caches keep only `ok` and `rejected` outcomes: a transport failure says nothing about the question. A
replay folder's cache (jsonl_cache.py) keeps failures too, so that a re-run gives the same report.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any, Protocol

from core.decide.prompt import canonical_json
from core.models import Decision, DecisionRecord, DomainError, TokenUsage


def cache_key(model: str, prompt_version: str, snapshot_json: dict[str, Any], account_json: dict[str, Any]) -> str:
    payload = "\n".join((model, prompt_version, canonical_json(snapshot_json), canonical_json(account_json)))
    return hashlib.sha256(payload.encode()).hexdigest()


def record_to_json(record: DecisionRecord) -> dict[str, Any]:
    return {**record.to_json_dict(), "latency_ms": record.latency_ms, "mode": record.mode}


def record_from_json(data: dict[str, Any]) -> DecisionRecord:
    raw = data.get("decision")
    decision = None
    if raw is not None:
        decision = Decision(
            action=raw["action"],
            confidence=float(raw["confidence"]),
            stop_loss=raw.get("stop_loss"),
            take_profit=tuple(raw.get("take_profit") or ()),
            leverage=int(raw.get("leverage", 1)),
            invalidation=raw.get("invalidation", ""),
            reasoning=raw.get("reasoning", ""),
            note=raw.get("note", ""),
        )
    usage = data.get("usage") or {}
    status = data["status"]
    if status not in ("ok", "rejected", "failed"):
        raise DomainError(f"cached record has unknown status {status!r}")
    return DecisionRecord(
        status=status,
        engine=data["engine"],
        model=data["model"],
        attempts=int(data["attempts"]),
        decision=decision,
        error=data.get("error"),
        usage=TokenUsage(int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))),
        latency_ms=float(data.get("latency_ms", 0.0)),
        mode=data.get("mode"),
    )


def as_cache_hit(record: DecisionRecord) -> DecisionRecord:
    """What a hit returns: the same decision, marked cached, and no tokens spent this time."""
    return replace(record, cached=True, usage=TokenUsage(), latency_ms=0.0)


class DecisionCache(Protocol):
    async def get(self, key: str) -> DecisionRecord | None: ...

    async def put(self, key: str, record: DecisionRecord) -> None: ...


class MemoryDecisionCache:
    def __init__(self) -> None:
        self._records: dict[str, dict[str, Any]] = {}

    async def get(self, key: str) -> DecisionRecord | None:
        data = self._records.get(key)
        return None if data is None else record_from_json(data)

    async def put(self, key: str, record: DecisionRecord) -> None:
        if record.status == "failed":
            return
        self._records[key] = record_to_json(record)

    def __len__(self) -> int:
        return len(self._records)
