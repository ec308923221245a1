"""Admin views need a Mini App initData signed with the bot's token (Telegram's HMAC-SHA256 scheme), fresh,
from an admin's user id: forged, expired, missing or a follower's → 401/403, and the token is never served."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from bot.web.attach import sources_of
from bot.web.init_data import InitDataRefused, admin_of
from bot.web.server import INIT_DATA_HEADER, WebServer
from tests.bot.web.helpers import ADMIN, ENV, FOLLOWER, TOKEN, dashboard_app, free_port, signed_init_data
from tests.settings_env import isolate_settings

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
OTHER_BOT = "123456789:AAFakeFakeFakeFakeFakeFakeFakeFake12"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_settings(monkeypatch, tmp_path, ENV)


def test_a_fresh_admin_payload_passes() -> None:
    data = signed_init_data(TOKEN, ADMIN, NOW - timedelta(minutes=5))
    assert admin_of(data, token=TOKEN, admin_ids={ADMIN}, now=NOW) == ADMIN


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (signed_init_data(TOKEN, ADMIN, NOW, secret_token=OTHER_BOT), 401),  # signed by another bot
        (signed_init_data(TOKEN, ADMIN, NOW).replace("ann", "eve"), 401),  # a signed field changed
        (signed_init_data(TOKEN, ADMIN, NOW).split("&hash=")[0], 401),  # no hash at all
        (signed_init_data(TOKEN, ADMIN, NOW - timedelta(hours=2)), 401),  # expired
        (signed_init_data(TOKEN, ADMIN, NOW + timedelta(hours=1)), 401),  # from the future
        (signed_init_data(TOKEN, FOLLOWER, NOW), 403),  # valid, but a follower
        ("", 401),
        ("%%%not a query string", 401),
    ],
    ids=["other-bot", "tampered", "unsigned", "expired", "future", "follower", "empty", "garbage"],
)
def test_bad_payloads_are_refused(data: str, status: int) -> None:
    with pytest.raises(InitDataRefused) as refused:
        admin_of(data, token=TOKEN, admin_ids={ADMIN}, now=NOW)
    assert refused.value.status == status


async def test_admin_views_over_http(tmp_path: Path) -> None:
    app, _ = dashboard_app(tmp_path, free_port())
    await app.build()
    # the demo has no bot token; the server checks signatures against this one
    sources = dataclasses.replace(sources_of(app), token=TOKEN)
    server = WebServer(sources)
    port = await server.start("127.0.0.1", 0)
    base = f"http://127.0.0.1:{port}"
    now = datetime.now(UTC)
    try:
        await app.control.pause("tg:1001", "test")  # something in the audit log
        async with aiohttp.ClientSession() as http:
            seen = []
            for path in ("/api/admin/audit", "/api/admin/risk"):
                async with http.get(base + path, headers={INIT_DATA_HEADER: signed_init_data(TOKEN, ADMIN, now)}) as r:
                    assert r.status == 200
                    seen.append(await r.text())
                cases = {
                    "": 401,
                    signed_init_data(TOKEN, ADMIN, now, secret_token=OTHER_BOT): 401,
                    signed_init_data(TOKEN, ADMIN, now - timedelta(days=1)): 401,
                    signed_init_data(TOKEN, FOLLOWER, now): 403,
                }
                for data, status in cases.items():
                    async with http.get(base + path, headers={INIT_DATA_HEADER: data} if data else {}) as r:
                        assert r.status == status, (path, data)
                        seen.append(await r.text())
            async with http.get(base + "/api/admin/audit",
                                headers={INIT_DATA_HEADER: signed_init_data(TOKEN, ADMIN, now)}) as r:
                audit = await r.json()
            assert audit[0]["action"] == "pause" and audit[0]["actor"] == "tg:1001"
            for path in ("/", "/app.js", "/api/track_record", "/api/positions", "/api/trades", "/metrics",
                         "/readyz"):
                async with http.get(base + path) as r:
                    seen.append(await r.text())
        secret = TOKEN.split(":")[1]
        assert all(secret not in body and TOKEN not in body for body in seen)
    finally:
        await server.stop()
        await app.stop()


async def test_admin_views_are_refused_without_a_bot_token(tmp_path: Path) -> None:
    app, _ = dashboard_app(tmp_path, free_port())
    await app.build()
    server = WebServer(sources_of(app))  # the demo: no token to check a signature with
    port = await server.start("127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as http, http.get(
            f"http://127.0.0.1:{port}/api/admin/risk",
            headers={INIT_DATA_HEADER: signed_init_data(TOKEN, ADMIN, datetime.now(UTC))},
        ) as r:
            assert r.status == 403
    finally:
        await server.stop()
        await app.stop()
