"""Issue #12 item 6: every reply within Telegram's limits, quoted input cut, admin alerts escaped once and
rate-limited. The recording session refuses what Telegram refuses (text > 4096, caption > 1024)."""

from __future__ import annotations

from aiogram import Bot
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.telegram.post_format import alert_text
from bot.telegram.reply_limits import MAX_PARTS, install_reply_limits
from jobs.failures import AlertThrottle
from tests.handlers.conftest import TOKEN, Harness
from tests.handlers.tg_session import ADMIN_ID, USER_ID, RecordingSession, command_update

LIMIT = 4096


async def replies(h: Harness, text: str, user_id: int) -> list[str]:
    h.session.clear()
    await h.dp.feed_update(h.bot, command_update(text, user_id))
    return h.session.texts()


async def test_a_10kb_why_gets_a_bounded_reply_and_no_alert(harness: Harness) -> None:
    texts = await replies(harness, "/why " + "A" * 10_000, USER_ID)
    assert len(texts) == 1 and len(texts[0]) < 300 and "No signal with id AAAA" in texts[0] and "…" in texts[0]
    assert harness.notifier.alerts == []


async def test_an_error_quoting_huge_input_is_cut(harness: Harness) -> None:
    for command in ("/leverage " + "9" * 10_000, "/audit " + "9" * 10_000, "/dryrun " + "x" * 10_000,
                    "/stats " + "y" * 10_000, "/symbols add " + "Q/" * 5_000):
        texts = await replies(harness, command, ADMIN_ID)
        assert len(texts) == 1 and len(texts[0]) <= 700, command
    assert harness.notifier.alerts == []


async def test_audit_200_is_split_into_messages_within_the_limit(harness: Harness) -> None:
    for i in range(100):
        await harness.control.pause("tg:1001", f"maintenance window number {i} " + "z" * 150)
        await harness.control.resume("tg:1001")
    texts = await replies(harness, "/audit 200", ADMIN_ID)
    assert len(texts) >= 2 and all(len(t) <= LIMIT for t in texts)
    assert "Audit" in texts[0] and harness.notifier.alerts == []
    assert sum(t.count("pause") for t in texts) >= 100  # nothing lost in the split


async def test_any_long_reply_is_split_keyboard_on_the_last_part() -> None:
    session = RecordingSession()
    bot = install_reply_limits(Bot(token=TOKEN, session=session))
    keyboard = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="ok", callback_data="x")]])
    await bot.send_message(1, "\n".join(f"<b>line {i}</b> " + "w" * 80 for i in range(120)), reply_markup=keyboard)
    sent = session.named("SendMessage")
    assert len(sent) == 3 and all(len(c.params["text"]) <= LIMIT for c in sent)
    assert [("reply_markup" in c.params) for c in sent] == [False, False, True]

    session.clear()
    await bot.send_message(1, "\n".join("v" * 100 for _ in range(1000)))  # 100 kB: bounded, not 25 messages
    sent = session.named("SendMessage")
    assert len(sent) == MAX_PARTS and "cut" in sent[-1].params["text"]


async def test_handler_error_alert_is_escaped_once(harness: Harness) -> None:
    async def broken_pulse() -> None:
        raise RuntimeError("<b>boom</b> & co")

    harness.dp["pulse_now"] = broken_pulse
    await replies(harness, "/pulse", ADMIN_ID)
    (alert,) = harness.notifier.alerts
    assert "<b>boom</b> & co" in alert and "&lt;" not in alert and "<code>" not in alert  # plain text ...
    assert "&lt;b&gt;boom&lt;/b&gt; &amp; co" in alert_text(alert)  # ... escaped once where it is posted
    assert "&amp;lt;" not in alert_text(alert)


async def test_admin_alerts_are_rate_limited_and_the_rest_counted() -> None:
    sent: list[str] = []
    now = [0.0]

    async def send(text: str) -> None:
        sent.append(text)

    throttle = AlertThrottle(send, limit=5, window_s=600, clock=lambda: now[0])
    for i in range(20):  # a non-admin triggering handler errors
        now[0] = i * 3.0
        await throttle(f"handler error {i}")
    assert sent == [f"handler error {i}" for i in range(5)]
    now[0] = 700.0
    await throttle("cycle failed")
    assert sent[-1].startswith("cycle failed") and "15 earlier alert(s) held back" in sent[-1]
