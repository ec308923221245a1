"""`aitrader run` as a supervisor starts it (a real subprocess), against a local Bot API server: every
start-up failure prints one line naming what is wrong and exits non-zero within seconds (issue #12 items
3, 4, 8, 10) — it used to print the line and hang, the database's thread never closed."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.market.offline import sample_data_dir
from tests.fakes.telegram_server import FakeBotApi

REPO = Path(__file__).resolve().parents[2]
TOKEN = "987654321:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
EXIT_WITHIN_S = 40  # generous: two cores shared by many test runs; a hang is for ever


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    server = FakeBotApi()
    await server.start()
    yield server
    await server.stop()


async def run_bot(tmp_path: Path, api: FakeBotApi, **env: str) -> tuple[int, list[str]]:
    """(exit code, non-empty stderr lines); fails the test when the process does not exit in time."""
    base = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_CHANNEL_ID": "@aitrader_test",
        "TELEGRAM_API_BASE": api.url,
        "MARKET_DATA_DIR": str(sample_data_dir()),
        "DATABASE_PATH": str(tmp_path / "bot.sqlite"),
        "PYTHONPATH": str(REPO),
    }
    base.update(env)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=tmp_path, env=base,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), EXIT_WITHIN_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"aitrader run with {env} did not exit within {EXIT_WITHIN_S} s")
    return proc.returncode or 0, [line for line in err.decode().splitlines() if line.strip()]


def error_line(lines: list[str]) -> str:
    assert not any("Traceback" in line for line in lines), "\n".join(lines)
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, "\n".join(lines)
    return errors[0]


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"CYCLE_CRON": "bad"}, "CYCLE_CRON"),
        ({"PULSE_CRON": "61 * * * *"}, "PULSE_CRON"),
        ({"DAILY_SUMMARY_CRON": "x"}, "DAILY_SUMMARY_CRON"),
        ({"MARKET_DATA_DIR": "/nonexistent"}, "MARKET_DATA_DIR"),
        ({"MARKET_DATA_DIR": "", "EXCHANGE_ID": "nonsense"}, "EXCHANGE_ID: 'nonsense' is not a ccxt exchange id"),
        ({"TELEGRAM_BOT_TOKEN": "not a token"}, "TELEGRAM_BOT_TOKEN"),
        ({"DATABASE_PATH": "/proc/x.sqlite"}, "DATABASE_PATH"),
        ({"DATABASE_PATH": ""}, "DATABASE_PATH"),
        ({"DATABASE_PATH": "/tmp"}, "DATABASE_PATH"),
        ({"SYMBOLS": "NOPE/USDT:USDT"}, "SYMBOLS: NOPE/USDT:USDT not offered"),
        ({"INITIAL_EQUITY": "inf"}, "INITIAL_EQUITY"),
        ({"TELEGRAM_API_BASE": "nonsense"}, "TELEGRAM_API_BASE"),
    ],
)
async def test_start_up_failure_is_one_line_and_a_prompt_exit(
    tmp_path: Path, api: FakeBotApi, env: dict[str, str], needle: str
) -> None:
    code, lines = await run_bot(tmp_path, api, **env)
    assert code != 0
    assert needle in error_line(lines)


async def test_read_only_database_is_refused_naming_the_variable(tmp_path: Path, api: FakeBotApi) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes through file permissions; the read-only mount case is in test_db.py")
    folder = tmp_path / "ro"
    folder.mkdir()
    sqlite3.connect(folder / "bot.sqlite").close()
    (folder / "bot.sqlite").chmod(0o444)
    folder.chmod(0o555)
    try:
        code, lines = await run_bot(tmp_path, api, DATABASE_PATH=str(folder / "bot.sqlite"))
    finally:
        folder.chmod(0o755)
    assert code != 0 and "DATABASE_PATH" in error_line(lines)


async def test_revoked_token_at_start_exits_1_with_a_clear_line(tmp_path: Path, api: FakeBotApi) -> None:
    api.mode = "revoked"
    code, lines = await run_bot(tmp_path, api)
    assert code == 1
    line = error_line(lines)
    assert "TELEGRAM_BOT_TOKEN was refused by Telegram" in line and "401" in line
    assert TOKEN not in "\n".join(lines)


async def test_token_revoked_while_running_stops_the_bot(tmp_path: Path, api: FakeBotApi) -> None:
    """getUpdates answering 401 used to be retried for ever by aiogram's polling: a zombie."""
    api.revoke_after_updates = 2
    code, lines = await run_bot(tmp_path, api)
    assert code == 1
    assert "TELEGRAM_BOT_TOKEN was refused" in error_line(lines)
    assert api.calls.count("getUpdates") >= 3  # it really was running first


async def test_telegram_down_is_retried_then_reported(tmp_path: Path, api: FakeBotApi) -> None:
    """A transient failure (HTTP 500) is retried before giving up with a line naming the server."""
    api.mode = "down"
    code, lines = await run_bot(tmp_path, api)
    assert code == 1
    assert "TELEGRAM_API_BASE" in error_line(lines) and "after 3 attempts" in error_line(lines)
    assert api.calls.count("getMe") == 3
