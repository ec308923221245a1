"""`/reload_config` through aiogram's dispatcher on a running `aitrader run` App (issue #16 item 7): what can
change while running applies now (risk limits, schedules via APScheduler, LLM request settings, the alert delay,
the SYMBOLS default), the rest is named as needing a restart, secrets never shown, a bad file changes nothing,
and the reload is audited."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiogram import Bot

from bot.app import App
from bot.settings import load_settings
from core.clock import SystemClock
from core.market.offline import sample_data_dir
from tests.handlers.tg_session import RecordingSession, command_update

TOKEN = "987654321:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
ADMIN = 1001
SECRET = "exch-secret-key-abcdef-123456"
ENV = {
    "MARKET_DATA_DIR": str(sample_data_dir()),
    "SYMBOLS": "BTC/USDT:USDT,ETH/USDT:USDT",
    "TELEGRAM_ADMIN_IDS": str(ADMIN),
    "LLM_BASE_URL": "http://127.0.0.1:9/v1",  # a local endpoint: the LLM engine without a key
    "ENGINE": "llm",
}


@pytest.fixture
async def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[App]:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHANNEL_ID", "LLM_API_KEY", "EXCHANGE_API_KEY", "EXCHANGE_SECRET",
                 "DRY_RUN", "WEB_PORT", "WEB_PUBLIC_URL", "CYCLE_CRON", "MIN_CONFIDENCE", "LLM_MODEL",
                 "LLM_TEMPERATURE", "UNREACHABLE_ALERT_MIN", "CHART_THEME", "MAX_LEVERAGE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {**ENV, "DATABASE_PATH": str(tmp_path / "bot.sqlite")}.items():
        monkeypatch.setenv(name, value)
    running = App(load_settings(env_file=None), clock=SystemClock())
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


async def reload_via_chat(app: App, session: RecordingSession, user_id: int = ADMIN) -> str:
    assert app.dp is not None
    session.clear()
    await app.dp.feed_update(Bot(token=TOKEN, session=session), command_update("/reload_config", user_id))
    return session.last_text()


async def test_reload_applies_what_it_can_names_the_rest_and_masks_secrets(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = RecordingSession()
    assert app.scheduler is not None
    cycle_before = app.scheduler.get_job("cycle").trigger
    monkeypatch.setenv("MIN_CONFIDENCE", "0.65")
    monkeypatch.setenv("CYCLE_CRON", "30 * * * *")
    monkeypatch.setenv("LLM_MODEL", "gpt-4o")
    monkeypatch.setenv("LLM_TEMPERATURE", "0.5")
    monkeypatch.setenv("UNREACHABLE_ALERT_MIN", "10")
    monkeypatch.setenv("SYMBOLS", "BTC/USDT:USDT")
    monkeypatch.setenv("EXCHANGE_API_KEY", SECRET)  # needs a restart, and is never shown
    monkeypatch.setenv("INITIAL_EQUITY", "5000")

    text = await reload_via_chat(app, session)

    assert text.startswith("✅ Settings reloaded.")
    assert "MIN_CONFIDENCE: 0.6 → 0.65" in text and app.guard.limits.min_confidence == 0.65
    assert "CYCLE_CRON: 0 * * * * → 30 * * * *" in text
    trigger = app.scheduler.get_job("cycle").trigger
    assert str(trigger) != str(cycle_before) and "minute='30'" in str(trigger)  # APScheduler rescheduled it
    assert "LLM_MODEL: gpt-4o-mini → gpt-4o" in text and "LLM_TEMPERATURE: 0.2 → 0.5" in text
    config = app.engine.config  # type: ignore[attr-defined]
    assert (config.model, config.temperature, config.base_url) == ("gpt-4o", 0.5, "http://127.0.0.1:9/v1")
    assert "UNREACHABLE_ALERT_MIN: 5.0 → 10.0" in text and app.reachability.alert_after.total_seconds() == 600
    assert "SYMBOLS: BTC/USDT:USDT,ETH/USDT:USDT → BTC/USDT:USDT" in text
    assert (await app.control.state()).symbols == ("BTC/USDT:USDT",)  # nobody had changed them from chat
    restart = text.split("needs a restart")[1]
    assert "EXCHANGE_API_KEY" in restart and "INITIAL_EQUITY" in restart
    assert SECRET not in text and app.settings.exchange_api_key is None  # still running on the old value
    assert app.settings.initial_equity == 10_000 and app.settings.min_confidence == 0.65
    [entry] = [e for e in await app.control.audit(5) if e.action == "reload_config"][:1]
    assert entry.actor == f"tg:{ADMIN}" and "MIN_CONFIDENCE: 0.6 → 0.65" in entry.old
    assert "needs a restart: EXCHANGE_API_KEY" in entry.old and SECRET not in entry.old

    again = await reload_via_chat(app, session)  # nothing new: only the restart list again
    assert "Nothing that applies while running has changed." in again and "EXCHANGE_API_KEY" in again


async def test_values_set_from_chat_stay_over_the_file(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    session = RecordingSession()
    await app.control.remove_symbols("tg:1001", ["ETH/USDT:USDT"])  # an admin's choice
    await app.control.set_risk("tg:1001", "min_confidence", "0.7")
    monkeypatch.setenv("SYMBOLS", "ETH/USDT:USDT")
    monkeypatch.setenv("MIN_CONFIDENCE", "0.65")
    text = await reload_via_chat(app, session)
    assert "SYMBOLS: BTC/USDT:USDT,ETH/USDT:USDT → ETH/USDT:USDT (the value set from chat stays: BTC/USDT:USDT)" in text
    assert (await app.control.state()).symbols == ("BTC/USDT:USDT",)
    assert "MIN_CONFIDENCE: 0.6 → 0.65 (the value set from chat with /set stays: 0.7)" in text
    assert app.guard.limits.min_confidence == 0.7


async def test_a_bad_file_is_refused_in_one_line_and_changes_nothing(
    app: App, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    session = RecordingSession()
    assert app.scheduler is not None
    before = (str(app.scheduler.get_job("cycle").trigger), app.guard.limits, app.settings)
    monkeypatch.setenv("CYCLE_CRON", "30 * * * *")
    (tmp_path / ".env").write_text("MIN_CONFIDENCE=0.65\nMAX_LEVERAGE=abc\n")
    text = await reload_via_chat(app, session)
    assert text.startswith("❌ Not reloaded, the settings are invalid: ") and "MAX_LEVERAGE" in text
    assert "\n" not in text
    assert (str(app.scheduler.get_job("cycle").trigger), app.guard.limits, app.settings) == before

    (tmp_path / ".env").unlink()
    monkeypatch.setenv("SYMBOLS", "BTC/USDT:USDT,NOPE/USDT:USDT")
    text = await reload_via_chat(app, session)
    assert text.startswith("❌ Not reloaded, SYMBOLS: NOPE/USDT:USDT not offered") and "\n" not in text
    assert (str(app.scheduler.get_job("cycle").trigger), app.guard.limits, app.settings) == before
    assert (await app.control.state()).symbols == ("BTC/USDT:USDT", "ETH/USDT:USDT")


async def test_a_follower_cannot_reload(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    session = RecordingSession()
    monkeypatch.setenv("MIN_CONFIDENCE", "0.65")
    text = await reload_via_chat(app, session, user_id=2002)
    assert "Settings reloaded" not in text and app.guard.limits.min_confidence == 0.6
