"""The app under faults (issue #12 items 8, 9): a database deleted under it stops it with one line (also the
demo, which used to exit 0 and re-post an entry after a restart); a full disk mid-run still reaches the
admins, straight through Telegram when the outbox cannot take the alert."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import App
from bot.commands.demo_cmd import play
from bot.settings import load_settings
from core.clock import SystemClock
from core.errors import FatalError
from core.market.offline import sample_data_dir
from tests.bot.test_app import TOKEN, demo_app
from tests.fakes.telegram_server import FakeBotApi
from tests.settings_env import isolate_settings

ADMIN = 1001


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_settings(monkeypatch, tmp_path, (
        "TELEGRAM_BOT_TOKEN", "TELEGRAM_CHANNEL_ID", "TELEGRAM_ADMIN_IDS", "LLM_API_KEY", "ENGINE", "MARKET_DATA_DIR",
        "DATABASE_PATH", "SYMBOLS", "DRY_RUN", "TELEGRAM_API_BASE",
    ))


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    server = FakeBotApi()
    await server.start()
    yield server
    await server.stop()


async def test_database_deleted_under_the_running_app_stops_it(tmp_path: Path) -> None:
    app, _ = demo_app(tmp_path)
    await app.start()
    try:
        (tmp_path / "app.sqlite").unlink()
        with pytest.raises(FatalError, match=r"--database: .*app\.sqlite was deleted while the bot was running"):
            await asyncio.wait_for(app.serve(asyncio.Event().wait()), 10)  # found by the idle watchdog
    finally:
        await app.stop()


async def test_demo_stops_when_its_database_is_deleted(tmp_path: Path) -> None:
    from rich.console import Console

    app, clock = demo_app(tmp_path)
    await app.start()
    try:
        (tmp_path / "app.sqlite").unlink()
        with pytest.raises(FatalError, match="was deleted"):
            await play(app, clock, bars=5, speed=0, data_end=clock.now().replace(year=2030), console=Console())
    finally:
        await app.stop()


async def test_full_disk_mid_run_alerts_the_admins_directly(tmp_path: Path, api: FakeBotApi) -> None:
    settings = load_settings(
        env_file=None, market_data_dir=sample_data_dir(), database_path=tmp_path / "bot.sqlite",
        telegram_bot_token=TOKEN, telegram_api_base=api.url, telegram_channel_id="@aitrader_test",
        telegram_admin_ids=(ADMIN,), symbols=("BTC/USDT:USDT",),
    )
    app = App(settings, clock=SystemClock())
    await app.start()
    try:
        async with app.db.conn.execute("PRAGMA page_count") as cursor:
            (pages,) = await cursor.fetchone()
        await app.db.conn.execute(f"PRAGMA max_page_count = {pages + 2}")  # simulated SQLITE_FULL from here on
        filled = 0
        for size in (4000, 400, 40, 1):  # old posts, down to the last free byte of the outbox's pages
            with pytest.raises(sqlite3.OperationalError, match="full"):
                for _ in range(10_000):
                    filled += 1
                    await app.db.write(
                        "INSERT INTO outbox (dedupe_key, chat_id, kind, text, status, next_attempt_at, created_at) "
                        "VALUES (?, '0', 'alert', ?, 'sent', '2020-01-01T00:00:00.000000Z', '2020-01-01T00:00:00.000000Z')", (f"old:{filled}", "x" * size),
                    )
        before = len(await app.outbox.posts())
        await app._alert("cycle failed: OperationalError: database or disk is full")
        assert len(await app.outbox.posts()) == before  # the outbox could not take it ...
        to_admin = [m for m in api.sent if m["chat_id"] == str(ADMIN)]
        assert to_admin and "database or disk is full" in to_admin[-1]["text"]  # ... Telegram got it anyway

        async def cycle_hits_the_full_disk(as_of: object) -> None:
            async with app.db.transaction() as conn:
                for i in range(1000):
                    await conn.execute("INSERT INTO outbox (dedupe_key, chat_id, kind, text, next_attempt_at, "
                                       "created_at) VALUES (?, '0', 'x', 'y', 'z', 'z')", (f"c:{i}",))

        app.cycle.run = cycle_hits_the_full_disk  # type: ignore[method-assign]
        assert await app.run_cycle() is None  # the job reported it and went on
        assert "Cycle failed: OperationalError: database or disk is full" in api.sent[-1]["text"]
        async with app.db.conn.execute("SELECT COUNT(*) FROM outbox WHERE dedupe_key LIKE 'c:%'") as cursor:
            assert (await cursor.fetchone())[0] == 0  # nothing half-written
    finally:
        await app.stop()


async def test_an_unexpected_start_up_error_is_one_fatal_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.commands import run_cmd

    async def broken_start(self: App) -> None:
        raise KeyError("surprise")

    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("MARKET_DATA_DIR", str(sample_data_dir()))
    monkeypatch.setattr(App, "start", broken_start)
    with pytest.raises(FatalError, match=r"start-up failed: KeyError: 'surprise' \(run with -v"):
        await run_cmd.run_bot()
