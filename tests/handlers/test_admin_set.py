"""`/set KEY VALUE` through aiogram's dispatch: validated, audited (who, when, old → new), persisted,
shown in /risk; a change that raises the risk waits for the same confirmation button as going live."""

from __future__ import annotations

import pytest

from core.risk.guard import RiskGuard
from core.services.memory_state import MemoryStateStore
from tests.handlers.conftest import Harness
from tests.handlers.control_fakes import build_control
from tests.handlers.test_admin import button_data, press, send
from tests.handlers.tg_session import ADMIN_ID, OTHER_ADMIN_ID, USER_ID


@pytest.fixture
def guarded(harness: Harness) -> Harness:
    guard = RiskGuard(harness.control._limits)  # the harness' control stores no guard of its own
    harness.control._guard = guard
    return harness


async def test_lowering_the_risk_applies_at_once_and_is_audited(guarded: Harness) -> None:
    text = await send(guarded, "/set risk 1.0")
    assert "risk per trade set to 1% (was 1.5%)" in text
    assert "Risk per trade: 1% of equity at the stop" in await send(guarded, "/risk")
    assert guarded.control._guard.limits.risk_per_trade_pct == 1.0
    entry = (await guarded.control.audit())[0]
    assert (entry.actor, entry.action, entry.old, entry.new) == (f"tg:{ADMIN_ID}", "set_risk", "risk=1.5%", "risk=1%")
    assert "Min confidence: 0.65" in (await send(guarded, "/set min_confidence 0.65") and await send(guarded, "/risk"))


async def test_raising_the_risk_waits_for_the_same_admins_confirmation(guarded: Harness) -> None:
    text = await send(guarded, "/set max_positions 5")
    assert "raise the risk: maximum open positions 3 → 5" in text
    assert (await guarded.control.risk()).max_open_positions == 3, "nothing changes before the press"
    confirm, _cancel = button_data(guarded)
    assert "only the admin who asked" in await press(guarded, confirm, OTHER_ADMIN_ID)
    assert (await guarded.control.risk()).max_open_positions == 3
    assert "maximum open positions set to 5 (was 3)" in await press(guarded, confirm, ADMIN_ID)
    assert guarded.control._guard.limits.max_open_positions == 5


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("/set risk abc", "risk must be a number from 0.1% to 5%"),
        ("/set risk 50", "risk must be a number from 0.1% to 5%"),
        ("/set max_positions 2.5", "max_positions must be a whole number from 1 to 10"),
        ("/set leverage_cap 3", "/set takes one of risk, min_confidence, max_positions"),
        ("/set risk", "/set takes a key and a value"),
        ("/set risk 1.5", "already 1.5%"),
    ],
)
async def test_bad_values_say_what_is_allowed_and_change_nothing(guarded: Harness, text: str, needle: str) -> None:
    assert needle in await send(guarded, text)
    assert await guarded.control.audit() == []


async def test_non_admins_cannot_set(guarded: Harness) -> None:
    assert "admins only" in await send(guarded, "/set risk 0.5", USER_ID)


async def test_the_setting_survives_a_restart() -> None:
    store = MemoryStateStore()
    first = build_control()
    first._store, first._guard = store, RiskGuard(first._limits)
    await first.set_risk("tg:1", "risk", "0.8")
    await first.set_symbol_leverage("tg:1", "BTC/USDT:USDT", "2")
    again = build_control()
    again._store, again._guard = store, RiskGuard(again._limits)
    restored = await again.restore_risk()
    assert restored.risk_per_trade_pct == 0.8 and again._guard.limits.risk_per_trade_pct == 0.8
    assert restored.symbol_leverage == (("BTC/USDT:USDT", 2),)


async def test_open_asks_the_same_confirmation_and_validates(guarded: Harness) -> None:
    guarded.broker.open_positions.clear()
    text = await send(guarded, "/open ETH/USDT:USDT short 0.5")
    assert "open a SHORT ETH/USDT:USDT at market, risking 0.5% of equity at an ATR stop" in text
    assert len(button_data(guarded)) == 2
    assert "/open takes a symbol, long or short" in await send(guarded, "/open ETH/USDT:USDT")
    assert "unknown symbol" in await send(guarded, "/open NOPE/USDT:USDT long")
    assert "admins only" in await send(guarded, "/open ETH/USDT:USDT long", USER_ID)


async def test_per_symbol_leverage_caps(guarded: Harness) -> None:
    text = await send(guarded, "/set leverage eth/usdt:usdt 3")
    assert "ETH/USDT:USDT leverage cap set to 3x (was none)" in text
    assert "Per-symbol leverage caps: ETH/USDT:USDT 3x" in await send(guarded, "/risk")
    assert guarded.control._guard.limits.symbol_leverage == (("ETH/USDT:USDT", 3),)
    assert "raise the risk: ETH/USDT:USDT leverage cap 3 → 8x" in await send(guarded, "/set leverage ETH/USDT:USDT 8")
    confirm, _ = button_data(guarded)
    assert "set to 8x (was 3x)" in await press(guarded, confirm, ADMIN_ID)
    assert "raise the risk" in await send(guarded, "/set leverage ETH/USDT:USDT off")
    assert "must be a whole number from 1 to 20 or off" in await send(guarded, "/set leverage ETH/USDT:USDT 50")
    assert "is not traded" in await send(guarded, "/set leverage DOGE/USDT:USDT 2")
    entry = (await guarded.control.audit())[0]
    assert (entry.action, entry.old, entry.new) == ("set_symbol_leverage", "ETH/USDT:USDT=3x", "ETH/USDT:USDT=8x")


def test_the_guard_applies_a_symbol_cap() -> None:
    from dataclasses import replace

    from tests.core.risk.test_guard import LIMITS, long, review

    capped = replace(LIMITS, symbol_leverage=(("BTC/USDT:USDT", 2),))
    assert review(long(leverage=5)).intent.leverage == 5
    verdict = review(long(leverage=5), limits=capped)
    assert verdict.approved and verdict.intent.leverage == 2
