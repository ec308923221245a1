"""/scan through aiogram's in-process session: ranked markets, watched ones marked, nothing changed, errors named."""

from __future__ import annotations

import re

import ccxt
import pytest
from aiogram import Bot

from bot.app import build_dispatcher
from bot.telegram.reply_limits import install_reply_limits
from core.market.scan import ScanFilters
from core.models import RuntimeState
from core.services.coin_hunter import CoinHunter
from core.services.memory_state import MemoryStateStore
from tests.core.market.test_scan import venue  # noqa: F401  (a fixture: ccxt's binanceusdm on recorded markets)
from tests.handlers.conftest import TOKEN
from tests.handlers.tg_session import ADMIN_ID, RecordingSession, command_update

DEFAULTS = RuntimeState(paused=False, dry_run=True, max_leverage=5, symbols=("BTC/USDT:USDT", "ETH/USDT:USDT"))


@pytest.fixture
async def chat(venue):  # noqa: F811
    market, fake = venue
    store = MemoryStateStore()
    hunter = CoinHunter(market, ScanFilters(min_volume_usd=50e6, max_spread_pct=0.2), store, DEFAULTS)
    session = RecordingSession()
    bot = install_reply_limits(Bot(token=TOKEN, session=session))
    dp = build_dispatcher(admin_ids=frozenset({ADMIN_ID}), hunter=hunter)

    async def send(text: str, user: int = ADMIN_ID) -> str:
        session.clear()
        await dp.feed_update(bot, command_update(text, user))
        return re.sub(r"<[^>]+>", "", session.last_text())

    return send, fake, store


async def test_scan_lists_ranked_markets_marks_watched_and_proposes_the_rest(chat) -> None:
    send, _, store = chat
    text = await send("/scan 5")
    lines = [line for line in text.splitlines() if re.match(r"\d+\. ", line)]
    assert len(lines) == 5
    assert "8 perpetual markets" in text and "Left out: " in text and "1 spread above the maximum" in text
    assert any("BTC/USDT:USDT · watching" in line for line in lines)
    assert "/symbols add " in text and "CELO" not in text
    assert (await store.load_state(DEFAULTS)).symbols == DEFAULTS.symbols  # proposes, never adds


async def test_scan_bad_argument_and_outage_get_clear_replies(chat) -> None:
    send, fake, _ = chat
    assert "1 to 30" in await send("/scan lots")
    assert "1 to 30" in await send("/scan 500")
    fake.failures = [ccxt.ExchangeNotAvailable("down")] * 2
    assert "could not reach the market data" in await send("/scan")


async def test_scan_is_for_admins_only(chat) -> None:
    send, fake, _ = chat
    assert "admins only" in await send("/scan", user=999)
    assert fake.paths == []
