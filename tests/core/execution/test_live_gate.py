"""Dependency checks against local stand-ins: httpx's MockTransport for Telegram and the LLM, the scripted
Binance account for the exchange. No network."""

from __future__ import annotations

import ccxt.async_support as ccxt
import httpx

from core.execution.exchange_client import ExchangeCredentials, make_exchange
from core.execution.live_gate import LiveGate, check_exchange, check_llm, check_telegram, live_blocker
from tests.fixtures.exchange.fake_binanceusdm import FakeBinanceUsdm

TOKEN = "123456:ABCdefGhIJKlmnoPQRstuVWXyz0123456789"


def _client(handler) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def fake_factory(fake: FakeBinanceUsdm):
    def factory(credentials: ExchangeCredentials) -> ccxt.Exchange:
        exchange = make_exchange(credentials)
        exchange.enableRateLimit = False
        fake.exchange = exchange

        async def fetch(url: str, method: str = "GET", headers=None, body=None):
            return fake.handle(url, method, body)

        exchange.fetch = fetch
        return exchange

    return factory


async def test_health_telegram_ok_names_the_bot() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == f"/bot{TOKEN}/getMe"
        return httpx.Response(200, json={"ok": True, "result": {"id": 1, "is_bot": True, "username": "ai_trader_bot"}})

    async with _client(handler) as client:
        verdict = await check_telegram(TOKEN, "https://api.telegram.org", client)
    assert verdict.ok and "@ai_trader_bot" in verdict.detail


async def test_health_telegram_refused_token_never_leaks_it() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"ok": False, "error_code": 401, "description": "Unauthorized"})

    async with _client(handler) as client:
        verdict = await check_telegram(TOKEN, "https://api.telegram.org", client)
    assert not verdict.ok and "Unauthorized" in verdict.detail and TOKEN not in verdict.line()


async def test_health_telegram_unreachable_is_a_verdict_not_a_crash() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot connect to {request.url}")

    async with _client(handler) as client:
        verdict = await check_telegram(TOKEN, "http://127.0.0.1:9", client)
    assert not verdict.ok and "ConnectError" in verdict.detail and TOKEN not in verdict.detail


async def test_health_llm_model_listed_or_not() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer sk-test"
        return httpx.Response(200, json={"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model"}]})

    async with _client(handler) as client:
        ok = await check_llm("http://llm.local/v1", "sk-test", "gpt-4o-mini", client, required=True)
        missing = await check_llm("http://llm.local/v1", "sk-test", "gpt-9", client, required=True)
    assert ok.ok and not missing.ok and "gpt-9" in missing.detail


async def test_health_llm_without_key_is_fine_for_the_rules_engine() -> None:
    async with _client(lambda r: httpx.Response(500)) as client:
        verdict = await check_llm("https://api.openai.com/v1", None, "gpt-4o-mini", client, required=False)
    assert verdict.ok and not verdict.required


async def test_health_exchange_with_keys_loads_markets_and_balance() -> None:
    fake = FakeBinanceUsdm()
    verdict = await check_exchange(
        ExchangeCredentials("binanceusdm", "k", "s"), ["BTC/USDT:USDT"], required=True, factory=fake_factory(fake)
    )
    assert verdict.ok and "10000.00 USDT" in verdict.detail
    assert [r.path for r in fake.requests] == ["/fapi/v1/exchangeInfo", "/fapi/v3/account"]


async def test_health_exchange_unknown_symbol_and_refused_keys() -> None:
    fake = FakeBinanceUsdm()
    unknown = await check_exchange(
        ExchangeCredentials("binanceusdm"), ["NOPE/USDT:USDT"], required=True, factory=fake_factory(fake)
    )
    assert not unknown.ok and "NOPE/USDT:USDT" in unknown.detail
    fake.fail("GET", "/fapi/v3/account", ccxt.AuthenticationError('{"code":-2015,"msg":"Invalid API-key"}'))
    refused = await check_exchange(
        ExchangeCredentials("binanceusdm", "k", "s"), ["BTC/USDT:USDT"], required=True, factory=fake_factory(fake)
    )
    assert not refused.ok and "refused" in refused.detail


async def test_health_live_gate_needs_keys_and_a_passing_check() -> None:
    assert "EXCHANGE_API_KEY" in (live_blocker(False, ExchangeCredentials("binanceusdm"), None) or "")
    gate = LiveGate(ExchangeCredentials("binanceusdm", "k", "s", testnet=True), ["BTC/USDT:USDT"],
                    factory=fake_factory(FakeBinanceUsdm()))
    assert gate.blocker() == "the exchange has not been checked yet"
    verdict = await gate.refresh()
    assert verdict.ok and "(testnet)" in verdict.name and gate.blocker() is None
