"""The live broker bot.app builds trails as the paper broker does (#19): TRAIL_AFTER_TP1_PCT and the
profit lock (LOCK_PROFIT_*) reach it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bot.app import App
from bot.settings import load_settings
from core.clock import SimulatedClock
from core.execution.exchange_broker import ExchangeBroker


async def test_app_live_broker_trails_and_splits_as_the_settings_say(tmp_path: Path) -> None:
    settings = load_settings(env_file=None, database_path=tmp_path / "db.sqlite", exchange_id="binanceusdm",
                             exchange_api_key="k", exchange_secret="s", trail_after_tp1_pct=2.5,
                             lock_profit_trigger_pct=2.0, lock_profit_offset_pct=0.3)
    app = App(settings, clock=SimulatedClock(datetime(2024, 6, 10, tzinfo=UTC)))
    factory = app._live_factory(settings.exchange_credentials(), db=None)  # type: ignore[arg-type]
    assert factory is not None
    broker = factory()
    try:
        assert isinstance(broker, ExchangeBroker)
        assert broker._trailing._trail_pct == 2.5  # was: always 1 R, whatever the setting
        assert (broker._trailing._lock_trigger_pct, broker._trailing._lock_offset_pct) == (2.0, 0.3)
    finally:
        await broker.close()
