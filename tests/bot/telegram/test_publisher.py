"""Publisher against aiogram's own request pipeline: a recording session answers like the Bot API
(real-shaped JSON through BaseSession.check_response), or with 429 / 400 / network errors on script."""

import json
from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import SendMessage, SendPhoto, TelegramMethod

from bot.telegram.publisher import ConsoleSender, Publisher, TelegramSender, post_parts
from core.clock import SimulatedClock
from core.services.outbox import MemoryOutbox, NewPost
from storage.outbox_repo import SqliteOutbox
from tests.storage.test_outbox_repo import open_db

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
TOKEN = "123456:SECRET-token-ABCdef"
CHANNEL = "-1001234567890"


class RecordingSession(BaseSession):
    """Records every call; `script` is a queue of outcomes: "ok", ("429", seconds), "400", "network"."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[TelegramMethod[Any]] = []
        self.accepted: list[tuple[int, TelegramMethod[Any]]] = []
        self.script: list[Any] = []
        self._next_id = 100

    async def make_request(self, bot: Bot, method: TelegramMethod[Any], timeout: int | None = None) -> Any:  # noqa: ASYNC109
        self.calls.append(method)
        outcome = self.script.pop(0) if self.script else "ok"
        if outcome == "network":
            raise TelegramNetworkError(method=method, message=f"Request timeout error for bot{bot.token}")
        if isinstance(outcome, tuple) and outcome[0] == "429":
            body = {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {outcome[1]}",
                "parameters": {"retry_after": outcome[1]},
            }
            return self.check_response(bot, method, 429, json.dumps(body))
        if outcome == "400":
            body = {"ok": False, "error_code": 400, "description": "Bad Request: can't parse entities"}
            return self.check_response(bot, method, 400, json.dumps(body))
        self._next_id += 1
        result: dict[str, Any] = {
            "message_id": self._next_id,
            "date": int(T0.timestamp()),
            "chat": {"id": int(method.chat_id), "type": "channel", "title": "signals"},
        }
        if isinstance(method, SendPhoto):
            result["photo"] = [{"file_id": "f", "file_unique_id": "u", "width": 1000, "height": 600}]
            result["caption"] = method.caption
        else:
            result["text"] = method.text
        self.accepted.append((self._next_id, method))
        return self.check_response(bot, method, 200, json.dumps({"ok": True, "result": result})).result

    async def close(self) -> None:
        pass

    async def stream_content(self, *args: Any, **kwargs: Any) -> AsyncGenerator[bytes, None]:
        yield b""


def make_bot() -> tuple[Bot, RecordingSession]:
    session = RecordingSession()
    return Bot(TOKEN, session=session), session


def entry(key: str = "entry:p1", chat: str = CHANNEL, text: str = "<b>LONG BTC</b>") -> NewPost:
    return NewPost(key, chat, "entry", text, T0, image=b"\x89PNG fake")


def exit_post(key: str = "exit:p1:tp1:1", reply: str = "entry:p1") -> NewPost:
    return NewPost(key, CHANNEL, "exit", "🎯 TP1 <b>+12.5 USDT</b>", T0, reply_to_key=reply)


async def test_entry_photo_then_exit_replies_to_it() -> None:
    bot, session = make_bot()
    outbox, clock = MemoryOutbox(), SimulatedClock(T0)
    publisher = Publisher(outbox, TelegramSender(bot), clock=clock)
    await outbox.enqueue(entry(text="<b>LONG</b>\n" + "reason line\n" * 300))
    await outbox.enqueue(exit_post())
    report = await publisher.drain()
    assert report.sent == 2 and report.keys == ["entry:p1", "exit:p1:tp1:1"]
    photo, *rest = session.calls
    assert isinstance(photo, SendPhoto) and photo.parse_mode == "HTML" and len(photo.caption) <= 1024
    assert all(isinstance(m, SendMessage) and len(m.text) <= 4096 for m in rest)
    entry_row = await outbox.get("entry:p1")
    reply = rest[-1]
    assert reply.reply_parameters.message_id == entry_row.message_id
    assert reply.reply_parameters.allow_sending_without_reply is True
    assert entry_row.status == "sent" and len(entry_row.message_ids) == len(session.calls) - 1


async def test_flood_control_delays_without_loss_or_duplication() -> None:
    bot, session = make_bot()
    outbox, clock = MemoryOutbox(), SimulatedClock(T0)
    publisher = Publisher(outbox, TelegramSender(bot), clock=clock)
    await outbox.enqueue(entry())
    await outbox.enqueue(exit_post())
    await outbox.enqueue(NewPost("alert:1:x:1", "42", "alert", "admin note", T0))
    session.script = [("429", 7)]
    report = await publisher.drain()
    assert (report.sent, report.delayed) == (1, 1)  # the admin chat is not held up by the channel
    held = await outbox.get("entry:p1")
    assert held.status == "pending" and held.next_attempt_at == T0 + timedelta(seconds=7)
    assert (await outbox.get("exit:p1:tp1:1")).status == "pending"  # waits behind its entry
    clock.advance(timedelta(seconds=6))
    assert (await publisher.drain()).sent == 0
    clock.advance(timedelta(seconds=1))
    assert (await publisher.drain()).sent == 2
    assert (await publisher.drain()).sent == 0
    channel_posts = [m for _, m in session.accepted if str(m.chat_id) == CHANNEL]
    assert [type(m) for m in channel_posts] == [SendPhoto, SendMessage]  # once each, in order
    assert channel_posts[1].reply_parameters.message_id == (await outbox.get("entry:p1")).message_id


async def test_network_error_backs_off_and_resumes_after_the_accepted_part() -> None:
    bot, session = make_bot()
    outbox, clock = MemoryOutbox(), SimulatedClock(T0)
    publisher = Publisher(outbox, TelegramSender(bot), clock=clock, base_backoff_s=2)
    long_text = "\n".join(f"line {i} " + "x" * 80 for i in range(80))  # two messages
    await outbox.enqueue(NewPost("daily:2024-03-01", CHANNEL, "daily", long_text, T0))
    session.script = ["ok", "network"]
    assert (await publisher.drain()).delayed == 1
    row = await outbox.get("daily:2024-03-01")
    assert len(row.message_ids) == 1 and row.next_attempt_at == T0 + timedelta(seconds=2)
    assert TOKEN not in row.last_error and "<bot-token>" in row.last_error
    session.script = ["network"]
    clock.advance(timedelta(seconds=2))
    await publisher.drain()
    assert (await outbox.get("daily:2024-03-01")).next_attempt_at == clock.now() + timedelta(seconds=4)
    clock.advance(timedelta(seconds=4))
    assert (await publisher.drain()).sent == 1
    texts = [m.text for _, m in session.accepted]
    assert len(texts) == 2 and "\n".join(texts) == long_text  # nothing lost, nothing repeated


async def test_bad_request_fails_the_post_alerts_admins_and_moves_on() -> None:
    bot, session = make_bot()
    outbox, clock = MemoryOutbox(), SimulatedClock(T0)
    alerts: list[str] = []

    async def alert(text: str) -> None:
        alerts.append(text)

    publisher = Publisher(outbox, TelegramSender(bot), clock=clock, on_failure=alert)
    await outbox.enqueue(entry())
    await outbox.enqueue(exit_post())
    session.script = ["400"]
    report = await publisher.drain()
    assert (report.failed, report.sent) == (1, 1)
    assert (await outbox.get("entry:p1")).status == "failed"
    assert len(alerts) == 1 and "entry:p1" in alerts[0] and "can't parse entities" in alerts[0]
    exit_call = session.accepted[-1][1]
    assert exit_call.reply_parameters is None  # its entry never made it: a plain post, not lost
    assert len(session.calls) == 2


async def test_restart_over_the_same_database_never_resends(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite"
    bot, session = make_bot()
    clock = SimulatedClock(T0)
    db = await open_db(path)
    outbox = SqliteOutbox(db)
    await outbox.enqueue(entry())
    await outbox.enqueue(exit_post())
    session.script = ["ok", ("429", 5)]
    await Publisher(outbox, TelegramSender(bot), clock=clock).drain()
    await db.close()  # the process dies here

    db = await open_db(path)
    outbox = SqliteOutbox(db)
    assert not await outbox.enqueue(entry())  # the cycle re-run after the crash enqueues nothing new
    publisher = Publisher(outbox, TelegramSender(bot), clock=clock)
    assert await publisher.recover() == []  # every hand-over was settled before the crash
    clock.advance(timedelta(seconds=5))
    assert (await publisher.drain()).keys == ["exit:p1:tp1:1"]
    assert (await publisher.drain()).sent == 0
    await db.close()
    photos = [m for _, m in session.accepted if isinstance(m, SendPhoto)]
    replies = [m for _, m in session.accepted if isinstance(m, SendMessage)]
    assert len(photos) == 1 and len(replies) == 1
    assert replies[0].reply_parameters.message_id == session.accepted[0][0]


async def test_recover_names_posts_interrupted_mid_send() -> None:
    outbox = MemoryOutbox()
    await outbox.enqueue(entry())
    row = await outbox.get("entry:p1")
    await outbox.mark_handed(row.id, T0)  # handed over, then the process died before any answer
    bot, _session = make_bot()
    publisher = Publisher(outbox, TelegramSender(bot), clock=SimulatedClock(T0))
    assert [p.dedupe_key for p in await publisher.recover()] == ["entry:p1"]
    assert (await publisher.drain()).sent == 1


async def test_kick_drains_in_the_background() -> None:
    bot, session = make_bot()
    outbox = MemoryOutbox()
    publisher = Publisher(outbox, TelegramSender(bot), clock=SimulatedClock(T0))
    await outbox.enqueue(entry())
    publisher.kick()
    await outbox.enqueue(exit_post())
    publisher.kick()
    await publisher.wait_idle()
    assert [p.status for p in await outbox.posts()] == ["sent", "sent"]
    assert len(session.accepted) == 2


async def test_console_sender_prints_and_writes_images(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outbox = MemoryOutbox()
    publisher = Publisher(outbox, ConsoleSender(tmp_path / "demo-out"), clock=SimulatedClock(T0))
    await outbox.enqueue(entry(text="<b>LONG BTC</b> &amp; more [not markup]"))
    await outbox.enqueue(exit_post())
    assert (await publisher.drain()).sent == 2
    out = capsys.readouterr().out
    assert "LONG BTC & more [not markup]" in out and "reply to #10" in out
    assert (tmp_path / "demo-out" / "1-entry.png").read_bytes() == b"\x89PNG fake"


async def test_console_sender_prints_emoji_codes_as_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An arena post names `llm:A` and `llm:B`: rich turned `:A:` into 🅰 on the console."""
    outbox = MemoryOutbox()
    publisher = Publisher(outbox, ConsoleSender(tmp_path / "demo-out"), clock=SimulatedClock(T0))
    await outbox.enqueue(NewPost("arena:1", CHANNEL, "arena", "<b>Arena</b> llm:A: +1% · llm:smile: −2%", T0))
    assert (await publisher.drain()).sent == 1
    assert "Arena llm:A: +1% · llm:smile: −2%" in capsys.readouterr().out


def test_parts_keep_caption_and_text_limits() -> None:
    from core.services.outbox import OutboxPost

    text = "<b>head</b>\n" + "\n".join("<i>" + "y" * 300 + "</i>" for _ in range(30))
    row = OutboxPost(1, "k", CHANNEL, "entry", text, b"png", None, None, "pending", 0, T0, (), T0)
    parts = post_parts(row)
    assert parts[0].image == b"png" and len(parts[0].text) <= 1024
    assert all(len(p.text) <= 4096 and p.image is None for p in parts[1:])
    assert "\n".join(p.text for p in parts) == text


async def test_a_post_that_can_never_go_fails_after_bounded_attempts_and_unblocks_its_chat(tmp_path: Path) -> None:
    # an image file that vanished: no retry can ever send it, yet it held its chat back forever
    outbox, clock = MemoryOutbox(), SimulatedClock(T0)
    alerts: list[str] = []

    async def alert(text: str) -> None:
        alerts.append(text)

    sender = ConsoleSender(tmp_path / "demo-out")
    publisher = Publisher(outbox, sender, clock=clock, on_failure=alert, max_backoff_s=60, max_attempts=5)
    await outbox.enqueue(
        NewPost("entry:p1", CHANNEL, "entry", "<b>LONG</b>", T0, image_path=str(tmp_path / "gone.png"))
    )
    await outbox.enqueue(NewPost("pulse:1", CHANNEL, "pulse", "<b>Pulse</b>", T0))
    for _ in range(5):
        await publisher.drain()
        clock.advance(timedelta(seconds=60))
    failed = await outbox.get("entry:p1")
    assert failed.status == "failed" and failed.attempts == 5 and "FileNotFoundError" in failed.last_error
    assert len(alerts) == 1 and "entry:p1" in alerts[0]
    assert (await outbox.get("pulse:1")).status == "sent"


async def test_network_errors_never_give_up_and_a_long_outage_does_not_break_the_drain() -> None:
    bot, session = make_bot()
    outbox, clock = MemoryOutbox(), SimulatedClock(T0)
    publisher = Publisher(outbox, TelegramSender(bot), clock=clock, max_attempts=5)
    await outbox.enqueue(entry())
    await outbox.enqueue(NewPost("alert:1:x:1", "42", "alert", "admin note", T0))
    row = await outbox.get("entry:p1")
    for _ in range(1100):  # days of outage: the backoff exponent must not overflow
        await outbox.mark_handed(row.id, T0)
    session.script = ["network"]
    report = await publisher.drain()
    assert (report.delayed, report.sent) == (1, 1)
    held = await outbox.get("entry:p1")
    assert held.status == "pending" and held.next_attempt_at == T0 + timedelta(seconds=300)


async def test_a_post_that_cannot_be_split_is_failed_not_fatal_to_the_drain() -> None:
    bot, session = make_bot()
    outbox, clock = MemoryOutbox(), SimulatedClock(T0)
    publisher = Publisher(outbox, TelegramSender(bot), clock=clock)
    # a caption of tags only: nothing visible to put under the photo
    await outbox.enqueue(NewPost("entry:p1", CHANNEL, "entry", "<b></b>", T0, image=b"\x89PNG fake"))
    await outbox.enqueue(NewPost("alert:1:x:1", "42", "alert", "admin note", T0))
    report = await publisher.drain()
    assert report.sent == 2 and (await outbox.get("alert:1:x:1")).status == "sent"
    assert isinstance(session.accepted[0][1], SendPhoto) and session.accepted[0][1].caption is None


async def test_retry_now_releases_network_backoffs_but_keeps_flood_control_waits() -> None:
    bot, session = make_bot()
    outbox, clock = MemoryOutbox(), SimulatedClock(T0)
    publisher = Publisher(outbox, TelegramSender(bot), clock=clock, base_backoff_s=2)
    await outbox.enqueue(NewPost("alert:1:down:1", "42", "alert", "Telegram unreachable", T0))
    await outbox.enqueue(entry())
    for _ in range(6):  # a long outage: the alert's backoff has grown to 64 s
        session.script = ["network", ("429", 90) if _ == 5 else "network"]
        clock.advance(timedelta(seconds=200))
        await publisher.drain()
    alert = await outbox.get("alert:1:down:1")
    flood = await outbox.get("entry:p1")
    assert alert.next_attempt_at == clock.now() + timedelta(seconds=64)
    assert flood.next_attempt_at == clock.now() + timedelta(seconds=90)
    assert await publisher.retry_now() == 1  # Telegram is back
    await publisher.wait_idle()
    assert (await outbox.get("alert:1:down:1")).status == "sent"
    assert (await outbox.get("entry:p1")).next_attempt_at == flood.next_attempt_at  # the 429's wait stands
    assert await publisher.retry_now() == 0
