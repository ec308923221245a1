"""Public commands through aiogram's real dispatch (Dispatcher.feed_update + a recording session)."""

from __future__ import annotations

from aiogram import Bot

from bot.app import build_dispatcher
from core.models import Action, Decision, DecisionRecord, GuardVerdict
from core.protocols import CycleRecord
from handlers.rate_limit import RateLimiter
from tests.handlers.conftest import TOKEN, FakeCharts, Harness
from tests.handlers.control_fakes import NOW, build_control
from tests.handlers.tg_session import ADMIN_ID, USER_ID, RecordingSession, command_update


async def send(h: Harness, text: str, user_id: int = USER_ID) -> str:
    h.session.clear()
    await h.dp.feed_update(h.bot, command_update(text, user_id))
    return h.session.last_text()


async def test_start_and_help_show_admin_commands_only_to_admins(harness: Harness) -> None:
    text = await send(harness, "/start")
    assert "AI Trader" in text and "/chart" in text and "/leverage" not in text
    assert "/stats" in await send(harness, "/help")
    assert "/leverage" not in await send(harness, "/help")
    assert "/leverage" in await send(harness, "/help", user_id=ADMIN_ID)


async def test_unknown_command_gets_help(harness: Harness) -> None:
    text = await send(harness, "/moon")
    assert "don't know that command" in text and "/chart" in text
    assert "don't know" in await send(harness, "/moon", user_id=ADMIN_ID)


async def test_chart_sends_an_image(harness: Harness) -> None:
    await send(harness, "/chart btc/usdt:usdt 4h")
    photo = harness.session.named("SendPhoto")
    assert len(photo) == 1 and photo[0].params["caption"] == "BTC/USDT:USDT 4h"
    assert harness.charts.drawn == [("BTC/USDT:USDT", "4h")]
    await send(harness, "/chart ETH/USDT:USDT")
    assert harness.charts.drawn[-1] == ("ETH/USDT:USDT", "1h")


async def test_chart_bad_arguments(harness: Harness) -> None:
    assert "takes a symbol" in await send(harness, "/chart")
    assert "no data for NOPE/USDT:USDT" in await send(harness, "/chart NOPE/USDT:USDT")
    assert "timeframe must be" in await send(harness, "/chart BTC/USDT:USDT 7m")
    assert harness.session.named("SendPhoto") == []


async def test_stats_text_and_equity_chart(harness: Harness) -> None:
    await send(harness, "/stats 7d")
    photo = harness.session.named("SendPhoto")
    assert len(photo) == 1
    caption = photo[0].params["caption"]
    assert "Track record (7d)" in caption and "Trades: 0" in caption
    assert harness.charts.drawn == [("equity", "49")]
    await send(harness, "/stats")
    assert "Track record (30d)" in harness.session.named("SendPhoto")[0].params["caption"]
    assert "7d, 30d or all" in await send(harness, "/stats forever")


async def test_why_explains_a_signal(harness: Harness) -> None:
    decision = Decision(action=Action.HOLD, confidence=0.3, reasoning="RSI <b>mid</b>, trend flat")
    await harness.log.record_cycle(
        CycleRecord(
            cycle_id="2024-03-01T12", symbol="BTC/USDT:USDT", as_of=NOW, snapshot=None,
            record=DecisionRecord(status="ok", engine="rules", model="rules-v1", attempts=1, decision=decision),
            verdict=GuardVerdict(approved=False, intent=None, reason="not_entry", detail="hold"),
            signal_id="2024-03-01T12-BTC",
        )
    )
    text = await send(harness, "/why 2024-03-01T12-BTC")
    assert "rules / rules-v1" in text and "hold" in text and "not_entry" in text
    assert "RSI &lt;b&gt;mid&lt;/b&gt;" in text  # HTML escaped
    assert "No signal with id" in await send(harness, "/why nope")
    assert "one signal id" in await send(harness, "/why")


async def test_public_commands_are_rate_limited_per_user() -> None:
    session = RecordingSession()
    bot = Bot(token=TOKEN, session=session)
    dp = build_dispatcher(
        rate_limiter=RateLimiter(limit=3, window_s=60, clock=lambda: 0.0),
        control=build_control(), admin_ids=frozenset({ADMIN_ID}), charts=FakeCharts(),
    )
    for _ in range(6):
        await dp.feed_update(bot, command_update("/help", USER_ID))
    texts = session.texts()
    assert len(texts) == 4  # three answers and one notice, then silence
    assert "Too many requests" in texts[3]
    session.clear()
    await dp.feed_update(bot, command_update("/help", USER_ID + 1))  # another user is not affected
    assert "Commands" in session.last_text()
    session.clear()
    await dp.feed_update(bot, command_update("/status", ADMIN_ID))  # admin commands are not limited
    await dp.feed_update(bot, command_update("/status", ADMIN_ID))
    assert all("Paused: no" in t for t in session.texts()) and len(session.texts()) == 2


def test_rate_limiter_window_slides() -> None:
    now = [0.0]
    limiter = RateLimiter(limit=2, window_s=10, clock=lambda: now[0])
    assert limiter.allow(1) and limiter.allow(1) and not limiter.allow(1)
    now[0] = 10.0
    assert limiter.allow(1)


