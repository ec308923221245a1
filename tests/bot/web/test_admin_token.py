"""Plain web access to the admin views (#20): `Authorization: Bearer <WEB_ADMIN_TOKEN>` over HTTP and the page
opened at `/#admin_token=…` in headless Chromium; a wrong or missing token is refused, no token set means the
Mini App's initData only, and the token shows in no response and no log line."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import aiohttp
import pytest

from bot.app import App
from bot.commands.demo_cmd import DEFAULT_START
from bot.settings import load_settings
from core.clock import SimulatedClock
from core.errors import UserInputError
from core.market.offline import OfflineMarketData, sample_data_dir
from tests.bot.web.helpers import ADMIN, ENV, free_port
from tests.settings_env import isolate_settings

ADMIN_TOKEN = "a3f1c9e07b5d42a8916c0e2f7d4b8a65"
CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "") if p and Path(p).exists()), None)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_settings(monkeypatch, tmp_path, (*ENV, "WEB_ADMIN_TOKEN"))


def token_app(tmp_path: Path, port: int, token: str | None = ADMIN_TOKEN) -> App:
    settings = load_settings(
        env_file=None, market_data_dir=sample_data_dir(), database_path=tmp_path / "app.sqlite",
        symbols=("BTC/USDT:USDT",), telegram_admin_ids=(ADMIN,), web_port=port, web_admin_token=token,
    )
    clock = SimulatedClock(DEFAULT_START)
    market = OfflineMarketData(sample_data_dir(), clock=clock)
    return App(settings, clock=clock, demo=True, console_out=tmp_path / "out", market_data=market)


async def _get(url: str, **headers: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        return response.status, await response.text()


async def test_bearer_token_opens_the_admin_views_and_nothing_else_does(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    app = token_app(tmp_path, port)
    await app.start()
    try:
        await app.control.pause("tg:1001", "for the audit log")
        base = f"http://127.0.0.1:{port}"
        with caplog.at_level(logging.DEBUG):
            status, body = await _get(f"{base}/api/admin/audit", Authorization=f"Bearer {ADMIN_TOKEN}")
            assert status == 200 and '"pause"' in body
            status, body = await _get(f"{base}/api/admin/risk", Authorization=f"bearer  {ADMIN_TOKEN}")
            assert status == 200 and "max_open_positions" in body
            for header in (f"Bearer {ADMIN_TOKEN[:-1]}x", f"Bearer {ADMIN_TOKEN}0", "Bearer ", f"Basic {ADMIN_TOKEN}",
                           ADMIN_TOKEN):
                status, body = await _get(f"{base}/api/admin/audit", Authorization=header)
                assert (status, "bearer token is not valid" in body) == (401, True), header
            status, body = await _get(f"{base}/api/admin/audit")
            assert status == 401 and "missing Authorization: Bearer" in body  # no bot token here: no Mini App
            for path in ("/", "/app.js", "/readyz", "/metrics", "/api/track_record", "/api/admin/risk"):
                _, body = await _get(f"{base}{path}", Authorization=f"Bearer {ADMIN_TOKEN}")
                assert ADMIN_TOKEN not in body, path
        assert ADMIN_TOKEN not in caplog.text
        assert ADMIN_TOKEN not in str(app.config_view())  # /show_config masks it
    finally:
        await app.stop()


async def test_without_a_token_set_a_bearer_header_opens_nothing(tmp_path: Path) -> None:
    port = free_port()
    app = token_app(tmp_path, port, token=None)
    await app.start()
    try:
        status, body = await _get(f"http://127.0.0.1:{port}/api/admin/audit", Authorization="Bearer anything-at-all")
        assert status == 401 and "no WEB_ADMIN_TOKEN is set" in body
    finally:
        await app.stop()


def test_a_short_token_is_refused_at_start() -> None:
    with pytest.raises(UserInputError, match=r"WEB_ADMIN_TOKEN.*at least 24 characters"):
        load_settings(env_file=None, web_admin_token="short")
    assert load_settings(env_file=None, web_admin_token="").web_admin_token is None


async def test_page_opened_with_the_token_shows_the_admin_section(tmp_path: Path) -> None:
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install -y chromium; ./dev test tries it)")
    async_api = pytest.importorskip("playwright.async_api", reason="Playwright for Python is not installed")
    port = free_port()
    app = token_app(tmp_path, port)
    await app.start()
    try:
        await app.control.pause("tg:1001", "for the audit log")
        problems: list[str] = []
        async with async_api.async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            try:
                page = await browser.new_page(viewport={"width": 390, "height": 844})
                page.on("pageerror", lambda e: problems.append(str(e)))
                await page.goto(f"http://127.0.0.1:{port}/#admin_token={ADMIN_TOKEN}")
                await page.wait_for_selector("#admin:not([hidden]) #admin-audit li")
                assert "pause" in await page.locator("#admin-audit").inner_text()
                assert "max_open_positions" in await page.locator("#admin-risk").inner_text()
                assert ADMIN_TOKEN not in page.url  # taken out of the address bar and history

                await page.goto("about:blank")
                await page.goto(f"http://127.0.0.1:{port}/#admin_token=wrong-token-wrong-token-wrong")
                await page.wait_for_selector("body[data-loaded='1']")
                await page.wait_for_timeout(300)
                assert await page.locator("#admin").is_hidden()
            finally:
                await browser.close()
        assert problems == []
    finally:
        await app.stop()
