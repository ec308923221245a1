"""The news gateways (#17) against a local HTTP news_server serving feeds in the shape of the real ones
(tests/fixtures/news/README.md): parsing, and every failure as "no context" with one log line."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import httpx
import pytest

from core.market import news_feeds
from core.market.news_feeds import AlternativeMeFearGreed, CryptoPanicPosts, RssFeed


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


async def test_rss_2_feeds_parse_with_guid_link_and_published_time(news_server, client) -> None:
    url = news_server.fixture("/arc/outboundfeeds/rss/", "coindesk.rss")
    items = await RssFeed(url, client, name="coindesk.com").fetch()
    assert [h.title for h in items] == [
        "Bitcoin Surges Past $62K as Spot ETF Inflows Hit Record", "Ether Options Traders Bet on $4K by End of March",
    ]
    first = items[0]
    assert first.guid == "5KXJ4ZB2WNHNBG6Z3KXQG7YB3E" and first.source == "coindesk.com"
    assert first.published == datetime(2024, 3, 1, 11, 30, tzinfo=UTC)
    assert first.link.startswith("https://www.coindesk.com/markets/2024/03/01/")


async def test_cdata_rss_and_atom_feeds_parse(news_server, client) -> None:
    telegraph = await RssFeed(news_server.fixture("/rss", "cointelegraph.rss"), client).fetch()
    assert telegraph[0].title == "Exchange halts withdrawals after $200M hack drains hot wallets"
    assert telegraph[0].guid == "https://cointelegraph.com/news/exchange-halts-withdrawals-after-200m-hack"
    assert telegraph[0].source == "127.0.0.1"  # the host names the source when no name is given
    atom = await RssFeed(news_server.fixture("/feed/atom", "decrypt.atom"), client, name="decrypt.co").fetch()
    assert [h.guid for h in atom] == ["https://decrypt.co/?p=219876", "https://decrypt.co/?p=219850"]
    assert atom[0].published == datetime(2024, 3, 1, 11, 0, tzinfo=UTC)
    assert "unregistered security" in atom[0].summary


async def test_fear_and_greed_reads_alternative_me_days(news_server, client) -> None:
    url = news_server.fixture("/fng/", "fng.json", content_type="application/json")
    readings = await AlternativeMeFearGreed(client, url=url).fetch(3)
    assert [(r.day, r.value) for r in readings] == [
        (date(2024, 2, 28), 79), (date(2024, 2, 29), 82), (date(2024, 3, 1), 80),
    ]
    assert readings[-1].label == "Extreme Greed"
    assert "limit=3" in news_server.requests[-1] and "format=json" in news_server.requests[-1]


async def test_cryptopanic_posts_parse_and_the_key_never_reaches_a_log(news_server, client, caplog) -> None:
    url = news_server.fixture("/api/v1/posts/", "cryptopanic_posts.json", content_type="application/json")
    posts = await CryptoPanicPosts("SECRET-KEY-123", client, url=url).fetch()
    assert [p.source for p in posts] == ["theblock.co", "coindesk.com"]
    assert posts[0].guid == "cryptopanic:19312345" and posts[0].summary == "$BTC"
    assert "auth_token=SECRET-KEY-123" in news_server.requests[-1]
    news_server.serve("/api/v1/posts/", "{}", status=429, content_type="application/json")
    with caplog.at_level(logging.INFO):
        assert await CryptoPanicPosts("SECRET-KEY-123", client, url=url).fetch() == []
    ours = [r.getMessage() for r in caplog.records if r.name == "core.market.news_feeds"]
    assert len(ours) == 1 and "HTTP 429" in ours[0] and "SECRET-KEY-123" not in ours[0]
    # httpx logs the request URL itself; the app's log filter masks the query's auth_token
    from bot.logging_setup import mask

    assert all("SECRET-KEY-123" not in mask(r.getMessage()) for r in caplog.records)


@pytest.mark.parametrize(
    ("route", "expected"),
    [
        (dict(body="<rss", status=429), "HTTP 429"),
        (dict(body="oops", status=503), "HTTP 503"),
        ("broken.rss", "not a feed"),
        ("empty.rss", "no item"),
        (dict(body="<html><body>Just a moment…</body></html>", content_type="text/html"), "not a feed"),
        (dict(body="", status=200), "not a feed"),
    ],
)
async def test_every_feed_failure_is_no_context_and_one_log_line(news_server, client, caplog, route, expected) -> None:
    url = news_server.fixture("/f", route) if isinstance(route, str) else news_server.serve("/f", **route)
    with caplog.at_level(logging.INFO, logger="core.market.news_feeds"):
        assert await RssFeed(url, client).fetch() == []
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "no context" in lines[0] and expected in lines[0], lines


async def test_a_slow_feed_times_out_into_no_context(news_server, client, caplog, monkeypatch) -> None:
    monkeypatch.setattr(news_feeds, "TIMEOUT_S", 0.2)
    url = news_server.fixture("/slow", "coindesk.rss", delay_s=1.0)
    with caplog.at_level(logging.INFO, logger="core.market.news_feeds"):
        assert await RssFeed(url, client).fetch() == []
    assert "timeout" in caplog.text


async def test_a_refused_connection_is_no_context(client, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="core.market.news_feeds"):
        assert await RssFeed("http://127.0.0.1:9/rss", client).fetch() == []
        assert await AlternativeMeFearGreed(client, url="http://127.0.0.1:9/fng/").fetch() == []
    assert caplog.text.count("no context") == 2


@pytest.mark.parametrize("body", ["not json", '{"data": "x"}', '{"data": [{"value": "900", "timestamp": "1"}]}', "[]"])
async def test_bad_fear_and_greed_json_is_no_context(news_server, client, body) -> None:
    url = news_server.serve("/fng/", body, content_type="application/json")
    assert await AlternativeMeFearGreed(client, url=url).fetch() == []


async def test_bad_posts_json_is_no_context(news_server, client) -> None:
    url = news_server.serve("/api/v1/posts/", '{"results": [{"title": ""}]}', content_type="application/json")
    assert await CryptoPanicPosts("k", client, url=url).fetch() == []
    url = news_server.serve("/api/v1/posts/", "<html>", content_type="text/html")
    assert await CryptoPanicPosts("k", client, url=url).fetch() == []
