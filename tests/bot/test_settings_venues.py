"""#19: the Hyperliquid wallet settings (address, private key, vault) and the credentials built from them."""

from __future__ import annotations

import os

import pytest

from bot.settings import load_settings
from core.errors import UserInputError
from tests.fixtures.exchange.env import HL_PRIVATE_KEY, HL_WALLET


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(("EXCHANGE_", "DRY_RUN", "SYMBOLS")):
            monkeypatch.delenv(key, raising=False)


def test_hyperliquid_wallet_settings_make_wallet_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXCHANGE_ID", "hyperliquid")
    monkeypatch.setenv("EXCHANGE_WALLET_ADDRESS", HL_WALLET)
    monkeypatch.setenv("EXCHANGE_PRIVATE_KEY", HL_PRIVATE_KEY)
    monkeypatch.setenv("EXCHANGE_VAULT_ADDRESS", "")
    creds = load_settings(env_file=None).exchange_credentials()
    assert creds.wallet_based and creds.has_keys and creds.private_key == HL_PRIVATE_KEY
    assert creds.vault_address is None and creds.api_key is None
    assert HL_PRIVATE_KEY[2:] not in repr(creds) and HL_PRIVATE_KEY[2:] not in repr(load_settings(env_file=None))


def test_api_keys_do_not_count_for_a_wallet_venue(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXCHANGE_ID", "hyperliquid")
    monkeypatch.setenv("EXCHANGE_API_KEY", "k")
    monkeypatch.setenv("EXCHANGE_SECRET", "s")
    creds = load_settings(env_file=None).exchange_credentials()
    assert not creds.has_keys and creds.key_names == "EXCHANGE_WALLET_ADDRESS and EXCHANGE_PRIVATE_KEY"


@pytest.mark.parametrize("name", ["EXCHANGE_WALLET_ADDRESS", "EXCHANGE_VAULT_ADDRESS"])
def test_a_malformed_address_is_refused_naming_the_variable(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, "0x1234")
    with pytest.raises(UserInputError, match=f"{name}.*0x and 40 hex digits"):
        load_settings(env_file=None)


def test_a_malformed_private_key_is_refused_without_echoing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXCHANGE_PRIVATE_KEY", HL_PRIVATE_KEY[:-2])  # one byte short
    with pytest.raises(UserInputError) as error:
        load_settings(env_file=None)
    assert "EXCHANGE_PRIVATE_KEY" in str(error.value) and HL_PRIVATE_KEY[2:20] not in str(error.value)
