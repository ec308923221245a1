"""The news fetch job (#17) over real-shaped feeds from a local news_server: new headlines recorded once with their
first-seen time, Fear & Greed stored, new headlines scored; a provider that fails gives nothing, the rest go on."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import httpx

from core.clock import SimulatedClock
from core.market.news import MemoryNewsStore
from core.market.news_feeds import AlternativeMeFearGreed, RssFeed
from core.market.news_keywords import KeywordScorer
from core.market.sentiment import SentimentReader
from jobs.news_job import run_news_fetch
from tests.fakes.news_server import FakeNewsServer

T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)




async def test_fetch_records_first_seen_and_survives_failing_providers(news_server: FakeNewsServer) -> None:
    clock = SimulatedClock(T0)
    store = MemoryNewsStore()
    scorer_calls: list[int] = []

    class CountingScorer(KeywordScorer):
        async def score(self, headlines):
            scorer_calls.append(len(headlines))
            return await super().score(headlines)

    reader = SentimentReader(store, CountingScorer(), fear_greed=True)
    async with httpx.AsyncClient() as client:
        providers = [
            RssFeed(news_server.fixture("/coindesk", "coindesk.rss"), client, name="coindesk.com"),
            RssFeed(news_server.fixture("/telegraph", "cointelegraph.rss"), client, name="cointelegraph.com"),
            RssFeed(news_server.serve("/limited", "slow down", status=429), client),
            RssFeed(news_server.fixture("/broken", "broken.rss"), client),
            RssFeed("http://127.0.0.1:9/nothing-listens", client),
        ]
        fng = AlternativeMeFearGreed(client, url=news_server.fixture("/fng/", "fng.json", content_type="application/json"))
        first = await run_news_fetch(providers=providers, fear_greed=fng, store=store, clock=clock, reader=reader,
                                     first=True)
        assert (first.new_headlines, first.fetched, first.providers_failed, first.fear_greed_days) == (4, 4, 3, 3)
        assert any("limit=30" in r for r in news_server.requests)  # the first fetch fills a month of history
        clock.set(T0 + timedelta(minutes=15))
        again = await run_news_fetch(providers=providers, fear_greed=fng, store=store, clock=clock, reader=reader)
        assert again.new_headlines == 0 and again.fetched == 4
    seen = await store.seen_between(T0 - timedelta(days=1), T0 + timedelta(days=1))
    assert {h.first_seen for h in seen} == {T0}  # the refetch did not move first-seen
    assert scorer_calls == [4]  # scored once, when new
    assert (await store.fear_greed_at(T0)).day == date(2024, 3, 1)
    reading = await reader.at("BTC/USDT:USDT", T0)
    assert reading.fear_greed == 80 and reading.key_events[0].title.startswith("Exchange halts withdrawals")
    assert reading.top_source == "cointelegraph.com" and reading.news_score is not None


async def test_every_provider_failing_is_an_empty_fetch(news_server: FakeNewsServer) -> None:
    async with httpx.AsyncClient() as client:
        providers = [RssFeed(news_server.fixture("/empty", "empty.rss"), client)]
        fng = AlternativeMeFearGreed(client, url=news_server.serve("/fng/", "not json", content_type="application/json"))
        result = await run_news_fetch(providers=providers, fear_greed=fng, store=MemoryNewsStore(),
                                      clock=SimulatedClock(T0))
    assert (result.new_headlines, result.fetched, result.providers_failed, result.fear_greed_days) == (0, 0, 1, 0)
