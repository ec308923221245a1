"""`aitrader check` reports each news source (#17), one line each, never failing the check on them."""

from __future__ import annotations

from bot.commands.check_cmd import check_news
from bot.settings import load_settings
from tests.fakes.news_server import FakeNewsServer


async def test_each_news_source_gets_a_line(news_server: FakeNewsServer) -> None:
    settings = load_settings(
        env_file=None,
        news_feeds=(news_server.fixture("/rss", "coindesk.rss"), news_server.serve("/down", "x", status=429)),
        fear_greed=True, fear_greed_url=news_server.fixture("/fng/", "fng.json", content_type="application/json"),
        news_api_key="cp-secret-key-1", news_api_url=news_server.fixture("/api/v1/posts/", "cryptopanic_posts.json"),
    )
    lines = [v.line() for v in await check_news(settings)]
    assert lines == [
        "✓ news 127.0.0.1: 2 headlines, newest published 2024-03-01 11:30 UTC",
        "✗ news 127.0.0.1: no headlines (the reason is logged above): no news context from it "
        "(not needed in this setup: `aitrader check` still passes)",
        "✓ news cryptopanic: 2 headlines, newest published 2024-03-01 11:20 UTC",
        "✓ fear & greed: 80 (Extreme Greed) on 2024-03-01",
    ]
    assert not any(v.required for v in await check_news(settings))
    assert await check_news(load_settings(env_file=None)) == []
