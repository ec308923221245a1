"""The dashboard page driven in headless Chromium (Debian's, through Playwright; no browser download):
the equity chart has one point per equity point, the positions table matches the book, a trade's reasoning
shows, the admin section opens only with an admin's signed initData, and nothing leaves the origin."""

from __future__ import annotations

import dataclasses
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest

from bot.web.attach import sources_of
from bot.web.server import WebServer
from tests.bot.web.helpers import ADMIN, ENV, FOLLOWER, TOKEN, dashboard_app, free_port, signed_init_data
from tests.settings_env import isolate_settings

CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "") if p and Path(p).exists()), None)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_settings(monkeypatch, tmp_path, ENV)


async def test_page_shows_the_track_record_positions_and_reasoning(tmp_path: Path) -> None:
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install -y chromium; ./dev test tries it)")
    async_api = pytest.importorskip("playwright.async_api", reason="Playwright for Python is not installed")
    port = free_port()
    app, clock = dashboard_app(tmp_path, port)
    await app.start()
    admin_server = None
    try:
        for _ in range(24):  # an entry still open and a TP1 exit by 23:00 on this window
            await app.tick(clock.advance(timedelta(hours=1)))
        curve = await app.history.equity_curve()
        book = await app.control.positions()
        legs = await app.history.closed_trades()
        assert book and legs  # the window gives both, or the test would prove nothing
        await app.control.pause("tg:1001", "for the audit log")
        admin_server = WebServer(dataclasses.replace(sources_of(app), token=TOKEN))
        admin_port = await admin_server.start("127.0.0.1", 0)

        requested: list[str] = []
        problems: list[str] = []
        async with async_api.async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            try:
                page = await browser.new_page(viewport={"width": 390, "height": 844})  # a phone
                page.on("request", lambda r: requested.append(r.url))
                page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: problems.append(str(e)))
                await page.goto(f"http://127.0.0.1:{port}/")
                await page.wait_for_selector("body[data-loaded='1']")

                line = page.locator("#equity-line")
                assert await line.get_attribute("data-count") == str(len(curve))
                drawn = (await line.get_attribute("points") or "").split()
                assert len(drawn) == len(curve)
                assert await page.locator("#drawdown-line").get_attribute("data-count") == str(len(curve))
                months = await page.locator("#monthly tbody tr").evaluate_all("rows => rows.map(r => r.dataset.month)")
                assert months == sorted({f"{t:%Y-%m}" for t, _ in curve})
                rows = await page.locator("#positions tbody tr").evaluate_all("rows => rows.map(r => r.dataset.id)")
                assert sorted(rows) == sorted(p.id for p in book)
                assert await page.locator("#admin").is_hidden()
                await page.wait_for_selector("#decisions tbody tr")
                assert await page.locator("#decisions tbody tr").count() == 20

                signal = legs[-1].signal_id
                await page.locator(f"#trades li[data-signal='{signal}'] a").click()
                await page.wait_for_selector("#why:not([hidden]) #why-body dd")
                why = await page.locator("#why-body").inner_text()
                entry = await app.control.why(signal)
                assert entry is not None and entry.record is not None and entry.record.decision is not None
                assert entry.record.decision.reasoning in why

                # the Mini App: Telegram passes initData in the URL's fragment
                now = datetime.now(UTC)
                for user, shown in ((FOLLOWER, False), (ADMIN, True)):
                    data = quote(signed_init_data(TOKEN, user, now), safe="")
                    await page.goto("about:blank")  # a new document: only the fragment differs between the two
                    await page.goto(f"http://127.0.0.1:{admin_port}/#tgWebAppData={data}&tgWebAppVersion=7.0")
                    await page.wait_for_selector("body[data-loaded='1']")
                    if shown:
                        await page.wait_for_selector("#admin:not([hidden]) #admin-audit li")
                        assert "max_open_positions" in await page.locator("#admin-risk").inner_text()
                        assert "pause" in await page.locator("#admin-audit").inner_text()
                    else:
                        await page.wait_for_timeout(300)
                        assert await page.locator("#admin").is_hidden()
            finally:
                await browser.close()
        origins = (f"http://127.0.0.1:{port}/", f"http://127.0.0.1:{admin_port}/")
        assert all(u.startswith(origins) for u in requested), requested
        # the follower's refused admin calls are the only errors the console may show
        assert all("403" in p for p in problems), problems
    finally:
        if admin_server is not None:
            await admin_server.stop()
        await app.stop()
