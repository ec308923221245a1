"""Every position the channel announced gets its closing reply, also when an admin closed it from chat
(it used to get none: ControlService.close_position did not announce). Through aiogram's real dispatch,
the real ChannelNotifier, outbox and Publisher, with the bot's calls recorded by the in-process session."""

from __future__ import annotations

from aiogram import Bot

from bot.app import build_dispatcher
from bot.telegram.notifier import ChannelNotifier, entry_key
from bot.telegram.publisher import Publisher, TelegramSender
from core.services.outbox import MemoryOutbox, NewPost
from handlers.rate_limit import RateLimiter
from tests.handlers.conftest import TOKEN, FakeCharts
from tests.handlers.control_fakes import NOW, FakeBroker, FixedClock, build_control, position
from tests.handlers.tg_session import ADMIN_ID, RecordingSession, callback_update, command_update

CHANNEL = "-100777"


async def _setup() -> tuple:
    session = RecordingSession()
    bot = Bot(token=TOKEN, session=session)
    outbox = MemoryOutbox()
    publisher = Publisher(outbox, TelegramSender(bot), clock=FixedClock())
    notifier = ChannelNotifier(outbox, channel_id=CHANNEL, admin_ids=(ADMIN_ID,), clock=FixedClock())
    broker = FakeBroker(open_positions=[position("BTC/USDT:USDT"), position("ETH/USDT:USDT"),
                                        position("SOL/USDT:USDT")])
    control = build_control(broker=broker, notifier=notifier)
    # the entry posts the channel already carries
    for p in broker.open_positions:
        await outbox.enqueue(NewPost(entry_key(p.id), CHANNEL, "entry", f"LONG {p.symbol}", NOW))
    await publisher.drain()
    dp = build_dispatcher(rate_limiter=RateLimiter(limit=1000, window_s=60), control=control,
                          admin_ids=frozenset({ADMIN_ID}), charts=FakeCharts(), pulse_now=None, notifier=notifier)
    return session, bot, dp, publisher, outbox


def _replies(session: RecordingSession) -> list[tuple[int, str]]:
    return [(c.params["reply_parameters"]["message_id"], c.params["text"]) for c in session.named("SendMessage")
            if str(c.params["chat_id"]) == CHANNEL and c.params.get("reply_parameters")]


async def test_close_and_closeall_reply_to_each_entry_once() -> None:
    session, bot, dp, publisher, outbox = await _setup()
    entry_ids = {p.dedupe_key.split(":", 1)[1]: p.message_id for p in await outbox.posts("entry")}

    await dp.feed_update(bot, command_update("/close BTC/USDT:USDT", ADMIN_ID))
    await dp.feed_update(bot, command_update("/closeall", ADMIN_ID))
    markup = session.named("SendMessage")[-1].params["reply_markup"]
    token = markup["inline_keyboard"][0][0]["callback_data"]
    await dp.feed_update(bot, callback_update(token, ADMIN_ID, chat_id=ADMIN_ID))
    await publisher.drain()

    replies = _replies(session)
    assert sorted(target for target, _ in replies) == sorted(entry_ids.values()), "one closing reply per entry"
    for target, text in replies:
        symbol = next(pid for pid, mid in entry_ids.items() if mid == target).removeprefix("p-").split(":")[0]
        assert symbol in text and "Closed manually" in text and "P&amp;L" in text
    # a re-announce (start-up recovery) finds every close announced: nothing new
    await bot.session.close()
