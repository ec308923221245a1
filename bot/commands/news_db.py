"""`--news-db PATH` for replay and snapshot (#17): the headlines and Fear & Greed readings a bot recorded (its
DATABASE_PATH, or a copy), read point-in-time — at each as_of only what was first seen by then. The archive is
loaded once into memory; the LLM analyst's scores are cached in the same file, so a re-run asks nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from core.errors import UserInputError
from core.models import iso_z


def _check(path: Path) -> None:
    if not path.is_file():
        raise UserInputError(f"--news-db: {path} is not a file (give the DATABASE_PATH of a bot that fetched news)")


@asynccontextmanager
async def news_reader(path: Path | None, settings: Any, clock: Any) -> AsyncIterator[Any]:
    """A SentimentReader over the file, or None without `--news-db` (the snapshot's sentiment is then null)."""
    if path is None:
        yield None
        return
    _check(path)
    from bot.wiring import news_scorer_for
    from core.market.news import MemoryNewsStore
    from core.market.sentiment import SentimentReader
    from storage.db import Database, DatabaseUnusable
    from storage.llm_repo import SqliteCapabilityStore, SqliteUsageLog
    from storage.news_repo import SqliteNewsStore, SqliteScoreCache

    try:
        db = await Database(path, setting="--news-db").connect()
    except DatabaseUnusable as error:
        raise UserInputError(str(error)) from None
    try:
        store = SqliteNewsStore(db)
        archive = MemoryNewsStore(await store.all_headlines(), await store.all_fear_greed())
        scorer = news_scorer_for(settings, clock=clock, cache=SqliteScoreCache(db), usage=SqliteUsageLog(db),
                                 capabilities=SqliteCapabilityStore(db))
        reader = SentimentReader(archive, scorer, fear_greed=True)
        seen = archive.first_seen_range()
        # run.json's record of the news a replay read (#17): a headline first seen after the window changes nothing
        reader.provenance = {  # type: ignore[attr-defined]
            "news_db": str(path), "headlines": len(archive), "analyst": reader.scorer_name,
            "first_seen": [iso_z(seen[0]), iso_z(seen[1])] if seen else None,
        }
        try:
            yield reader
        finally:
            await reader.close()
    finally:
        await db.close()
