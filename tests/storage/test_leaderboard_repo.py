"""strategy_results in SQLite (migration 006): record, replace on the same key, read back, forget."""

from __future__ import annotations

from pathlib import Path

from core.evaluation.leaderboard import LeaderboardResult
from storage.db import Database
from storage.leaderboard_repo import SqliteLeaderboard


def result(sharpe: float | None, source: str = "replay") -> LeaderboardResult:
    return LeaderboardResult(version="0123456789", engine="llm:m", model="m", source=source,
                             symbols=("BTC/USDT:USDT", "ETH/USDT:USDT"), window=("2023-01-01T00:00:00Z", "2024-01-01T00:00:00Z"),
                             oos=True, trades=7, total_return_pct=-3.5, sharpe=sharpe, max_drawdown_pct=12.0,
                             profit_factor=None, descriptor={"engine": "llm", "model": "m"})


async def test_record_replace_read_and_forget(tmp_path: Path) -> None:
    async with Database(tmp_path / "lab.sqlite") as db:
        store = SqliteLeaderboard(db)
        await store.record(result(0.2))
        await store.record(result(0.4))  # the same version, source, symbols, window and oos: replaced
        await store.record(result(None, source="paper"))
        rows = sorted(await store.results(), key=lambda r: r.source)
        assert [r.source for r in rows] == ["paper", "replay"]
        assert rows[1] == result(0.4)
        await store.forget("0123456789", "paper")
        assert [r.source for r in await store.results()] == ["replay"]
