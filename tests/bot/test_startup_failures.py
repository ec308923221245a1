"""`aitrader run` as a supervisor starts it (a real subprocess), against a local Bot API server: every
start-up failure prints one line naming what is wrong and exits non-zero within seconds (issue #12 items
3, 4, 8, 10) — it used to print the line and hang, the database's thread never closed."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
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


async def run_bot(tmp_path: Path, api: FakeBotApi, *, during: Callable[[], Awaitable[None]] | None = None,
                  command: tuple[str, ...] = ("run",), **env: str) -> tuple[int, list[str]]:
    """(exit code, non-empty stderr lines); fails the test when the process does not exit in time.
    `during` runs while the bot does (then the bot gets SIGTERM, as a supervisor stops it)."""
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
        sys.executable, "-m", "bot", *command, cwd=tmp_path, env=base,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    if during is not None:
        await during()
        proc.send_signal(signal.SIGTERM)
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


START_UP_FAILURES: list[tuple[dict[str, str], str]] = [
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
    ({"ARENA": "rules,magic"}, "ARENA: 'magic' is not one of"),
    ({"ARENA": "rules,llm:gpt-4o", "LLM_BASE_URL": "https://api.openai.com/v1", "LLM_API_KEY": ""}, "ARENA: llm:gpt-4o need"),
]


async def test_start_up_failure_is_one_line_and_a_prompt_exit(tmp_path: Path, api: FakeBotApi) -> None:
    """Each case in its own process and folder, three at a time (the waits overlap; the CPU is shared)."""
    gate = asyncio.Semaphore(3)

    async def one(i: int, env: dict[str, str], needle: str) -> str | None:
        folder = tmp_path / f"case{i}"
        folder.mkdir()
        env = {"DATABASE_PATH": str(folder / "bot.sqlite"), **env}
        async with gate:
            code, lines = await run_bot(folder, api, **env)
        if code == 0:
            return f"{env}: exit 0"
        try:
            line = error_line(lines)
        except AssertionError as error:
            return f"{env}: {error}"
        return None if needle in line else f"{env}: {line!r} does not name {needle}"

    problems = await asyncio.gather(*(one(i, env, needle) for i, (env, needle) in enumerate(START_UP_FAILURES)))
    assert not [p for p in problems if p], "\n".join(p for p in problems if p)


async def test_read_only_database_is_refused_naming_the_variable(tmp_path: Path, api: FakeBotApi) -> None:
    if os.geteuid() == 0:  # root writes through file permissions: a read-only mount
        from tests.storage.test_db import tmpfs

        with tmpfs(tmp_path / "ro") as mount:
            sqlite3.connect(mount / "bot.sqlite").close()
            await asyncio.to_thread(subprocess.run, ["mount", "-o", "remount,ro", str(mount)], check=True)
            code, lines = await run_bot(tmp_path, api, DATABASE_PATH=str(mount / "bot.sqlite"))
        assert code != 0 and "DATABASE_PATH" in error_line(lines) and "read-only" in error_line(lines)
        return
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


@pytest.mark.slow  # ~5 s measured
async def test_revoked_token_at_start_exits_1_with_a_clear_line(tmp_path: Path, api: FakeBotApi) -> None:
    api.mode = "revoked"
    code, lines = await run_bot(tmp_path, api)
    assert code == 1
    line = error_line(lines)
    assert "TELEGRAM_BOT_TOKEN was refused by Telegram" in line and "401" in line
    assert TOKEN not in "\n".join(lines)


async def test_a_token_of_no_bot_exits_1_with_a_clear_line(tmp_path: Path, api: FakeBotApi) -> None:
    api.mode = "unknown"
    code, lines = await run_bot(tmp_path, api)
    assert code == 1 and "TELEGRAM_BOT_TOKEN: no bot with this token" in error_line(lines)


@pytest.mark.slow  # ~5 s measured
async def test_token_revoked_while_running_stops_the_bot(tmp_path: Path, api: FakeBotApi) -> None:
    """getUpdates answering 401 used to be retried for ever by aiogram's polling: a zombie."""
    api.revoke_after_updates = 2
    code, lines = await run_bot(tmp_path, api)
    assert code == 1
    assert "TELEGRAM_BOT_TOKEN was refused" in error_line(lines)
    assert api.calls.count("getUpdates") >= 3  # it really was running first


@pytest.mark.slow  # ~7 s measured: the bot retries a Bot API that is down
async def test_telegram_down_is_retried_then_reported(tmp_path: Path, api: FakeBotApi) -> None:
    """A transient failure (HTTP 500) is retried before giving up with a line naming the server."""
    api.mode = "down"
    code, lines = await run_bot(tmp_path, api)
    assert code == 1
    assert "TELEGRAM_API_BASE" in error_line(lines) and "after 3 attempts" in error_line(lines)
    assert api.calls.count("getMe") == 3


async def test_a_passing_telegram_outage_is_retried_and_the_bot_stays_up(tmp_path: Path, api: FakeBotApi) -> None:
    async def outage() -> None:
        for _ in range(400):  # wait until it polls
            if api.calls.count("getUpdates") >= 2:
                break
            await asyncio.sleep(0.1)
        api.mode = "down"  # HTTP 500 for a while: aiogram backs off and retries
        await asyncio.sleep(3)
        api.mode = "ok"
        polled = api.calls.count("getUpdates")
        for _ in range(100):
            if api.calls.count("getUpdates") > polled:
                break
            await asyncio.sleep(0.1)

    code, lines = await run_bot(tmp_path, api, during=outage)
    assert code == 0, "\n".join(lines)  # stopped by SIGTERM, not by the outage
    assert not [line for line in lines if line.startswith("error: ")]


async def test_demo_start_up_failure_exits_too(tmp_path: Path, api: FakeBotApi) -> None:
    """A token without TELEGRAM_CHANNEL_ID: the demo printed the line and hung on the database thread."""
    demo = ("demo", "--data", str(sample_data_dir()), "--bars", "2", "--speed", "0")
    code, lines = await run_bot(tmp_path, api, command=demo, TELEGRAM_CHANNEL_ID="")
    assert code == 2 and "TELEGRAM_CHANNEL_ID is not set" in error_line(lines)
