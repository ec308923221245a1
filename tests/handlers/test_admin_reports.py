"""freqtrade's report commands for admins, through aiogram's real dispatch and the recording session."""

from __future__ import annotations

from datetime import timedelta

import pytest
from aiogram import Bot

from bot.app import build_dispatcher
from bot.recent_logs import RecentLogs
from core.models import ClosedTrade
from core.services.ledger import LedgerReports
from handlers.rate_limit import RateLimiter
from tests.handlers.conftest import TOKEN, FakeCharts
from tests.handlers.control_fakes import NOW, FakeBroker, FakeHistory, FixedClock, build_control, position
from tests.handlers.tg_session import ADMIN_ID, USER_ID, RecordingSession, command_update


def leg(pid: str, symbol: str, hours_ago: float, net: float, reason: str = "stop") -> ClosedTrade:
    t = NOW - timedelta(hours=hours_ago)
    return ClosedTrade(pid, symbol, "long", t - timedelta(hours=5), 100.0, t, 101.0, 1.0, 3, 95.0, reason,
                       net + 1, 1.0, 0.0, net)


LEGS = [
    leg("a", "BTC/USDT:USDT", 30, 80.0, "tp1"), leg("a", "BTC/USDT:USDT", 26, -5.0, "breakeven"),  # one win
    leg("b", "ETH/USDT:USDT", 3, -40.0),
    leg("c", "BTC/USDT:USDT", 2, 25.0, "tp1"),  # TP1 of a position still open: a leg, not a closed position
]


async def _run(text: str, user: int = ADMIN_ID, **deps: object) -> str:
    session = RecordingSession()
    bot = Bot(token=TOKEN, session=session)
    open_c = position("BTC/USDT:USDT")
    open_c.id = "c"
    broker = FakeBroker(open_positions=[open_c])
    history = FakeHistory(trades=list(LEGS))
    control = build_control(broker=broker)
    logs = RecentLogs()
    logs.emit(__import__("logging").LogRecord("x", 20, "f", 1, "cycle done token=%s", ("***",), None))
    dp = build_dispatcher(
        rate_limiter=RateLimiter(limit=1000, window_s=60), control=control, admin_ids=frozenset({ADMIN_ID}),
        charts=FakeCharts(), pulse_now=None, notifier=None,
        reports=LedgerReports(history=history, broker=broker, clock=FixedClock()),
        version_view=lambda: "AI Trader 0.1.0", logs_view=logs.last,
        config_view=lambda: {"TELEGRAM_BOT_TOKEN": "*** (set)", "SYMBOLS": "BTC/USDT:USDT"},
        health_view=lambda: _async("<b>Health</b>\nScheduler: running"), **deps,
    )
    await dp.feed_update(bot, command_update(text, user))
    await bot.session.close()
    return session.last_text()


async def _async(value: str) -> str:
    return value


async def test_profit_counts_positions_not_legs() -> None:
    text = await _run("/profit")
    assert "Positions closed: 2 (1 won, 1 lost) · win rate 50%" in text
    assert "Realised P&amp;L: <b>+60.00</b>" in text  # every leg, the open position's TP1 too
    week = await _run("/profit 1")
    assert "last 1 day(s)" in week and "Positions closed: 1 (0 won, 1 lost)" in week


async def test_performance_daily_trades_count_balance() -> None:
    perf = await _run("/performance")
    assert perf.index("BTC/USDT: +75.00") < perf.index("ETH/USDT: -40.00")
    daily = await _run("/daily 3")
    assert "2024-03-01: -15.00 USDT · 2 position(s)" not in daily  # today's legs: -40 and +25
    assert "2024-03-01: -15.00 USDT · 1 position(s), 0 won" in daily and "2024-02-29: +75.00 USDT · 1 position(s)" in daily
    assert daily.count("\n") == 3
    trades = await _run("/trades 5")
    assert trades.count("•") == 2 and "ETH/USDT long: -40.00 USDT · held 5 h" in trades
    assert "1 of at most 3" in await _run("/count")
    assert "Equity: <code>10,250.00</code>" in await _run("/balance")
    assert "P&amp;L" in await _run("/monthly") and "Weekly" in await _run("/weekly 2")


@pytest.mark.parametrize("text", ["/trades abc", "/daily 0", "/profit -3", "/logs 1000"])
async def test_bad_counts_say_what_is_allowed(text: str) -> None:
    assert "whole number" in await _run(text) or "count from 1 to 100" in await _run(text)


async def test_bot_commands_and_non_admins() -> None:
    assert await _run("/version") == "AI Trader 0.1.0"
    assert "Scheduler: running" in await _run("/health")
    logs = await _run("/logs 5")
    assert "cycle done token=***" in logs and "<pre>" in logs
    config = await _run("/show_config")
    assert "TELEGRAM_BOT_TOKEN: <code>*** (set)</code>" in config
    assert "admins only" in await _run("/balance", user=USER_ID)
    assert "admins only" in await _run("/show_config", user=USER_ID)


async def test_stopentry_is_pause_and_says_positions_stay_managed() -> None:
    text = await _run("/stopentry")
    assert "Paused: yes" in text and "Open positions are still managed" in text


async def test_help_groups_admin_commands_by_purpose() -> None:
    text = await _run("/help")
    for group in ("<b>Trading</b>", "<b>Results</b>", "<b>Settings</b>", "<b>The bot</b>"):
        assert group in text
    assert "/stopentry — the same as /pause" in text and "/profit [days] — P&amp;L, win rate" in text
    public = await _run("/help", user=USER_ID)
    assert "<b>Results</b>" not in public and "/chart" in public
