"""Public commands through aiogram's real dispatch (Dispatcher.feed_update + a recording session)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from aiogram import Bot, Dispatcher
from aiogram.types import Chat, Message, MessageEntity, Update, User

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




# ---- issue #12 items 12–14 -----------------------------------------------------------------------------

def group_update(text: str, user_id: int | None, chat_id: int = -100555) -> Update:
    """A group message; `user_id=None` is a message without `from` (sent as the chat, e.g. an anonymous admin)."""
    command = text.split()[0]
    chat = Chat(id=chat_id, type="supergroup", title="traders")
    return Update(
        update_id=next(_ids),
        message=Message(
            message_id=next(_ids), date=datetime.now(UTC), chat=chat, text=text,
            from_user=User(id=user_id, is_bot=False, first_name="u") if user_id is not None else None,
            sender_chat=chat if user_id is None else None,
            entities=[MessageEntity(type="bot_command", offset=0, length=len(command))],
        ),
    )


_ids = itertools.count(10_000)


def limited(limit: int, clock: list[float]) -> tuple[Dispatcher, Bot, RecordingSession]:
    session = RecordingSession()
    bot = Bot(token=TOKEN, session=session)
    dp = build_dispatcher(
        rate_limiter=RateLimiter(limit=limit, window_s=60, clock=lambda: clock[0]),
        control=build_control(), admin_ids=frozenset({ADMIN_ID}), charts=FakeCharts(),
    )
    return dp, bot, session


async def test_commands_for_another_bot_are_ignored_in_a_group(harness: Harness) -> None:
    for text in ("/start@OtherBot", "/help@OtherBot", "/status@OtherBot", "/nonsense@OtherBot"):
        harness.session.clear()
        await harness.dp.feed_update(harness.bot, group_update(text, USER_ID))
        assert not harness.session.named("SendMessage"), text
    await harness.dp.feed_update(harness.bot, group_update("/help@aitrader_test_bot", USER_ID))
    assert "Commands" in harness.session.last_text()  # our own name still works
    harness.session.clear()
    await harness.dp.feed_update(harness.bot, group_update("/nonsense@AITRADER_TEST_BOT", USER_ID))
    assert "I don't know that command" in harness.session.last_text()


async def test_a_message_without_from_is_rate_limited() -> None:
    clock = [0.0]
    dp, bot, session = limited(2, clock)
    for _ in range(5):
        await dp.feed_update(bot, group_update("/help", None))
    texts = session.texts()
    assert len(texts) == 3 and "Too many requests" in texts[2]


async def test_admins_are_never_throttled_by_the_public_limit() -> None:
    clock = [0.0]
    dp, bot, session = limited(1, clock)
    for _ in range(10):
        await dp.feed_update(bot, command_update("/help", ADMIN_ID))
    assert len(session.texts()) == 10 and not any("Too many" in t for t in session.texts())


async def test_a_throttled_user_gets_one_notice_per_window_not_silence() -> None:
    clock = [0.0]
    dp, bot, session = limited(1, clock)
    for second in (0, 1, 2, 30):  # one answer, one notice, silence within the window
        clock[0] = second
        await dp.feed_update(bot, command_update("/help", USER_ID))
    assert [("Too many" in t) for t in session.texts()] == [False, True]
    session.clear()
    for second in (61, 62):  # a new window: an answer again, and a notice again when over
        clock[0] = second
        await dp.feed_update(bot, command_update("/help", USER_ID))
    clock[0] = 63.0
    await dp.feed_update(bot, command_update("/help", USER_ID))
    assert [("Too many" in t) for t in session.texts()] == [False, True]
