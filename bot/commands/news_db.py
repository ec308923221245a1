"""`--news-db PATH` for snapshot, replay, compare and sweep (#17): the headlines and Fear & Greed readings a bot
recorded (its DATABASE_PATH, or a copy), read point-in-time — at each as_of only what was first seen by then. The
archive is read once into memory over a read-only connection, so a file that is not SQLite, or a bot database
without news tables, is one line before anything is migrated or written. Only the LLM analyst writes to the file
(its scores are cached there, so a re-run asks nothing); a sweep's workers open it read-only and keep new scores in
memory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from core.errors import UserInputError
from core.market.news import MemoryNewsStore
from core.market.sentiment import HeadlineScore
from core.models import iso_z

NEWS_TABLES = frozenset({"news_headlines", "fear_greed"})  # migration 007


def check_news_path(path: Path) -> None:
    if not path.is_file():
        raise UserInputError(f"--news-db: {path} is not a file (give the DATABASE_PATH of a bot that fetched news)")


async def _connect(path: Path, *, read_only: bool) -> Any:
    from storage.db import Database, DatabaseUnusable

    try:
        return await Database(path, setting="--news-db", read_only=read_only).connect()
    except DatabaseUnusable as error:
        raise UserInputError(str(error)) from None


@asynccontextmanager
async def _news_file(path: Path) -> AsyncIterator[Any]:
    """The file open read-only, once it is known to hold recorded news."""
    check_news_path(path)
    db = await _connect(path, read_only=True)
    try:
        missing = NEWS_TABLES - await db.tables()
        if missing:
            raise UserInputError(f"--news-db: {path} has no recorded news (no {', '.join(sorted(missing))} table): "
                                 "give the DATABASE_PATH of a bot that fetched news")
        yield db
    finally:
        await db.close()


async def _archive(db: Any) -> MemoryNewsStore:
    from storage.news_repo import SqliteNewsStore

    store = SqliteNewsStore(db)
    return MemoryNewsStore(await store.all_headlines(), await store.all_fear_greed())


async def check_news_db(path: Path) -> None:
    """The one-line refusal of a bad `--news-db` before a command starts anything (its progress, its folders)."""
    async with _news_file(path):
        pass


async def recorded_news(path: Path) -> MemoryNewsStore:
    """The file's headlines and readings, read-only; a bad file is its one-line UserInputError."""
    async with _news_file(path) as db:
        return await _archive(db)


def news_provenance(path: Path | str, archive: MemoryNewsStore, analyst: str) -> dict[str, Any]:
    """run.json's record of the news a replay read (#17): a headline first seen after the window changes nothing."""
    seen = archive.first_seen_range()
    return {"news_db": str(path), "headlines": len(archive), "analyst": analyst,
            "first_seen": [iso_z(seen[0]), iso_z(seen[1])] if seen else None}


class _NewScoresInMemory:
    """The file's cached scores, read; scores made now kept in this process (the file is open read-only)."""

    def __init__(self, stored: Any) -> None:
        from core.services.news_analyst import MemoryScoreCache

        self._stored = stored
        self._new = MemoryScoreCache()

    async def get_many(self, scorer: str, guids: Sequence[str]) -> dict[str, HeadlineScore]:
        found = await self._new.get_many(scorer, guids)
        rest = [g for g in guids if g not in found]
        return {**(await self._stored.get_many(scorer, rest) if rest else {}), **found}

    async def put_many(self, scorer: str, scores: dict[str, HeadlineScore]) -> None:
        await self._new.put_many(scorer, scores)


@asynccontextmanager
async def news_reader(
    path: Path | None, settings: Any, clock: Any, *, read_only: bool = False,
    check: Callable[[MemoryNewsStore], None] | None = None,
) -> AsyncIterator[Any]:
    """A SentimentReader over the file, or None without `--news-db` (the snapshot's sentiment is then null).
    `read_only`: nothing is written to the file (a sweep's workers); `check` sees the archive before it is used."""
    if path is None:
        yield None
        return
    from bot.wiring import news_analyst_of
    from storage.llm_repo import SqliteCapabilityStore, SqliteUsageLog
    from storage.news_repo import SqliteScoreCache

    async with _news_file(path) as db:
        archive = await _archive(db)
        if check is not None:
            check(archive)
        if read_only or news_analyst_of(settings) == "keywords":  # the keyword rules keep nothing: nothing written
            async with _reader(archive, path, settings, clock, cache=_NewScoresInMemory(SqliteScoreCache(db))) as r:
                yield r
            return
    writer = await _connect(path, read_only=False)  # the LLM analyst's cache, usage and capabilities: in the file
    try:
        async with _reader(archive, path, settings, clock, cache=SqliteScoreCache(writer),
                           usage=SqliteUsageLog(writer), capabilities=SqliteCapabilityStore(writer)) as r:
            yield r
    finally:
        await writer.close()


@asynccontextmanager
async def _reader(archive: MemoryNewsStore, path: Path, settings: Any, clock: Any, **stores: Any) -> AsyncIterator[Any]:
    from bot.wiring import news_scorer_for
    from core.market.sentiment import SentimentReader

    reader = SentimentReader(archive, news_scorer_for(settings, clock=clock, **stores), fear_greed=True)
    reader.provenance = news_provenance(path, archive, reader.scorer_name)  # type: ignore[attr-defined]
    try:
        yield reader
    finally:
        await reader.close()
