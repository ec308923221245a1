"""News in SQLite (migration 007): `core.market.news.NewsStore` and the news analyst's score cache
(`core.services.news_analyst.ScoreCache`). A headline keeps the first time it was seen: INSERT OR IGNORE on its guid."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from core.market.news import FearGreed, FetchedHeadline, Headline, fear_greed_of
from core.market.sentiment import HeadlineScore
from core.market.timeframes import from_ms, to_ms
from storage.db import Database

_COLUMNS = "guid, source, title, link, published_ms, first_seen_ms, summary"


def _headline(row: Sequence[object]) -> Headline:
    published = row[4]
    return Headline(
        guid=str(row[0]), source=str(row[1]), title=str(row[2]), link=str(row[3]),
        published=from_ms(int(published)) if published is not None else None,  # type: ignore[call-overload]
        first_seen=from_ms(int(row[5])), summary=str(row[6]),  # type: ignore[call-overload]
    )


class SqliteNewsStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, headlines: Sequence[FetchedHeadline], seen_at: datetime) -> int:
        seen_ms = to_ms(seen_at)
        rows = [
            (h.guid, h.source, h.title, h.link, to_ms(h.published) if h.published else None, seen_ms, h.summary)
            for h in headlines
        ]
        async with self._db.transaction() as conn:
            before = conn.total_changes
            await conn.executemany(
                f"INSERT OR IGNORE INTO news_headlines ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", rows
            )
            return conn.total_changes - before

    async def seen_between(self, since: datetime, until: datetime) -> list[Headline]:
        async with self._db.conn.execute(
            f"SELECT {_COLUMNS} FROM news_headlines WHERE first_seen_ms > ? AND first_seen_ms <= ? "
            "ORDER BY first_seen_ms, guid",
            (to_ms(since), to_ms(until)),
        ) as cursor:
            return [_headline(row) for row in await cursor.fetchall()]

    async def all_headlines(self) -> list[Headline]:
        async with self._db.conn.execute(
            f"SELECT {_COLUMNS} FROM news_headlines ORDER BY first_seen_ms, guid"
        ) as cursor:
            return [_headline(row) for row in await cursor.fetchall()]

    async def record_fear_greed(self, readings: Sequence[FearGreed]) -> None:
        now = datetime.now(UTC).isoformat()
        # a day's value, once published, is what was known that day: keep the first one stored
        await self._db.write_many(
            "INSERT OR IGNORE INTO fear_greed (day, value, label, fetched_at) VALUES (?, ?, ?, ?)",
            [(r.day.isoformat(), r.value, r.label, now) for r in readings],
        )

    async def all_fear_greed(self) -> list[FearGreed]:
        async with self._db.conn.execute("SELECT day, value, label FROM fear_greed ORDER BY day") as cursor:
            rows = await cursor.fetchall()
        return [FearGreed(datetime.fromisoformat(str(r[0])).date(), int(r[1]), str(r[2])) for r in rows]

    async def fear_greed_at(self, as_of: datetime) -> FearGreed | None:
        day = as_of.astimezone(UTC).date()
        async with self._db.conn.execute(
            "SELECT day, value, label FROM fear_greed WHERE day <= ? ORDER BY day DESC LIMIT 1", (day.isoformat(),)
        ) as cursor:
            rows = await cursor.fetchall()
        readings = [FearGreed(datetime.fromisoformat(str(r[0])).date(), int(r[1]), str(r[2])) for r in rows]
        return fear_greed_of(readings, as_of)


class SqliteScoreCache:
    """The analyst's scores per (scorer identity, guid): each headline is scored once per analyst."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get_many(self, scorer: str, guids: Sequence[str]) -> dict[str, HeadlineScore]:
        out: dict[str, HeadlineScore] = {}
        for k in range(0, len(guids), 500):
            chunk = list(guids[k : k + 500])
            marks = ",".join("?" * len(chunk))
            async with self._db.conn.execute(
                f"SELECT guid, impact, coins FROM news_scores WHERE scorer = ? AND guid IN ({marks})", (scorer, *chunk)
            ) as cursor:
                for guid, impact, coins in await cursor.fetchall():
                    out[str(guid)] = HeadlineScore(int(impact), tuple(c for c in str(coins).split(",") if c))
        return out

    async def put_many(self, scorer: str, scores: dict[str, HeadlineScore]) -> None:
        now = datetime.now(UTC).isoformat()
        await self._db.write_many(
            "INSERT OR REPLACE INTO news_scores (scorer, guid, impact, coins, scored_at) VALUES (?, ?, ?, ?, ?)",
            [(scorer, guid, s.impact, ",".join(s.coins), now) for guid, s in scores.items()],
        )
