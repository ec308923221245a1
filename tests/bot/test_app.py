"""The composition root: an App over the bundled real sample data, its scheduler, restarts, commands."""

from __future__ import annotations

import gc
import logging
import os
from datetime import timedelta
from pathlib import Path

import pytest
from aiogram import Bot

from bot.app import App, MarketCharts, set_bot_commands
from bot.commands.demo_cmd import DEFAULT_START
from bot.commands.run_cmd import register_secrets, run_bot
from bot.logging_setup import SecretMaskingFilter
from bot.settings import Settings, load_settings
from core.clock import SimulatedClock
from core.errors import UserInputError
from core.market.offline import OfflineMarketData, sample_data_dir
from tests.handlers.tg_session import RecordingSession
from tests.settings_env import isolate_settings

TOKEN = "987654321:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_settings(monkeypatch, tmp_path, (
        "TELEGRAM_BOT_TOKEN", "TELEGRAM_CHANNEL_ID", "TELEGRAM_ADMIN_IDS", "LLM_API_KEY", "ENGINE", "EXCHANGE_API_KEY",
        "EXCHANGE_SECRET", "MARKET_DATA_DIR", "DATABASE_PATH", "SYMBOLS", "DRY_RUN",
    ))


def demo_settings(tmp_path: Path) -> Settings:
    return load_settings(
        env_file=None,
        market_data_dir=sample_data_dir(),
        database_path=tmp_path / "app.sqlite",
        symbols=("BTC/USDT:USDT", "ETH/USDT:USDT"),
        telegram_admin_ids=(1001,),
    )


def demo_app(tmp_path: Path) -> tuple[App, SimulatedClock]:
    clock = SimulatedClock(DEFAULT_START)
    market = OfflineMarketData(sample_data_dir(), clock=clock)
    return App(demo_settings(tmp_path), clock=clock, demo=True, console_out=tmp_path / "out", market_data=market), clock


async def test_demo_app_trades_posts_and_stops_cleanly(tmp_path: Path) -> None:
    app, clock = demo_app(tmp_path)
    await app.start()
    try:
        assert app.bot is None  # no token: console
        assert app.scheduler is not None and app.scheduler.running
        assert [job.id for job in app.scheduler.get_jobs()] == ["outbox_drain"]
        for _ in range(24):  # the first exit (TP1) comes at 23:00 on this window
            await app.tick(clock.advance(timedelta(hours=1)))
        await app.publisher.wait_idle()
        await app.drain()
        posts = await app.outbox.posts()
        kinds = [p.kind for p in posts]
        assert "entry" in kinds and "exit" in kinds, kinds
        assert all(p.status == "sent" for p in posts)
        entry = next(p for p in posts if p.kind == "entry")
        assert entry.image is not None and entry.image.startswith(b"\x89PNG")
        assert sorted(os.listdir(tmp_path / "out"))  # images written for the console
        status = await app.control.status()
        assert status.state.dry_run and status.last_cycle_at == clock.now()
        assert gc.get_freeze_count() > 0  # startup objects kept out of the collector's passes
    finally:
        await app.stop()
    assert app.scheduler is None
    assert gc.get_freeze_count() == 0


async def test_runtime_state_survives_a_restart(tmp_path: Path) -> None:
    app, _ = demo_app(tmp_path)
    await app.build()
    await app.control.set_leverage("tg:1001", "9")
    await app.control.pause("tg:1001", "testing")
    await app.control.remove_symbols("tg:1001", ["ETH/USDT:USDT"])
    await app.stop()

    again, _ = demo_app(tmp_path)
    await again.build()
    try:
        state = await again.control.state()
        assert (state.max_leverage, state.paused, state.symbols) == (9, True, ("BTC/USDT:USDT",))
        assert [e.action for e in await again.control.audit()] == ["remove_symbols", "pause", "set_leverage"]
    finally:
        await again.stop()


async def test_demo_refuses_to_go_live(tmp_path: Path) -> None:
    app, _ = demo_app(tmp_path)
    await app.build()
    try:
        with pytest.raises(UserInputError, match="demo always trades on paper"):
            await app.control.request_confirmation("tg:1001", "live")
    finally:
        await app.stop()


async def test_live_plan_has_every_job(tmp_path: Path) -> None:
    clock = SimulatedClock(DEFAULT_START)
    app = App(demo_settings(tmp_path), clock=clock, market_data=OfflineMarketData(sample_data_dir(), clock=clock))
    await app.start()
    try:
        assert {job.id for job in app.scheduler.get_jobs()} == {"cycle", "monitor", "pulse", "daily", "outbox_drain"}
    finally:
        await app.stop()


async def test_market_charts_validate_and_draw(tmp_path: Path) -> None:
    clock = SimulatedClock(DEFAULT_START)
    charts = MarketCharts(OfflineMarketData(sample_data_dir(), clock=clock), clock)
    png = await charts.symbol_chart("BTC/USDT:USDT", "4h")
    assert png.startswith(b"\x89PNG") and len(png) > 5_000
    with pytest.raises(UserInputError, match="no data for NOPE/USDT:USDT"):
        await charts.symbol_chart("NOPE/USDT:USDT", "1h")
    with pytest.raises(UserInputError, match="timeframe must be one of"):
        await charts.symbol_chart("BTC/USDT:USDT", "7m")


async def test_commands_are_scoped_for_admins() -> None:
    session = RecordingSession()
    await set_bot_commands(Bot(token=TOKEN, session=session), [1001, 1002])
    calls = session.named("SetMyCommands")
    assert [c.params["scope"]["type"] for c in calls] == ["default", "chat", "chat"]
    public = {c["command"] for c in calls[0].params["commands"]}
    admin = {c["command"] for c in calls[1].params["commands"]}
    assert "chart" in public and "leverage" not in public
    assert {"leverage", "closeall", "status", "chart"} <= admin
    assert calls[2].params["scope"]["chat_id"] == 1002


async def test_run_without_a_token_says_what_to_do() -> None:
    with pytest.raises(UserInputError, match=r"TELEGRAM_BOT_TOKEN.*aitrader demo"):
        await run_bot()


def test_the_token_never_reaches_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    register_secrets(load_settings(env_file=None, telegram_bot_token=TOKEN))
    logger = logging.getLogger("tests.app")
    caplog.handler.addFilter(SecretMaskingFilter())
    logger.error("request to https://api.telegram.org/bot%s/getMe failed", TOKEN)
    assert TOKEN not in caplog.text and "***" in caplog.text


async def test_fills_booked_but_never_announced_are_posted_at_start_and_nothing_twice(tmp_path: Path) -> None:
    # a process killed between the broker booking a fill and the notifier enqueueing its post
    app, clock = demo_app(tmp_path)
    await app.start()
    try:
        for _ in range(24):
            await app.tick(clock.advance(timedelta(hours=1)))
        await app.publisher.wait_idle()
        trades = await app.history.closed_trades()
        assert trades, "this window has at least one exit"
        await app.db.write("DELETE FROM outbox")  # as if none of it had been announced
    finally:
        await app.stop()
    app, _ = demo_app(tmp_path)
    app.clock.set(clock.now())
    await app.start()
    try:
        await app.publisher.wait_idle()
        posts = await app.outbox.posts()
        exits = {p.dedupe_key for p in posts if p.kind == "exit"}
        entries = {p.dedupe_key for p in posts if p.kind == "entry"}
        assert len(exits) == len(trades)  # every leg of the last two days, once
        assert {f"entry:{p.id}" for p in await app.broker.positions()} <= entries
        before = len(posts)
        await app.announce_unposted()  # again: all of it is already in the outbox
        assert len(await app.outbox.posts()) == before
    finally:
        await app.stop()


async def test_pulse_daily_and_track_record_through_the_wired_app(tmp_path: Path) -> None:
    """The pulse shows this hour's cycle decision (read from the decision log the App wires), the daily job
    posts the day's summary and the pinned track record follows the positions that closed."""
    app, clock = demo_app(tmp_path)
    await app.start()
    try:
        for _ in range(30):
            await app.tick(clock.advance(timedelta(hours=1)))
            if clock.now().hour == 0:
                await app.daily_now()
        assert await app.pulse_now()
        await app.publisher.wait_idle()
        pulse = (await app.outbox.posts("pulse"))[-1]
        assert "↳ rules:" in pulse.text and pulse.image is not None
        assert [p.dedupe_key for p in await app.outbox.posts("daily")] == [f"daily:{DEFAULT_START.date()}"]
        assert await app.history.closed_trades(), "the window has a TP1 at 23:00"
        assert await app.outbox.get("record:pinned") is not None
    finally:
        await app.stop()


async def test_admins_hear_when_the_bot_starts_and_stops(tmp_path: Path) -> None:
    app, _clock = demo_app(tmp_path)
    await app.start()
    db = tmp_path / "app.sqlite"
    await app.stop()
    import sqlite3

    with sqlite3.connect(db) as conn:
        texts = [t for (t,) in conn.execute("SELECT text FROM outbox WHERE kind = 'notice' AND chat_id = '1001'")]
    assert any(t.startswith("🟢 AI Trader") and "started: dry-run (paper trading), engine rules" in t
               and "BTC/USDT:USDT, ETH/USDT:USDT" in t for t in texts), texts
    assert any(t.startswith("🔴 AI Trader stopped (dry-run") for t in texts), texts


async def test_reload_config_applies_risk_limits_and_keeps_those_set_from_chat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, _clock = demo_app(tmp_path)
    await app.build()
    try:
        lowered = round((await app.control.risk()).risk_per_trade_pct / 2, 2)  # lowering: no confirmation
        await app.control.set_risk("tg:1001", "risk", str(lowered))  # set from chat: stays over the settings
        monkeypatch.setenv("MIN_REWARD_RISK", "2.0")
        monkeypatch.setenv("RISK_PER_TRADE_PCT", "2.5")
        monkeypatch.setenv("CYCLE_CRON", "30 * * * *")
        text = await app.reload_config("tg:1001")
        assert "MIN_REWARD_RISK: 1.5 → 2.0" in text and "CYCLE_CRON: 0 * * * * → 30 * * * *" in text
        assert app.guard.limits.min_reward_risk == 2.0 and app.guard.limits.risk_per_trade_pct == lowered
        assert (await app.control.audit())[0].action == "reload_config"
        monkeypatch.setenv("MAX_LEVERAGE", "abc")
        assert "Not reloaded, the settings are invalid" in await app.reload_config("tg:1001")
        assert app.guard.limits.min_reward_risk == 2.0
    finally:
        await app.stop()
