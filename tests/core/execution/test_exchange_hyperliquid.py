"""What only Hyperliquid needs: wallet signing, cloids, no market orders, vaults (the scenarios shared
with the other venues are in test_exchange_venues.py)."""

from __future__ import annotations

import logging

import pytest

from core.errors import UserInputError
from core.execution.exchange_client import ExchangeCredentials, make_exchange
from core.execution.exchange_orders import client_id, parse_client_id, position_key
from core.execution.venues import venue_for
from tests.fixtures.exchange.env import HL_PRIVATE_KEY, HL_WALLET, intent, make_env
from tests.fixtures.exchange.fake_hyperliquid import FakeHyperliquid

VAULT = "0x1719884eb866cb12b2287399b15f7db5e7d775ea"


def test_exchange_hyperliquid_cloid_is_128_bit_hex_and_maps_back_to_our_client_id() -> None:
    venue = venue_for("hyperliquid")
    for role in ("e", "s0", "s12", "t1", "t2", "x3"):
        cid = client_id(position_key("2024-06-10T06:00:00Z", "BTC/USDC:USDC"), role)
        wire = venue.wire_id(cid)
        assert len(wire) == 34 and wire.startswith("0x") and int(wire, 16) >= 0
        assert venue.local_id(wire) == cid and parse_client_id(venue.local_id(wire)) is not None
    for foreign in ("0x" + "ab" * 16, "0x" + "00" * 16, None, "web_manual"):
        assert parse_client_id(venue.local_id(foreign)) is None  # someone else's cloid is not ours


async def test_exchange_hyperliquid_market_orders_are_slippage_bounded_ioc_limits() -> None:
    env = await make_env(FakeHyperliquid(user=HL_WALLET))
    try:
        await env.broker.execute(intent("BTC/USDC:USDC", qty=0.033))
        entry = next(r for r in _actions(env.fake, "order") if "limit" in r["t"])
        assert entry["t"] == {"limit": {"tif": "Ioc"}} and entry["b"] is True
        assert float(entry["p"]) == pytest.approx(60_000 * 1.05)  # ccxt's 5 % bound from the mark we passed
        stop = next(r for r in _actions(env.fake, "order") if r["t"].get("trigger", {}).get("tpsl") == "sl")
        assert stop["r"] is True and stop["t"]["trigger"]["isMarket"] is True
        assert float(stop["t"]["trigger"]["triggerPx"]) == 58_800 and float(stop["p"]) == pytest.approx(58_800 * 0.95)
        await env.broker.close_position("BTC/USDC:USDC")
        close = [r for r in _actions(env.fake, "order") if "limit" in r["t"]][-1]
        assert close["r"] is True and close["b"] is False and float(close["p"]) == pytest.approx(60_000 * 0.95)
    finally:
        await env.exchange.close()


async def test_exchange_hyperliquid_vault_address_goes_on_every_action_and_query() -> None:
    env = await make_env(FakeHyperliquid(user=VAULT, vault=VAULT))  # the fake asserts both on every request
    try:
        assert [e.kind for e in await env.broker.execute(intent("BTC/USDC:USDC", qty=0.033))] == ["entry"]
        assert len(env.fake.open_triggers()) == 3
        assert [e.kind for e in await env.broker.close_all()] == ["exit"]
    finally:
        await env.exchange.close()


def test_exchange_vault_address_is_refused_on_other_venues() -> None:
    with pytest.raises(UserInputError, match="EXCHANGE_VAULT_ADDRESS is for Hyperliquid"):
        make_exchange(ExchangeCredentials("bybit", "k", "s", vault_address=VAULT))


async def test_exchange_hyperliquid_private_key_never_reaches_logs_or_repr(caplog: pytest.LogCaptureFixture) -> None:
    creds = ExchangeCredentials("hyperliquid", wallet_address=HL_WALLET, private_key=HL_PRIVATE_KEY)
    assert creds.has_keys and HL_PRIVATE_KEY[2:] not in repr(creds)
    with caplog.at_level(logging.DEBUG):
        env = await make_env(FakeHyperliquid(user=HL_WALLET))
        try:
            await env.broker.execute(intent("BTC/USDC:USDC", qty=0.033))
            await env.broker.close_all()
        finally:
            await env.exchange.close()
    assert HL_PRIVATE_KEY[2:] not in caplog.text
    assert not any(HL_PRIVATE_KEY[2:] in (s.cid or "") for s in env.fake.journal)


def _actions(fake: FakeHyperliquid, kind: str) -> list[dict]:
    return [o for body in fake.bodies if body.get("action", {}).get("type") == kind for o in body["action"]["orders"]]
