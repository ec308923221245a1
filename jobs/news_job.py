"""The news fetch job (#17, every NEWS_FETCH_INTERVAL_S): every provider at once, new headlines recorded with
the time they were first seen, the Fear & Greed readings stored, then the new headlines scored by the news
analyst so the hourly cycle does not wait for it. A provider that fails gives nothing (the gateways log
why); nothing here raises into the scheduler."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from core.market.news import FearGreedProvider, FetchedHeadline, NewsProvider, NewsStore
from core.market.sentiment import WINDOW, SentimentReader
from core.protocols import Clock

log = logging.getLogger(__name__)

FEAR_GREED_HISTORY_DAYS = 30  # the first fetch fills a month of daily history; later ones the last two days


@dataclass(frozen=True, slots=True)
class NewsFetch:
    new_headlines: int
    fetched: int
    providers_failed: int
    fear_greed_days: int


async def _one(provider: NewsProvider) -> list[FetchedHeadline]:
    try:
        return await provider.fetch()
    except Exception as error:  # a gateway is meant to return [] itself; this is the last net
        log.warning("news provider %s failed: %s", getattr(provider, "name", "?"), error)
        return []


async def run_news_fetch(
    *, providers: Sequence[NewsProvider], fear_greed: FearGreedProvider | None, store: NewsStore, clock: Clock,
    reader: SentimentReader | None = None, first: bool = False,
) -> NewsFetch:
    results = await asyncio.gather(*(_one(p) for p in providers))
    seen_at = clock.now()  # when they reached the store (a cycle reading before this could not have seen them)
    fetched = [h for batch in results for h in batch]
    new = await store.record(fetched, seen_at) if fetched else 0
    days = 0
    if fear_greed is not None:
        try:
            readings = await fear_greed.fetch(FEAR_GREED_HISTORY_DAYS if first else 2)
            await store.record_fear_greed(readings)
            days = len(readings)
        except Exception as error:
            log.warning("fear & greed fetch failed: %s", error)
    if reader is not None and new:
        await reader.score(await store.seen_between(seen_at - WINDOW, seen_at))
    failed = sum(1 for batch in results if not batch)
    log.info("news: %d new of %d headlines from %d provider(s) (%d gave nothing), fear & greed %d day(s)",
             new, len(fetched), len(providers), failed, days)
    return NewsFetch(new, len(fetched), failed, days)


__all__ = ["NewsFetch", "run_news_fetch"]
