"""#19: `aitrader check` on Bybit and Hyperliquid settings, end to end (settings → check lines), with the
venue's ccxt class answered by its scripted fake."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.commands.check_cmd import run_check
from core.execution.exchange_client import make_exchange
from tests.bot.test_check_cmd import _probe_ok, _transport
from tests.fixtures.exchange.env import HL_PRIVATE_KEY, HL_WALLET
from tests.fixtures.exchange.fake_bybit import FakeBybit
from tests.fixtures.exchange.fake_hyperliquid import FakeHyperliquid


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.startswith(("EXCHANGE_", "TELEGRAM_", "LLM_", "DRY_RUN", "SYMBOLS", "ENGINE", "MARKET_DATA_DIR")):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env
    _env(monkeypatch, DRY_RUN="false", TELEGRAM_BOT_TOKEN="123456:ABCdefGhIJKlmnoPQRstuVWXyz0123456789",
         LLM_API_KEY="sk-abcdef")


def _env(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)


async def test_check_hyperliquid_wallet_live(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _env(monkeypatch, EXCHANGE_ID="hyperliquid", SYMBOLS="BTC/USDC:USDC,ETH/USDC:USDC",
         EXCHANGE_WALLET_ADDRESS=HL_WALLET, EXCHANGE_PRIVATE_KEY=HL_PRIVATE_KEY)
    fake = FakeHyperliquid(user=HL_WALLET)
    code = await run_check(None, transport=_transport(), llm_probe=_probe_ok,
                           exchange_factory=lambda creds: fake.attach(make_exchange(creds)))
    out = capsys.readouterr().out
    assert code == 0, out
    assert "✓ exchange hyperliquid: keys accepted, 10000.00 USDC available" in out
    assert "✓ live trading: possible" in out and HL_PRIVATE_KEY[2:] not in out


async def test_check_hyperliquid_without_wallet_names_the_wallet_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # API keys mean nothing on Hyperliquid
    _env(monkeypatch, EXCHANGE_ID="hyperliquid", EXCHANGE_API_KEY="key-123456", EXCHANGE_SECRET="secret-123456")
    assert await run_check(None) == 1
    assert "EXCHANGE_WALLET_ADDRESS and EXCHANGE_PRIVATE_KEY are not set" in capsys.readouterr().out


async def test_check_bybit_key_without_contract_rights_blocks_live(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _env(monkeypatch, EXCHANGE_ID="bybit", EXCHANGE_API_KEY="key-123456", EXCHANGE_SECRET="secret-123456")
    fake = FakeBybit(contract_permissions=())
    code = await run_check(None, transport=_transport(), llm_probe=_probe_ok,
                           exchange_factory=lambda creds: fake.attach(make_exchange(creds)))
    out = capsys.readouterr().out
    assert code == 1
    line = next(x for x in out.splitlines() if x.startswith("✗ exchange bybit"))
    assert "futures trading is not enabled for the Bybit key" in line
    assert "✗ live trading: impossible" in out and "secret-123456" not in out
