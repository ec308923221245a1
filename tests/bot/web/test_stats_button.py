"""The Mini App button under /stats (#20): a `web_app` inline button to WEB_PUBLIC_URL in a private chat,
through the App's dispatcher and aiogram's serialisation; none without the setting, none in a group (Telegram
refuses web_app buttons there)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot
from aiogram.types import Chat, Message, MessageEntity, Update

from bot.app import App
from bot.commands.demo_cmd import DEFAULT_START
from bot.settings import load_settings
from core.clock import SimulatedClock
from core.market.offline import OfflineMarketData, sample_data_dir
from tests.bot.web.helpers import ENV, FOLLOWER, TOKEN
from tests.handlers.tg_session import RecordingSession, command_update, user
from tests.settings_env import isolate_settings

URL = "https://dash.example.org/app"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_settings(monkeypatch, tmp_path, ENV)


async def _app(tmp_path: Path, url: str | None) -> App:
    settings = load_settings(env_file=None, market_data_dir=sample_data_dir(), database_path=tmp_path / "app.sqlite",
                             symbols=("BTC/USDT:USDT",), web_public_url=url)
    clock = SimulatedClock(DEFAULT_START)
    app = App(settings, clock=clock, demo=True, console_out=tmp_path / "out",
              market_data=OfflineMarketData(sample_data_dir(), clock=clock))
    await app.build()
    return app


@pytest.fixture
async def with_url(tmp_path: Path) -> AsyncIterator[App]:
    app = await _app(tmp_path, URL)
    yield app
    await app.stop()


def _markup(session: RecordingSession) -> Any:
    [reply] = [c for c in session.calls if c.name in ("SendMessage", "SendPhoto")]
    assert "Track record" in reply.params.get("text", reply.params.get("caption", ""))
    return reply.params.get("reply_markup")


async def test_stats_in_a_private_chat_carries_the_mini_app_button(with_url: App) -> None:
    session = RecordingSession()
    assert with_url.dp is not None
    await with_url.dp.feed_update(Bot(token=TOKEN, session=session), command_update("/stats", FOLLOWER))
    markup = _markup(session)
    assert markup["inline_keyboard"] == [[{"text": "📊 Open the dashboard", "web_app": {"url": URL}}]]


async def test_no_button_in_a_group(with_url: App) -> None:
    session = RecordingSession()
    group = Update(update_id=90001, message=Message(
        message_id=1, date=datetime.now(UTC), chat=Chat(id=-4001, type="group"), from_user=user(FOLLOWER),
        text="/stats", entities=[MessageEntity(type="bot_command", offset=0, length=6)]))
    assert with_url.dp is not None
    await with_url.dp.feed_update(Bot(token=TOKEN, session=session), group)
    assert _markup(session) is None


async def test_no_button_without_web_public_url(tmp_path: Path) -> None:
    app = await _app(tmp_path, None)
    try:
        session = RecordingSession()
        assert app.dp is not None
        await app.dp.feed_update(Bot(token=TOKEN, session=session), command_update("/stats", FOLLOWER))
        assert _markup(session) is None
    finally:
        await app.stop()
