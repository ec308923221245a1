"""News in the composition root (#17): with NEWS_FEEDS / FEAR_GREED the App records what its providers list
(first seen at wall time), schedules the fetch job live, and its cycle's snapshots carry `sentiment`; without
them nothing of it is wired."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.app import App
from bot.commands.demo_cmd import DEFAULT_START
from bot.settings import load_settings
from core.clock import SimulatedClock
from core.market.offline import OfflineMarketData, sample_data_dir
from storage.news_repo import SqliteNewsStore
from tests.fakes.news_server import FakeNewsServer
from tests.settings_env import isolate_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_settings(monkeypatch, tmp_path, (
        "TELEGRAM_BOT_TOKEN", "TELEGRAM_CHANNEL_ID", "LLM_API_KEY", "LLM_BASE_URL", "ENGINE", "NEWS_FEEDS",
        "FEAR_GREED", "NEWS_API_KEY", "DATABASE_PATH", "MARKET_DATA_DIR",
    ))


def app_with(tmp_path: Path, demo: bool = True, **news: object) -> tuple[App, SimulatedClock]:
    clock = SimulatedClock(DEFAULT_START)
    settings = load_settings(env_file=None, market_data_dir=sample_data_dir(), database_path=tmp_path / "app.sqlite",
                             symbols=("BTC/USDT:USDT", "ETH/USDT:USDT"), **news)
    market = OfflineMarketData(sample_data_dir(), clock=clock)
    return App(settings, clock=clock, demo=demo, console_out=tmp_path / "out", market_data=market), clock


async def test_news_is_fetched_recorded_and_in_the_cycles_snapshots(tmp_path: Path, news_server: FakeNewsServer) -> None:
    feeds = (news_server.fixture("/coindesk", "coindesk.rss"), news_server.fixture("/telegraph", "cointelegraph.rss"),
             news_server.serve("/down", "x", status=503))
    fng = news_server.fixture("/fng/", "fng.json", content_type="application/json")
    app, clock = app_with(tmp_path, news_feeds=feeds, fear_greed=True, fear_greed_url=fng)
    await app.build()
    try:
        assert app.services.news is not None and len(app.services.news.providers) == 3
        fetched = await app.fetch_news()
        assert fetched.new_headlines == 4 and fetched.providers_failed == 1 and fetched.fear_greed_days == 3
        stored = await SqliteNewsStore(app.db).all_headlines()
        assert len(stored) == 4 and {h.source for h in stored} == {"127.0.0.1"}
        await app.tick(clock.advance(timedelta(hours=1)))
        records = await app.services.decision_log.recent(10)
        stored_snaps = [await app.services.decision_log.snapshot_json(r.signal_id) for r in records]
        sentiments = [snap["sentiment"] for snap in stored_snaps if snap is not None]
        assert len(sentiments) == 2 and all(isinstance(s, dict) for s in sentiments)
        # the demo's clock is in 2024, the headlines were first seen now: nothing from them is in its past
        assert all(s["key_events"] == [] and s["news_score"] is None for s in sentiments), sentiments
    finally:
        await app.stop()


async def test_the_live_plan_has_the_news_job_only_when_news_is_configured(tmp_path: Path, news_server) -> None:
    app, _ = app_with(tmp_path, demo=False, news_feeds=(news_server.fixture("/rss", "coindesk.rss"),),
                      news_fetch_interval_s=600)
    await app.build()
    try:
        jobs = {job.id: job for job in app._jobs()}
        assert "news" in jobs and jobs["news"].misfire_grace_s == 600
    finally:
        await app.stop()
    plain, _ = app_with(tmp_path / "plain", demo=False)
    await plain.build()
    try:
        assert plain.services.news is None and "news" not in {job.id for job in plain._jobs()}
        assert plain.services.cycle_snapshots is plain.snapshots
    finally:
        await plain.stop()
