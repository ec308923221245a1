"""End-to-end: `aitrader demo` with an arena — the rules engine posting, and rules plus two LLM contestants (the
OpenAI-compatible stand-in under two model aliases) trading their own paper books — against the Telegram
Bot API emulator. Channel posts come only from the primary engine, `/arena` answers with the standings and a
chart, and each contestant's book reconciles (final = initial + Σ net) in the demo's database."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_demo_emulator import (  # noqa: F401  (emulator is a fixture; emulator_dir comes from conftest)
    admin_command,
    admin_texts,
    channel_calls,
    demo_cmd,
    demo_env,
    emulator,
    is_entry,
    wait_for,
)
from tests.fakes.arena_models import arena_reply
from tests.fakes.openai_server import FakeOpenAIServer

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CONTESTANTS = ("rules", "llm:trader-long", "llm:trader-short")
INITIAL = 10_000.0


@pytest.fixture
def models() -> Iterator[FakeOpenAIServer]:
    server = FakeOpenAIServer().start()
    server.script(arena_reply)
    try:
        yield server
    finally:
        server.stop()


def test_demo_with_an_arena_posts_only_the_primary_and_answers_arena(
    emulator: str, models: FakeOpenAIServer, tmp_path: Path  # noqa: F811
) -> None:
    env = {**demo_env(emulator), "ENGINE": "rules", "ARENA": ",".join(CONTESTANTS), "LLM_BASE_URL": models.base_url,
           "LLM_MAX_RETRIES": "0", "INITIAL_EQUITY": str(INITIAL)}
    proc = subprocess.Popen(demo_cmd(tmp_path, bars=2000, speed=0.1), cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: any(is_entry(c["body"].get("caption", "")) for c in channel_calls(emulator, "sendPhoto")),
                 120, "the first entry post")
        time.sleep(3)  # a few more bars: every contestant has marks to chart
        admin_command(emulator, "/arena")

        def answered() -> bool:
            return any(c["method"] == "sendPhoto" and c["body"].get("caption", "").startswith("Arena")
                       for c in admin_texts(emulator))

        wait_for(answered, 60, "the /arena chart")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err

    standings = next(c["body"]["text"] for c in admin_texts(emulator)
                     if c["method"] == "sendMessage" and c["body"].get("text", "").startswith("<b>Arena</b>"))
    for name in CONTESTANTS:
        assert f"<b>{name}</b>" in standings
    assert "max DD" in standings and "win rate" in standings and "the channel posts only rules" in standings
    (chart,) = [c for c in admin_texts(emulator) if c["method"] == "sendPhoto"]
    assert next(iter(chart["files"].values()))["size"] > 20_000
    for name in CONTESTANTS:
        assert f"Arena {name}: equity" in out  # the demo's summary names every contestant

    with sqlite3.connect(tmp_path / "demo.sqlite") as db:
        primary = db.execute("SELECT COUNT(DISTINCT position_id), "
                             "COUNT(DISTINCT CASE WHEN side = 'long' THEN position_id END) FROM book_trades").fetchone()
        books = {}
        for name in CONTESTANTS:
            cash = float(db.execute("SELECT value FROM arena_meta WHERE contestant = ? AND key = 'cash'",
                                    (name,)).fetchone()[0])
            legs = db.execute("SELECT side, net_pnl, position_id FROM arena_trades WHERE contestant = ?",
                              (name,)).fetchall()
            still_open = db.execute("SELECT COUNT(*) FROM arena_positions WHERE contestant = ?", (name,)).fetchone()[0]
            books[name] = (cash, legs, still_open)

    # Only the primary posts: one channel entry per position of the bot's own book, of its sides.
    entries = [c["body"]["caption"] for c in channel_calls(emulator, "sendPhoto")
               if c["fault"] is None and is_entry(c["body"].get("caption", ""))]
    assert len(entries) == primary[0] and sum("LONG" in e for e in entries) == primary[1]
    assert {side for side, _, _ in books["llm:trader-long"][1]} == {"long"}
    assert {side for side, _, _ in books["llm:trader-short"][1]} == {"short"}
    contestant_positions = sum(len({p for _, _, p in legs}) for _, legs, _ in books.values())
    assert contestant_positions > 0
    for name, (cash, legs, still_open) in books.items():  # closed at the end; final = initial + Σ net
        assert still_open == 0, name
        assert cash == pytest.approx(INITIAL + sum(net for _, net, _ in legs), abs=1e-6), name
