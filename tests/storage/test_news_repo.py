"""News in SQLite (migration 007, #17): first-seen kept across refetches and restarts, deduped by guid,
point-in-time reads, Fear & Greed by day, the analyst's score cache — and the same answers as the memory store."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from core.market.news import FearGreed, FetchedHeadline, MemoryNewsStore
from core.market.sentiment import HeadlineScore
from storage.db import Database
from storage.news_repo import SqliteNewsStore, SqliteScoreCache

T0 = datetime(2024, 3, 1, 10, tzinfo=UTC)


def item(guid: str, title: str = "t", published: datetime | None = None) -> FetchedHeadline:
    return FetchedHeadline(guid, "coindesk.com", title, f"https://x/{guid}", published)


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
async def test_first_seen_is_kept_when_a_feed_lists_an_item_again(tmp_path: Path, kind: str) -> None:
    async with Database(tmp_path / "news.sqlite") as db:
        store = SqliteNewsStore(db) if kind == "sqlite" else MemoryNewsStore()
        assert await store.record([item("a", published=T0 - timedelta(days=3)), item("b")], T0) == 2
        # the feed rewrites the title and backdates the item: it stays what and when it was first seen
        assert await store.record([item("a", "rewritten", published=T0 - timedelta(days=9)), item("c")],
                                  T0 + timedelta(hours=1)) == 1
        assert await store.record([item("d"), item("d")], T0 + timedelta(hours=2)) == 1  # twice in one fetch
        everything = await store.seen_between(T0 - timedelta(days=30), T0 + timedelta(days=1))
        assert [(h.guid, h.first_seen) for h in everything] == [
            ("a", T0), ("b", T0), ("c", T0 + timedelta(hours=1)), ("d", T0 + timedelta(hours=2)),
        ]
        assert everything[0].title == "t" and everything[0].published == T0 - timedelta(days=3)
        # (since, until]: exclusive at the start, inclusive at as_of
        window = await store.seen_between(T0, T0 + timedelta(hours=1))
        assert [h.guid for h in window] == ["c"]


async def test_headlines_survive_a_restart_and_load_into_the_replay_archive(tmp_path: Path) -> None:
    path = tmp_path / "news.sqlite"
    async with Database(path) as db:
        await SqliteNewsStore(db).record([item("a"), item("b")], T0)
        await SqliteNewsStore(db).record_fear_greed([FearGreed(date(2024, 3, 1), 80, "Extreme Greed")])
    async with Database(path) as db:
        store = SqliteNewsStore(db)
        archive = MemoryNewsStore(await store.all_headlines(), await store.all_fear_greed())
        assert len(archive) == 2
        until = T0 + timedelta(hours=5)
        assert await archive.seen_between(T0 - timedelta(hours=1), until) == await store.seen_between(
            T0 - timedelta(hours=1), until)


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
async def test_fear_and_greed_of_the_day_known_from_midnight(tmp_path: Path, kind: str) -> None:
    async with Database(tmp_path / "news.sqlite") as db:
        store = SqliteNewsStore(db) if kind == "sqlite" else MemoryNewsStore()
        await store.record_fear_greed([FearGreed(date(2024, 2, 28), 79), FearGreed(date(2024, 3, 1), 80)])
        await store.record_fear_greed([FearGreed(date(2024, 3, 1), 11)])  # a later fetch does not rewrite the day
        day = datetime(2024, 3, 1, tzinfo=UTC)
        assert (await store.fear_greed_at(day)).value == 80
        assert (await store.fear_greed_at(day - timedelta(seconds=1))).value == 79  # 29 Feb not stored: yesterday's
        assert (await store.fear_greed_at(datetime(2024, 2, 28, 0, tzinfo=UTC))).value == 79
        assert (await store.fear_greed_at(datetime(2024, 3, 2, 12, tzinfo=UTC))).value == 80  # yesterday's
        assert await store.fear_greed_at(datetime(2024, 3, 3, 12, tzinfo=UTC)) is None
        assert await store.fear_greed_at(datetime(2024, 2, 27, 12, tzinfo=UTC)) is None


async def test_score_cache_per_analyst_identity(tmp_path: Path) -> None:
    async with Database(tmp_path / "news.sqlite") as db:
        cache = SqliteScoreCache(db)
        await cache.put_many("llm-a", {"g1": HeadlineScore(-2, ("ETH",)), "g2": HeadlineScore(0)})
        assert await cache.get_many("llm-a", ["g1", "g2", "g3"]) == {
            "g1": HeadlineScore(-2, ("ETH",)), "g2": HeadlineScore(0),
        }
        assert await cache.get_many("llm-b", ["g1"]) == {}
        many = [f"g{k}" for k in range(1200)]
        await cache.put_many("llm-a", {g: HeadlineScore(1) for g in many})
        assert len(await cache.get_many("llm-a", many)) == 1200
