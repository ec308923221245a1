"""`aitrader run`'s App with a bot token: the menu button opens the dashboard as a Mini App when
WEB_PUBLIC_URL is set, and /readyz follows Telegram polling."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.app import App
from bot.settings import load_settings
from core.clock import SystemClock
from core.market.offline import sample_data_dir
from tests.bot.web.helpers import ADMIN, ENV, TOKEN, free_port
from tests.fakes.telegram_server import FakeBotApi
from tests.settings_env import isolate_settings

URL = "https://dash.example.org/"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_settings(monkeypatch, tmp_path, (*ENV, "TELEGRAM_API_BASE"))


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    server = FakeBotApi()
    await server.start()
    yield server
    await server.stop()


def bot_app(tmp_path: Path, api: FakeBotApi, **extra: object) -> App:
    settings = load_settings(
        env_file=None, market_data_dir=sample_data_dir(), database_path=tmp_path / "bot.sqlite",
        telegram_bot_token=TOKEN, telegram_api_base=api.url, telegram_channel_id="@aitrader_test",
        telegram_admin_ids=(ADMIN,), symbols=("BTC/USDT:USDT",), **extra,
    )
    return App(settings, clock=SystemClock())


async def test_menu_button_opens_the_dashboard_and_readyz_follows_polling(tmp_path: Path, api: FakeBotApi) -> None:
    port = free_port()
    app = bot_app(tmp_path, api, web_port=port, web_public_url=URL)
    await app.start()
    try:
        buttons = [f for m, f in api.posted if m.lower() == "setchatmenubutton"]
        assert len(buttons) == 1
        button = json.loads(buttons[0]["menu_button"])
        assert button == {"type": "web_app", "text": "Dashboard", "web_app": {"url": URL}}
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/readyz") as r:
                body = await r.json()
            assert body["checks"]["telegram"] == {"ok": True, "detail": "polling"}
            assert "ok" in body["checks"]["last_cycle"]  # no cycle yet on a fresh database: not a failure
            assert app.dp is not None
            await app.dp.stop_polling()
            async with http.get(f"http://127.0.0.1:{port}/readyz") as r:
                body = await r.json()
            assert r.status == 503 and body["checks"]["telegram"]["ok"] is False
    finally:
        await app.stop()


async def test_no_menu_button_and_no_server_without_the_settings(tmp_path: Path, api: FakeBotApi) -> None:
    app = bot_app(tmp_path, api)
    await app.start()
    try:
        assert app.web is None
        assert not [m for m, _ in api.posted if m.lower() == "setchatmenubutton"]
    finally:
        await app.stop()


def test_web_settings_are_checked() -> None:
    from core.errors import UserInputError

    with pytest.raises(UserInputError, match="WEB_PUBLIC_URL"):
        load_settings(env_file=None, web_public_url="http://plain.example.org/")
    with pytest.raises(UserInputError, match="WEB_PORT"):
        load_settings(env_file=None, web_port=70000)


def test_empty_web_settings_mean_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_PORT", "")
    monkeypatch.setenv("WEB_PUBLIC_URL", "")
    settings = load_settings(env_file=None)
    assert settings.web_port is None and settings.web_public_url is None
