"""Admin commands through aiogram's real dispatch (Dispatcher.feed_update + a recording session)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.telegram import reply_format as fmt
from core.errors import UserInputError
from handlers.errors import POLITE_FAILURE
from tests.handlers.conftest import Harness
from tests.handlers.control_fakes import DEFAULTS
from tests.handlers.tg_session import ADMIN_ID, OTHER_ADMIN_ID, USER_ID, callback_update, command_update


async def send(h: Harness, text: str, user_id: int = ADMIN_ID) -> str:
    h.session.clear()
    await h.dp.feed_update(h.bot, command_update(text, user_id))
    return h.session.last_text()


async def press(h: Harness, data: str, user_id: int) -> str:
    h.session.clear()
    await h.dp.feed_update(h.bot, callback_update(data, user_id, chat_id=ADMIN_ID))
    return h.session.last_text()


def button_data(h: Harness) -> list[str]:
    markup = h.session.named("SendMessage")[-1].params["reply_markup"]
    return [b["callback_data"] for row in markup["inline_keyboard"] for b in row]


async def test_status_has_the_contract_lines(harness: Harness) -> None:
    text = await send(harness, "/status")
    lines = text.splitlines()
    for expected in ("Paused: no", "Dry-run: on", "Max leverage: 5", "Symbols: BTC/USDT:USDT, ETH/USDT:USDT"):
        assert expected in lines, text
    assert "Equity: 10,250.00" in text
    assert "low_confidence 5" in text


async def test_pause_and_resume_change_state_and_audit(harness: Harness) -> None:
    text = await send(harness, "/pause volatile news")
    assert "Paused: yes" in text.splitlines()
    state = await harness.control.state()
    assert state.paused and state.pause_reason == "volatile news"
    assert "Paused: yes" in (await send(harness, "/status")).splitlines()
    text = await send(harness, "/resume")
    assert "Paused: no" in text.splitlines()
    assert not (await harness.control.state()).paused
    actions = [(e.actor, e.action) for e in await harness.control.audit()]
    assert actions == [(f"tg:{ADMIN_ID}", "resume"), (f"tg:{ADMIN_ID}", "pause")]


@pytest.mark.parametrize("arg", ["abc", "0", "1000", "2.5", "-3"])
async def test_bad_leverage_is_refused_and_changes_nothing(harness: Harness, arg: str) -> None:
    text = await send(harness, f"/leverage {arg}")
    assert "leverage must be a whole number from 1 to 20" in text
    assert arg in text
    assert (await harness.control.state()) == DEFAULTS
    assert await harness.control.audit() == []


async def test_leverage_shows_and_sets(harness: Harness) -> None:
    text = await send(harness, "/leverage")
    assert "Max leverage: 5" in text and "1 to 20" in text
    text = await send(harness, "/leverage 7")
    assert "Max leverage: 7" in text.splitlines()
    assert (await harness.control.state()).max_leverage == 7


async def test_unknown_symbol_is_refused_and_changes_nothing(harness: Harness) -> None:
    text = await send(harness, "/symbols add NOPE/USDT:USDT")
    assert "unknown symbol NOPE/USDT:USDT" in text
    assert "BTC/USDT:USDT" in text  # says what is allowed
    assert (await harness.control.state()).symbols == DEFAULTS.symbols
    assert await harness.control.audit() == []


async def test_symbols_show_add_remove(harness: Harness) -> None:
    assert "Symbols: BTC/USDT:USDT, ETH/USDT:USDT" in await send(harness, "/symbols")
    text = await send(harness, "/symbols add SOL/USDT:USDT ltc/usdt:usdt")
    assert "Symbols: BTC/USDT:USDT, ETH/USDT:USDT, SOL/USDT:USDT, LTC/USDT:USDT" in text.splitlines()
    text = await send(harness, "/symbols remove ETH/USDT:USDT")
    assert "Symbols: BTC/USDT:USDT, SOL/USDT:USDT, LTC/USDT:USDT" in text.splitlines()
    text = await send(harness, "/symbols swap BTC/USDT:USDT")
    assert "add or remove" in text
    text = await send(harness, "/symbols remove DOGE/USDT:USDT")
    assert "not traded" in text
    audited = len(await harness.control.audit())
    text = await send(harness, "/symbols add btc/usdt:usdt")
    assert "already traded, nothing changed" in text and len(await harness.control.audit()) == audited
    assert (await harness.control.state()).symbols == ("BTC/USDT:USDT", "SOL/USDT:USDT", "LTC/USDT:USDT")


async def test_dryrun_show_on_and_bad_argument(harness: Harness) -> None:
    assert "Dry-run: on" in await send(harness, "/dryrun")
    assert "Dry-run: on" in (await send(harness, "/dryrun on")).splitlines()
    text = await send(harness, "/dryrun maybe")
    assert "on or off" in text
    assert (await harness.control.state()).dry_run


async def test_dryrun_off_needs_the_same_admin_to_confirm(harness: Harness) -> None:
    text = await send(harness, "/dryrun off")
    assert "Confirm" in text and "expires" in text
    confirm, cancel = button_data(harness)
    assert confirm.startswith("cf:") and cancel.startswith("cx:")
    assert (await harness.control.state()).dry_run  # nothing yet

    answer = await press(harness, confirm, OTHER_ADMIN_ID)
    assert "only the admin who asked" in answer
    assert (await harness.control.state()).dry_run

    answer = await press(harness, confirm, USER_ID)
    assert "Only admins" in answer
    assert (await harness.control.state()).dry_run

    await press(harness, confirm, ADMIN_ID)
    assert not (await harness.control.state()).dry_run
    edited = harness.session.named("EditMessageText")
    assert edited and "dry-run is off" in edited[-1].params["text"]
    assert "Dry-run: off" in (await send(harness, "/status")).splitlines()

    answer = await press(harness, confirm, ADMIN_ID)  # a token is used once
    assert "unknown or already used" in answer


async def test_confirmation_expires(harness: Harness) -> None:
    await send(harness, "/dryrun off")
    confirm, _ = button_data(harness)
    harness.clock.moment += timedelta(seconds=121)
    answer = await press(harness, confirm, ADMIN_ID)
    assert "expired" in answer
    assert (await harness.control.state()).dry_run


async def test_cancel_only_by_the_asker(harness: Harness) -> None:
    await send(harness, "/closeall")
    _, cancel = button_data(harness)
    assert "Only the admin who asked" in await press(harness, cancel, OTHER_ADMIN_ID)
    assert "Cancelled" in await press(harness, cancel, ADMIN_ID)
    assert len(harness.broker.open_positions) == 1


async def test_going_live_refused_with_the_reason(harness: Harness) -> None:
    from tests.handlers.control_fakes import build_control

    harness.dp["control"] = build_control(live_blocker="no exchange keys (EXCHANGE_API_KEY, EXCHANGE_SECRET)")
    text = await send(harness, "/dryrun off")
    assert "cannot go live: no exchange keys" in text
    assert "reply_markup" not in harness.session.named("SendMessage")[-1].params


async def test_positions_close_and_closeall(harness: Harness) -> None:
    text = await send(harness, "/positions")
    assert "<b>BTC/USDT:USDT</b> LONG ×3 · opened 0 min ago" in text
    # 0.1 BTC from 60,000 to 61,000 with the stop 1,000 below the entry: +100 USDT, +1R
    assert "entry 60,000.00 → now 61,000.00: +100.00 USDT · +1.00R" in text
    assert "stop 59,000.00 · targets 62,000.00, 63,000.00" in text and "2024-03-01T12-BTC" in text
    text = await send(harness, "/close NOPE/USDT:USDT")
    assert "no open position" in text and len(harness.broker.open_positions) == 1
    text = await send(harness, "/close")
    assert "exactly one symbol" in text
    text = await send(harness, "/close btc/usdt:usdt")
    assert "net +95.50" in text and "Closed BTC/USDT:USDT" in text  # named as it was closed
    assert harness.broker.closed == ["BTC/USDT:USDT"]
    assert "No open positions." in await send(harness, "/positions")


async def test_closeall_confirmed_closes_everything(harness: Harness) -> None:
    from tests.handlers.control_fakes import position

    harness.broker.open_positions.append(position("ETH/USDT:USDT"))
    await send(harness, "/closeall")
    assert len(harness.broker.open_positions) == 2
    confirm, _ = button_data(harness)
    await press(harness, confirm, ADMIN_ID)
    assert harness.broker.open_positions == []
    assert "closed 2 position leg(s)" in harness.session.named("EditMessageText")[-1].params["text"]
    assert (await harness.control.audit())[0].action == "close_all"


async def test_cycle_pulse_risk_audit(harness: Harness) -> None:
    text = await send(harness, "/cycle")
    assert "Cycle done" in text and "2024-03-01T12" in text
    assert len(harness.cycle.runs) == 1
    assert "Market Pulse queued" in await send(harness, "/pulse")
    assert harness.pulses == [1]
    text = await send(harness, "/risk")
    assert "Risk per trade: 1.5%" in text and "Max leverage: 5 (hard cap 20)" in text
    await send(harness, "/leverage 3")
    text = await send(harness, "/audit")
    assert "2024-03-01 12:00 UTC · tg:1001 · set leverage max_leverage=5 → max_leverage=3" in text
    assert "count from 1 to 200" in await send(harness, "/audit lots")
    assert "count from 1 to 200" in await send(harness, "/audit ²")  # isdigit() but not int()-able


async def test_superscript_leverage_is_refused_not_a_crash(harness: Harness) -> None:
    text = await send(harness, "/leverage ²")
    assert "leverage must be a whole number from 1 to 20" in text
    assert (await harness.control.state()) == DEFAULTS
    assert harness.notifier.alerts == []


ADMIN_ATTEMPTS = [
    "/status", "/pause", "/resume", "/leverage 10", "/leverage abc", "/symbols add SOL/USDT:USDT",
    "/symbols remove ETH/USDT:USDT", "/dryrun off", "/dryrun on", "/positions", "/close BTC/USDT:USDT",
    "/closeall", "/cycle", "/pulse", "/risk", "/audit",
]


@pytest.mark.parametrize("text", ADMIN_ATTEMPTS)
async def test_non_admin_is_refused_and_nothing_changes(harness: Harness, text: str) -> None:
    reply = await send(harness, text, user_id=USER_ID)
    assert reply == fmt.NOT_ADMIN
    assert (await harness.control.state()) == DEFAULTS
    assert await harness.control.audit() == []
    assert len(harness.broker.open_positions) == 1
    assert harness.cycle.runs == [] and harness.pulses == []
    assert not any("reply_markup" in c.params for c in harness.session.calls)


async def test_handler_failure_gets_a_polite_reply_and_an_alert(harness: Harness) -> None:
    async def broken_pulse() -> None:
        raise RuntimeError("chart backend exploded")

    harness.dp["pulse_now"] = broken_pulse
    reply = await send(harness, "/pulse")
    assert reply == POLITE_FAILURE
    assert len(harness.notifier.alerts) == 1 and "chart backend exploded" in harness.notifier.alerts[0]
    assert "Paused: no" in await send(harness, "/status")  # still answering


def test_cycle_reads_in_words() -> None:
    from datetime import UTC, datetime

    from core.services.cycle import CycleSummary

    summary = CycleSummary("2024-03-01T12", datetime(2024, 3, 1, 12, tzinfo=UTC),
                           decisions={"BTC/USDT:USDT": "long", "ETH/USDT:USDT": "long", "SOL/USDT:USDT": "hold"},
                           approved=["BTC/USDT:USDT"], rejected={"ETH/USDT:USDT": "correlated_exposure"},
                           duration_ms=412.0)
    text = fmt.cycle_text(summary)
    assert "Cycle done as of 2024-03-01 12:00 UTC in 412 ms" in text
    assert "• BTC/USDT: a long → approved, order sent" in text
    assert "• ETH/USDT: a long → refused by the risk guard (correlated_exposure)" in text
    assert "• SOL/USDT: no trade" in text and "decisions:" not in text


async def test_cancel_ends_the_token_for_good(harness: Harness) -> None:
    """Issue #12 item 5: Cancel then Confirm on /dryrun off turned live trading on."""
    await send(harness, "/dryrun off")
    confirm, cancel = button_data(harness)
    assert "Cancelled" in await press(harness, cancel, ADMIN_ID)
    assert "unknown or already used" in await press(harness, confirm, ADMIN_ID)
    assert (await harness.control.state()).dry_run
    assert "nothing to cancel" in await press(harness, cancel, ADMIN_ID)


async def test_a_used_or_expired_token_cannot_be_cancelled_into_use(harness: Harness) -> None:
    await send(harness, "/closeall")
    confirm, cancel = button_data(harness)
    await press(harness, confirm, ADMIN_ID)
    assert "nothing to cancel" in await press(harness, cancel, ADMIN_ID)


async def test_confirmation_expiry_runs_on_wall_time_not_the_simulated_clock() -> None:
    """In the demo the simulated clock jumps an hour per tick: /closeall could never be confirmed."""
    from tests.handlers.control_fakes import FakeBroker, FixedClock, build_control, position

    simulated, wall = FixedClock(), FixedClock()
    # as the app wires it: confirmation_clock=SystemClock()
    control = build_control(broker=FakeBroker(open_positions=[position()]), clock=simulated, confirmation_clock=wall)
    confirmation = await control.request_confirmation("tg:1", "closeall")
    simulated.moment += timedelta(hours=10)  # ten demo ticks, a few wall seconds
    assert "closed 1 position" in await control.confirm("tg:1", confirmation.token)

    confirmation = await control.request_confirmation("tg:1", "closeall")
    wall.moment += timedelta(seconds=121)
    with pytest.raises(UserInputError, match="expired"):
        await control.confirm("tg:1", confirmation.token)
