"""#19 item 5: `aitrader check` names each venue's own key problems in one line, from recorded-shape error
payloads answered through the venue's real ccxt class (its own error mapping)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.execution.exchange_client import ExchangeCredentials, make_exchange
from core.execution.live_gate import Verdict, check_exchange
from core.execution.venues import venue_of
from tests.fixtures.exchange.env import HL_PRIVATE_KEY, HL_WALLET, credentials_for, intent, make_env
from tests.fixtures.exchange.fake_bybit import FakeBybit
from tests.fixtures.exchange.fake_hyperliquid import FakeHyperliquid
from tests.fixtures.exchange.venue_fakes import btc, new_fake

PAYLOADS = Path(__file__).parents[2] / "fixtures" / "ccxt"
MASTER = "0x1719884eb866cb12b2287399b15f7db5e7d775ea"

CASES = [
    ("binanceusdm", "invalid_key_ip_or_permissions", "whitelist, or Futures is not enabled"),
    ("binanceusdm", "key_format", "not a Binance API key"),
    ("binanceusdm", "wrong_secret_or_key_type", "Ed25519/RSA key"),
    ("binanceusdm", "clock", "clock is off"),
    ("bybit", "invalid_key", "not a valid Bybit key (10003)"),
    ("bybit", "wrong_secret_or_key_type", "self-generated RSA key"),
    ("bybit", "no_contract_permission", "Contract → Orders and Positions"),
    ("bybit", "ip_not_whitelisted", "IP is not among the key's bound IPs (10010)"),
    ("bybit", "expired", "expired (33004)"),
    ("bybit", "clock", "clock is off"),
]


def _payload(exchange_id: str, name: str) -> tuple[int, dict]:
    entry = json.loads((PAYLOADS / exchange_id / "key_errors.json").read_text())[name]
    return entry["status"], entry["body"]


async def _check(fake: Any, credentials: ExchangeCredentials | None = None) -> Verdict:
    """`aitrader check`'s exchange line, with the venue's ccxt client answered by the fake."""
    return await check_exchange(credentials or credentials_for(fake), [btc(fake)], required=True,
                                factory=lambda creds: fake.attach(make_exchange(creds)))


@pytest.mark.parametrize(("exchange_id", "payload", "needle"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
async def test_exchange_check_names_the_key_problem_in_one_line(exchange_id: str, payload: str, needle: str) -> None:
    fake = new_fake(exchange_id)
    status, body = _payload(exchange_id, payload)
    fake.answer("balance", status, body)
    verdict = await _check(fake)
    assert not verdict.ok and needle in verdict.detail, verdict.detail
    assert "\n" not in verdict.line()


@pytest.mark.parametrize("exchange_id", ["binanceusdm", "bybit", "hyperliquid"])
async def test_exchange_check_passes_with_good_keys_and_names_the_quote(exchange_id: str) -> None:
    fake = new_fake(exchange_id)
    verdict = await _check(fake)
    assert verdict.ok, verdict.detail
    assert f"10000.00 {fake.quote} available" in verdict.detail


@pytest.mark.parametrize(("permissions", "read_only", "needle"), [
    (("Position",), False, "futures trading is not enabled for the Bybit key (ContractTrade permissions: Position)"),
    ((), False, "permissions: none"),
    (("Order", "Position"), True, "read-only"),
])
async def test_exchange_check_bybit_key_without_futures_rights(
    permissions: tuple[str, ...], read_only: bool, needle: str
) -> None:
    verdict = await _check(FakeBybit(contract_permissions=permissions, read_only=read_only))
    assert not verdict.ok and needle in verdict.detail


async def test_exchange_check_hyperliquid_user_does_not_exist() -> None:
    verdict = await _check(FakeHyperliquid(user=HL_WALLET, roles={HL_WALLET.lower(): {"role": "missing"}}))
    assert not verdict.ok and f"knows no account {HL_WALLET}" in verdict.detail


async def test_exchange_check_hyperliquid_agent_wallet_not_approved() -> None:
    # the throwaway key is used as an API wallet of MASTER, which never approved it
    creds = ExchangeCredentials("hyperliquid", wallet_address=MASTER, private_key=HL_PRIVATE_KEY)
    verdict = await _check(FakeHyperliquid(user=MASTER), creds)
    assert not verdict.ok and f"signs as {HL_WALLET.lower()}" in verdict.detail and "not approved" in verdict.detail
    assert HL_PRIVATE_KEY[2:] not in verdict.detail


async def test_exchange_check_hyperliquid_approved_agent_wallet_passes() -> None:
    creds = ExchangeCredentials("hyperliquid", wallet_address=MASTER, private_key=HL_PRIVATE_KEY)
    fake = FakeHyperliquid(user=MASTER, roles={HL_WALLET.lower(): {"role": "agent", "data": {"user": MASTER}}})
    verdict = await _check(fake, creds)
    assert verdict.ok, verdict.detail


@pytest.mark.parametrize("payload", ["agent_not_approved", "order_from_unknown_signer"])
def test_exchange_hyperliquid_unknown_signer_reply_is_named(payload: str) -> None:
    exchange = make_exchange(ExchangeCredentials("hyperliquid", wallet_address=HL_WALLET, private_key=HL_PRIVATE_KEY))
    status, body = _payload("hyperliquid", payload)
    text = json.dumps(body)
    with pytest.raises(Exception) as raised:  # ccxt's own mapping of the reply
        exchange.handle_errors(status, "OK", "https://api.hyperliquid.xyz/exchange", "POST", {}, text, body, {}, "{}")
    assert "API wallet it approved" in (venue_of(exchange).diagnose(raised.value) or "")


@pytest.mark.parametrize(("exchange_id", "payload", "needle"), [
    ("bybit", "ip_not_whitelisted", "bound IPs (10010)"),
    ("binanceusdm", "invalid_key_ip_or_permissions", "(-2015)"),
    ("hyperliquid", "order_from_unknown_signer", "API wallet it approved"),
])
async def test_exchange_key_problem_while_trading_pauses_entries_and_says_why(
    exchange_id: str, payload: str, needle: str
) -> None:
    fake = new_fake(exchange_id)
    env = await make_env(fake)
    try:
        fake.answer("order", *_payload(exchange_id, payload))
        assert await env.broker.execute(intent(btc(fake), qty=0.033)) == []
        assert env.broker.entries_paused is not None and needle in env.broker.entries_paused
        assert any(needle in a for a in env.alerts)
        assert await env.ledger.live_positions() == []
    finally:
        await env.exchange.close()
