"""End-to-end (#16 item 11): the running App against the Bot API emulator from ../shared, which is stopped and
started again on the same port — the admin alert waits in the outbox and reaches the emulator once it is back."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from core.clock import SimulatedClock
from tests.bot.test_app_reachability import ADMIN, WALL, telegram_app, telegram_outage_and_return
from tests.bot.web.helpers import free_port
from tests.e2e.conftest import start_emulator
from tests.settings_env import isolate_settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_settings(monkeypatch, tmp_path, (
        "TELEGRAM_BOT_TOKEN", "TELEGRAM_API_BASE", "LLM_API_KEY", "LLM_BASE_URL", "ENGINE", "MARKET_DATA_DIR",
        "EXCHANGE_API_KEY", "SYMBOLS", "WEB_PORT", "UNREACHABLE_ALERT_MIN",
    ))


async def test_admins_hear_when_the_emulator_goes_away_and_comes_back(
    emulator_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    procs: list[subprocess.Popen[str]] = [start_emulator(emulator_dir, port)]
    sent: list[str] = []  # what reached the admin, across the emulator's restart (it forgets its state)

    def admin_texts() -> list[str]:
        try:
            log = httpx.get(f"{base}/_emu/calls", timeout=2).json()["result"]
        except httpx.HTTPError:
            return sent
        seen = [c["body"].get("text", "") for c in log
                if c["method"] == "sendMessage" and str(c["body"].get("chat_id")) == str(ADMIN)]
        return sent + [t for t in seen if t not in sent]

    async def go_away() -> None:
        sent[:] = admin_texts()
        procs[-1].terminate()
        procs[-1].wait(timeout=10)

    async def come_back() -> None:
        procs.append(start_emulator(emulator_dir, port))

    wall = SimulatedClock(WALL)
    app = telegram_app(tmp_path, base, wall)
    await app.start()
    try:
        await telegram_outage_and_return(app, wall, go_away, come_back, admin_texts, caplog)
    finally:
        await app.stop()
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)
