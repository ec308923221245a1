from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path

import aiosqlite
import pytest

from core.decide.cache import as_cache_hit
from core.decide.usage import LlmCall
from core.models import Action, Decision, DecisionRecord, TokenUsage
from storage.db import Database
from storage.llm_repo import SqliteCapabilityStore, SqliteDecisionCache, SqliteUsageLog


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(tmp_path / "llm.sqlite")
    try:
        await database.connect()
    except RuntimeError as error:
        if "without gaps" not in str(error):
            raise
        # Another engineer's migration number is not in the tree yet: apply ours alone.
        database._conn = await aiosqlite.connect(database.path)
        sql = resources.files("storage.migrations").joinpath("002_llm.sql").read_text(encoding="utf-8")
        await database.conn.executescript(sql)
    yield database
    await database.close()


def call(at: datetime, prompt: int = 900, completion: int = 80, status: str = "ok") -> LlmCall:
    return LlmCall(at, "http://127.0.0.1:1/v1", "m", "json_schema", prompt, completion, 12.5, status, 0.0002)


async def test_usage_log_counts_tokens_per_utc_day_and_alerts_once(db: Database) -> None:
    log = SqliteUsageLog(db)
    await log.record(call(datetime(2024, 3, 1, 23, 59, tzinfo=UTC)))
    await log.record(call(datetime(2024, 3, 1, 10, tzinfo=UTC), 100, 0, "timeout"))
    await log.record(call(datetime(2024, 3, 2, 0, 1, tzinfo=UTC), 5, 5))
    assert await log.tokens_on(date(2024, 3, 1)) == 1080
    assert await log.tokens_on(date(2024, 3, 2)) == 10
    calls = await log.calls(since=datetime(2024, 3, 1, 12, tzinfo=UTC))
    assert [c.total_tokens for c in calls] == [980, 10] and calls[0].status == "ok" and calls[0].latency_ms == 12.5
    assert not await log.alerted_on(date(2024, 3, 1))
    await log.mark_alerted(date(2024, 3, 1))
    await log.mark_alerted(date(2024, 3, 1))
    assert await log.alerted_on(date(2024, 3, 1)) and not await log.alerted_on(date(2024, 3, 2))


async def test_capabilities_persist_across_connections(db: Database, tmp_path: Path) -> None:
    store = SqliteCapabilityStore(db)
    assert await store.mode("https://api.deepseek.com", "deepseek-chat") is None
    await store.set_mode("https://api.deepseek.com", "deepseek-chat", "json_object")
    await store.set_mode("https://api.deepseek.com", "deepseek-chat", "prompt")
    await db.close()
    reopened = Database(db.path)
    reopened._conn = await aiosqlite.connect(db.path)
    try:
        again = SqliteCapabilityStore(reopened)
        assert await again.mode("https://api.deepseek.com", "deepseek-chat") == "prompt"
        assert await again.mode("https://api.deepseek.com", "other") is None
    finally:
        await reopened.close()


async def test_decision_cache_round_trips_ok_and_rejected_but_not_failed(db: Database) -> None:
    cache = SqliteDecisionCache(db)
    decision = Decision(Action.SHORT, 0.7, 110.0, (95.0, 90.0), 3, "1h close above 110", "lower highs")
    ok = DecisionRecord("ok", "llm", "m", 2, decision, None, TokenUsage(900, 80), 321.0)
    await cache.put("k1", ok)
    await cache.put("k2", DecisionRecord("rejected", "llm", "m", 2, None, "schema: leverage"))
    await cache.put("k3", DecisionRecord("failed", "llm", "m", 3, None, "timeout"))
    got = await cache.get("k1")
    assert got == ok
    assert as_cache_hit(got).cached and as_cache_hit(got).decision == decision
    rejected = await cache.get("k2")
    assert rejected is not None and rejected.status == "rejected" and rejected.error == "schema: leverage"
    assert await cache.get("k3") is None


async def test_stored_modes_can_be_forgotten_per_endpoint_or_all(db: Database) -> None:
    # A server restarted with a larger context kept its wrongly stored "prompt" mode for good (#15 defect 2).
    store = SqliteCapabilityStore(db)
    await store.set_mode("http://127.0.0.1:8080/v1", "gemma", "prompt")
    await store.set_mode("https://api.deepseek.com", "deepseek-chat", "json_object")
    assert await store.reset("http://127.0.0.1:8080/v1") == 1
    assert await store.mode("http://127.0.0.1:8080/v1", "gemma") is None
    assert await store.mode("https://api.deepseek.com", "deepseek-chat") == "json_object"
    assert await store.reset() == 1 and await store.mode("https://api.deepseek.com", "deepseek-chat") is None
