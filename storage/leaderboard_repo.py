"""The leaderboard's results in SQLite (migration 006): core.evaluation.leaderboard.LeaderboardStore."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from core.evaluation.leaderboard import LeaderboardResult
from storage.db import Database

_COLUMNS = (
    "version, engine, model, source, symbols, window_start, window_end, oos, trades, total_return_pct, sharpe, "
    "max_drawdown_pct, profit_factor, descriptor"
)


class SqliteLeaderboard:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, result: LeaderboardResult) -> None:
        await self._db.write(
            f"INSERT OR REPLACE INTO strategy_results ({_COLUMNS}, recorded_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                result.version, result.engine, result.model, result.source, ",".join(result.symbols),
                result.window[0], result.window[1], int(result.oos), result.trades, result.total_return_pct,
                result.sharpe, result.max_drawdown_pct, result.profit_factor,
                json.dumps(result.descriptor, sort_keys=True) if result.descriptor is not None else None,
                datetime.now(UTC).isoformat(),
            ),
        )

    async def forget(self, version: str, source: str) -> None:
        await self._db.write("DELETE FROM strategy_results WHERE version = ? AND source = ?", (version, source))

    async def results(self) -> list[LeaderboardResult]:
        async with self._db.conn.execute(f"SELECT {_COLUMNS} FROM strategy_results") as cursor:
            rows = await cursor.fetchall()
        return [
            LeaderboardResult(
                version=r[0], engine=r[1], model=r[2], source=r[3], symbols=tuple(r[4].split(",")) if r[4] else (),
                window=(r[5], r[6]), oos=bool(r[7]), trades=int(r[8]), total_return_pct=r[9], sharpe=r[10],
                max_drawdown_pct=r[11], profit_factor=r[12], descriptor=json.loads(r[13]) if r[13] else None,
            )
            for r in rows
        ]
