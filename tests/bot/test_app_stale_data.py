"""`aitrader run` on files whose last bar is older than the cycle's bar (issue #12, item 1): through the App
on the real clock path (MinuteClock over a wall time after the data), the real snapshot code and /status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiogram import Bot

from bot.app import App
from bot.settings import load_settings
from core.clock import SimulatedClock
from core.market.offline import sample_data_dir
from tests.handlers.tg_session import RecordingSession, command_update
from tests.settings_env import isolate_settings

TOKEN = "987654321:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
ADMIN = 1001
WALL = datetime(2026, 12, 1, 11, 0, 3, tzinfo=UTC)  # the data (bundled sample) ends 2024-05-14 15:00


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_settings(monkeypatch, tmp_path, (
        "TELEGRAM_BOT_TOKEN", "TELEGRAM_CHANNEL_ID", "TELEGRAM_ADMIN_IDS", "LLM_API_KEY", "ENGINE", "EXCHANGE_API_KEY",
        "EXCHANGE_SECRET", "MARKET_DATA_DIR", "DATABASE_PATH", "SYMBOLS", "DRY_RUN",
    ))


async def status_reply(app: App) -> str:
    session = RecordingSession()
    await app.dp.feed_update(Bot(token=TOKEN, session=session), command_update("/status", ADMIN))
    return "\n".join(c.params["text"] for c in session.named("SendMessage"))


async def test_run_on_old_files_opens_nothing_says_why_in_status_and_alerts_once(tmp_path: Path) -> None:
    settings = load_settings(env_file=None, market_data_dir=sample_data_dir(), database_path=tmp_path / "a.sqlite",
                             symbols=("BTC/USDT:USDT", "ETH/USDT:USDT"), telegram_admin_ids=(ADMIN,))
    clock = SimulatedClock(WALL)
    app = App(settings, clock=clock)  # not the demo: MARKET_DATA_DIR read by App itself, as `aitrader run` does
    await app.start()
    try:
        for _ in range(3):  # three hourly cycles on the same old data
            summary = await app.run_cycle()
            assert summary is not None and not summary.errors, summary
            assert summary.approved == [] and set(summary.rejected.values()) == {"stale_data"}
            again = await app.run_cycle()  # the same hour once more (/cycle): all skipped, no "fit again" alert
            assert again is not None and sorted(again.skipped) == ["BTC/USDT:USDT", "ETH/USDT:USDT"]
            clock.set(clock.now() + timedelta(hours=1))
        assert await app.broker.positions() == []
        posts = await app.outbox.posts()
        assert not [p for p in posts if p.kind == "entry"]
        alerts = [p for p in posts if p.kind == "alert"]
        assert len(alerts) == 1, [p.text for p in alerts]  # once, not every hour
        assert "stale" in alerts[0].text and "2024-05-14 14:00 UTC" in alerts[0].text
        status = await status_reply(app)
        assert "Guard: stale_data 6" in status
        assert "No entries: BTC/USDT:USDT data is stale at 2026-12-01 13:00 UTC (last bars 1h 2024-05-14 14:00 UTC" \
            in status, status
    finally:
        await app.stop()
