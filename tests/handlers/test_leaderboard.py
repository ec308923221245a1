"""/leaderboard: admins see the recorded strategy versions ranked, and which one the channel runs."""

from __future__ import annotations

import re

from core.evaluation.leaderboard import LeaderboardResult
from tests.handlers.conftest import Harness
from tests.handlers.test_admin import send
from tests.handlers.tg_session import ADMIN_ID


def result(version: str, sharpe: float | None, ret: float) -> LeaderboardResult:
    return LeaderboardResult(
        version=version, engine="rules", model=None, source="replay", symbols=("BTC/USDT:USDT",),
        window=("2023-01-01T00:00:00Z", "2024-05-14T00:00:00Z"), oos=False, trades=12, total_return_pct=ret,
        sharpe=sharpe, max_drawdown_pct=9.5, profit_factor=1.3,
    )


async def test_leaderboard_ranks_by_sharpe_and_marks_the_live_version(harness: Harness) -> None:
    assert harness.leaderboard is not None
    await harness.leaderboard.record(result("aaaaaaaaaa", 0.4, 5.0))
    await harness.leaderboard.record(result("0123456789", 1.1, 3.0))
    await harness.leaderboard.record(result("bbbbbbbbbb", None, 50.0))
    text = re.sub(r"<[^>]+>", "", await send(harness, "/leaderboard", ADMIN_ID))
    lines = text.splitlines()
    assert "Channel runs: 0123456789" in text
    order = [v for line in lines for v in ("0123456789", "aaaaaaaaaa", "bbbbbbbbbb") if line.startswith(("1.", "2.", "3.")) and v in line]
    assert order == ["0123456789", "aaaaaaaaaa", "bbbbbbbbbb"]  # no Sharpe ranks last
    assert "◀ live" in lines[2] and "Sharpe 1.10" in text and "+3.0 %" in text


async def test_leaderboard_says_when_nothing_is_recorded(harness: Harness) -> None:
    assert "No results recorded yet" in await send(harness, "/leaderboard", ADMIN_ID)


async def test_leaderboard_is_for_admins_only(harness: Harness) -> None:
    assert "admins only" in await send(harness, "/leaderboard", 999)
