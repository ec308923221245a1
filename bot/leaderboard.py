"""Recording lab results under their strategy version in the bot's SQLite file (DATABASE_PATH), so the
admins' `/leaderboard` sees what replay, compare, walk-forward and sweep measured. `record_report` is the
hook sweep calls per cell (source="sweep")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.wiring import CycleFactory, EngineEntry
from core.evaluation.leaderboard import LeaderboardResult, LeaderboardService, result_from_metrics


def result_of(
    factory: CycleFactory, entry: EngineEntry, report: Mapping[str, Any], *, oos: bool, source: str,
    metrics: Mapping[str, Any] | None = None, window: tuple[str, str] | None = None,
) -> LeaderboardResult:
    version = factory.version(entry)
    start, end = window or (str(report["start"]), str(report["end"]))
    return result_from_metrics(
        version=version.id, engine=entry.engine, model=factory.model_of(entry), source=source,
        symbols=report["symbols"], start=start, end=end, oos=oos,
        metrics=metrics if metrics is not None else report["metrics"], descriptor=version.descriptor,
    )


async def record_results(factory: CycleFactory, results: list[LeaderboardResult]) -> None:
    from storage.db import Database
    from storage.leaderboard_repo import SqliteLeaderboard

    async with Database(factory.settings.database_path) as db:
        store = SqliteLeaderboard(db)
        for result in results:
            await store.record(result)


async def record_report(
    factory: CycleFactory, entry: EngineEntry, report: Mapping[str, Any], *, oos: bool, source: str = "replay",
    metrics: Mapping[str, Any] | None = None, window: tuple[str, str] | None = None,
) -> LeaderboardResult:
    result = result_of(factory, entry, report, oos=oos, source=source, metrics=metrics, window=window)
    await record_results(factory, [result])
    return result


async def ranked_results(factory: CycleFactory, limit: int | None = None) -> list[LeaderboardResult]:
    from storage.db import Database
    from storage.leaderboard_repo import SqliteLeaderboard

    async with Database(factory.settings.database_path) as db:
        return await LeaderboardService(SqliteLeaderboard(db)).ranked(limit)
