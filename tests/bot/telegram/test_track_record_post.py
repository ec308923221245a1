"""The pinned track record reaches Telegram as one photo, pinned, then edited in place (editMessageMedia) —
through aiogram's serialisation with the in-process recording session."""

from __future__ import annotations

from datetime import UTC, datetime

from aiogram import Bot

from bot.telegram.notifier import ChannelNotifier
from bot.telegram.publisher import Publisher, TelegramSender
from core.clock import SimulatedClock
from core.services.outbox import MemoryOutbox
from core.services.summaries import TrackRecordCard
from tests.handlers.conftest import TOKEN
from tests.handlers.tg_session import RecordingSession

T = datetime(2024, 3, 5, 12, tzinfo=UTC)
EQUITY = [(datetime(2024, 3, d, tzinfo=UTC), 10_000.0 + 40 * d) for d in range(1, 6)]


def card(positions: int, wins: int, net: float) -> TrackRecordCard:
    return TrackRecordCard(since=datetime(2024, 3, 1, tzinfo=UTC), as_of=T, positions=positions, wins=wins,
                           net_pnl=net, pnl_pct=net / 100, max_drawdown_pct=1.25, equity=10_000 + net)


async def test_posted_pinned_then_edited_in_place() -> None:
    session = RecordingSession()
    bot = Bot(token=TOKEN, session=session)
    outbox = MemoryOutbox()
    notifier = ChannelNotifier(outbox, channel_id="-100777", clock=SimulatedClock(T))
    publisher = Publisher(outbox, TelegramSender(bot), clock=SimulatedClock(T))

    assert await notifier.track_record(card(2, 1, 28.0), EQUITY)
    await publisher.drain()
    (photo,) = session.named("SendPhoto")
    (pin,) = session.named("PinChatMessage")
    pinned_id = (await outbox.get("record:pinned")).message_id
    assert pin.params["message_id"] == pinned_id and pin.params["disable_notification"] is True
    assert "Positions closed: 2 (1 won, 1 lost) · win rate 50%" in photo.params["caption"]

    assert await notifier.track_record(card(3, 2, 61.5), EQUITY)
    await publisher.drain()
    (edit,) = session.named("EditMessageMedia")
    assert edit.params["message_id"] == pinned_id and len(session.named("SendPhoto")) == 1
    assert edit.params["media"]["type"] == "photo" and "Positions closed: 3 (2 won" in edit.params["media"]["caption"]
    assert not await notifier.track_record(card(3, 2, 61.5), EQUITY), "an unchanged record is not re-sent"
    await bot.session.close()
