"""The engine memory through the composition root: the bot's cycle stores the trend engine's memory (and each
arena contestant's under its own key) in SQLite, and a new App on the same database starts with it."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app import App
from bot.commands.demo_cmd import DEFAULT_START
from bot.settings import load_settings
from bot.telegram.reply_format import status_text
from core.clock import SimulatedClock
from core.decide.trend import TrendEngine
from core.market.offline import OfflineMarketData, sample_data_dir
from core.services.engine_memory import MEMORY_KEY
from tests.settings_env import isolate_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_settings(monkeypatch, tmp_path, (
        "TELEGRAM_BOT_TOKEN", "TELEGRAM_CHANNEL_ID", "TELEGRAM_ADMIN_IDS", "LLM_API_KEY", "ENGINE", "ARENA",
        "MARKET_DATA_DIR", "DATABASE_PATH", "SYMBOLS", "DRY_RUN",
    ))


def trend_app(tmp_path: Path, clock: SimulatedClock, db: str = "app.sqlite",
              symbols: tuple[str, ...] = ("BTC/USDT:USDT", "ETH/USDT:USDT")) -> App:
    settings = load_settings(env_file=None, market_data_dir=sample_data_dir(), database_path=tmp_path / db,
                             symbols=symbols, engine="trend", arena="trend,rules")
    return App(settings, clock=clock, demo=True, console_out=tmp_path / "out",
               market_data=OfflineMarketData(sample_data_dir(), clock=clock))


def _contestant_engine(app: App, name: str) -> object:
    assert app.services.arena is not None
    return next(c.engine for c in app.services.arena.contestants if c.name == name)


async def test_the_cycle_saves_the_memory_and_a_restarted_app_goes_on_with_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = SimulatedClock(DEFAULT_START)
    app = trend_app(tmp_path, clock)
    await app.start()
    try:
        assert isinstance(app.engine, TrendEngine)
        for _ in range(30):
            await app.tick(clock.advance(timedelta(hours=1)))
        remembered = app.engine.memory()
        contestant = _contestant_engine(app, "trend")
        assert isinstance(contestant, TrendEngine)
        remembered_contestant = contestant.memory()
        stored = await app.state_store.get_value(MEMORY_KEY)
        assert await app.state_store.get_value("arena:trend:engine_memory") is not None
        assert await app.state_store.get_value("arena:rules:engine_memory") is None  # the rules engine keeps none
    finally:
        await app.stop()
    assert stored is not None and json.loads(stored)["memory"] == remembered
    # only what the engine remembers: symbols and numbers, nothing from the settings (no secret can ride along)
    assert set(json.loads(stored)) == {"as_of", "memory"} and set(remembered) == {"version", "engine", "flips", "funding"}
    funding = remembered["funding"]
    assert isinstance(funding, dict) and set(funding) == {"BTC/USDT:USDT", "ETH/USDT:USDT"}
    assert all(len(h["values"]) >= 3 for h in funding.values())  # 30 hours: a new 24 h mean at each 8 h settlement

    again = trend_app(tmp_path, clock)
    with caplog.at_level(logging.INFO, logger="core.services.engine_memory"):
        await again.start()
    try:
        assert isinstance(again.engine, TrendEngine)
        assert again.engine.memory() == remembered
        assert _contestant_engine(again, "trend").memory() == remembered_contestant  # type: ignore[attr-defined]
        assert "engine trend: memory restored" in caplog.text
        assert "arena contestant trend: memory restored" in caplog.text
        await again.tick(clock.advance(timedelta(hours=1)))  # and it goes on from there
    finally:
        await again.stop()


async def test_a_first_start_warms_the_funding_veto_up_and_status_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = SimulatedClock(DEFAULT_START + timedelta(days=45))  # the bundled data starts 2024-01-15: 94 days before
    app = trend_app(tmp_path, clock)
    with caplog.at_level(logging.INFO, logger="core.services.engine_memory"):
        await app.start()
    try:
        assert isinstance(app.engine, TrendEngine)
        funding = app.engine.memory()["funding"]
        assert isinstance(funding, dict) and all(len(h["values"]) >= 90 for h in funding.values())
        summary = app.engine.memory_summary()
        assert summary.startswith("funding samples: BTC/USDT ") and summary.count("(veto active)") == 2
        assert f"engine trend: {summary}" in caplog.text  # the start-up log line
        assert f"Engine memory: {summary}" in status_text(await app.control.status())
    finally:
        await app.stop()


async def test_after_downtime_the_restored_memory_catches_up_on_the_funding_it_missed(tmp_path: Path) -> None:
    clock = SimulatedClock(DEFAULT_START)
    first = trend_app(tmp_path, clock)
    await first.start()
    try:
        for _ in range(30):
            await first.tick(clock.advance(timedelta(hours=1)))
    finally:
        await first.stop()
    clock.advance(timedelta(hours=50))  # the bot was down for two days
    again = trend_app(tmp_path, clock)
    await again.start()

    steady_clock = SimulatedClock(DEFAULT_START)
    steady = trend_app(tmp_path, steady_clock, db="steady.sqlite")  # never stopped
    await steady.start()
    try:
        for _ in range(80):
            await steady.tick(steady_clock.advance(timedelta(hours=1)))
        assert isinstance(again.engine, TrendEngine) and isinstance(steady.engine, TrendEngine)
        assert again.engine.memory()["funding"] == steady.engine.memory()["funding"]
    finally:
        await steady.stop()
        await again.stop()


async def test_a_symbol_added_from_chat_gets_its_warm_up_before_its_first_cycle(tmp_path: Path) -> None:
    clock = SimulatedClock(DEFAULT_START + timedelta(days=45))
    app = trend_app(tmp_path, clock, symbols=("BTC/USDT:USDT",))
    await app.start()
    try:
        assert isinstance(app.engine, TrendEngine)
        await app.tick(clock.advance(timedelta(hours=1)))
        assert not app.engine.knows_funding("ETH/USDT:USDT")
        await app.control.add_symbols("tg:1001", ["ETH/USDT:USDT"])
        await app.tick(clock.advance(timedelta(hours=1)))
        for engine in (app.engine, _contestant_engine(app, "trend")):
            eth = engine.memory()["funding"]["ETH/USDT:USDT"]  # type: ignore[attr-defined]
            assert len(eth["values"]) >= 90
    finally:
        await app.stop()


async def test_the_scheduled_cycle_of_aitrader_run_saves_it_and_status_shows_it_after_a_restart(tmp_path: Path) -> None:
    """`aitrader run`'s path: not the demo, the default engine (trend: no LLM key), the cycle job on the minute
    clock, /status through aiogram's in-process dispatcher."""
    from tests.bot.test_app_stale_data import ADMIN, status_reply

    settings = load_settings(env_file=None, market_data_dir=sample_data_dir(), database_path=tmp_path / "run.sqlite",
                             symbols=("BTC/USDT:USDT", "ETH/USDT:USDT"), telegram_admin_ids=(ADMIN,))
    clock = SimulatedClock(datetime(2024, 4, 20, 12, 0, 3, tzinfo=UTC))
    app = App(settings, clock=clock)
    await app.start()
    try:
        assert isinstance(app.engine, TrendEngine)
        for _ in range(3):
            summary = await app.run_cycle()
            assert summary is not None and not summary.errors
            clock.set(clock.now() + timedelta(hours=1))
        remembered = app.engine.memory()
    finally:
        await app.stop()
    again = App(settings, clock=clock)
    await again.start()
    try:
        assert isinstance(again.engine, TrendEngine) and again.engine.memory() == remembered
        status = await status_reply(again)
        assert f"Engine memory: {again.engine.memory_summary()}" in status and "(veto active)" in status
    finally:
        await again.stop()


async def test_a_restarted_demo_goes_on_with_the_memory_of_its_stored_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """`aitrader demo` twice on one database: the second run continues the simulated clock, so the memory saved
    by the first is not from the future (it was refused as such while App.build restored it before the demo had
    set its stored clock)."""
    from bot.commands.demo_cmd import run_demo

    monkeypatch.setenv("ENGINE", "trend")
    database = tmp_path / "demo.sqlite"
    with caplog.at_level(logging.INFO, logger="core.services.engine_memory"):
        for _ in range(2):
            assert await run_demo(sample_data_dir(), 0.0, None, 3, None, tmp_path / "out", database) == 0
    restored = [r.getMessage() for r in caplog.records if "memory restored" in r.getMessage()]
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(restored) == 1 and restored[0].startswith("engine trend: memory restored")  # by the second run
    assert refused == []
