"""Builds the ccxt client the live broker and `aitrader check` talk to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.errors import UserInputError

# venues that sign with a wallet's private key instead of an API key and secret
WALLET_VENUES = frozenset({"hyperliquid"})

if TYPE_CHECKING:
    import ccxt.async_support as ccxt


@dataclass(frozen=True, slots=True)
class ExchangeCredentials:
    exchange_id: str
    api_key: str | None = None
    secret: str | None = None
    testnet: bool = False
    # Hyperliquid signs with a wallet's private key instead of an API key and secret
    wallet_address: str | None = None
    private_key: str | None = None
    vault_address: str | None = None  # trade for a vault or subaccount the wallet manages

    @property
    def wallet_based(self) -> bool:
        return self.exchange_id in WALLET_VENUES

    @property
    def has_keys(self) -> bool:
        if self.wallet_based:
            return bool(self.wallet_address) and bool(self.private_key)
        return bool(self.api_key) and bool(self.secret)

    @property
    def key_names(self) -> str:
        """The settings that hold this venue's keys, for messages."""
        if self.wallet_based:
            return "EXCHANGE_WALLET_ADDRESS and EXCHANGE_PRIVATE_KEY"
        return "EXCHANGE_API_KEY and EXCHANGE_SECRET"

    def __repr__(self) -> str:  # never print the keys
        return f"ExchangeCredentials({self.exchange_id!r}, keys={'set' if self.has_keys else 'missing'}, testnet={self.testnet})"


def make_exchange(credentials: ExchangeCredentials) -> ccxt.Exchange:
    """A ccxt async client for perpetual swaps; the exchange's sandbox (Binance: demo trading) when `testnet`.

    Binance's spot-side calls that load_markets would make with keys (currencies, margin pairs) are
    switched off: they are not needed for USDⓈ-M futures and do not exist on the futures testnet.
    """
    # Imported here so that holding credentials costs nothing: ccxt.async_support is ~100 MB of RSS.
    import ccxt.async_support as ccxt

    from core.execution.venues import venue_for

    exchange_class = getattr(ccxt, credentials.exchange_id, None)
    if exchange_class is None:
        raise UserInputError(f"EXCHANGE_ID: {credentials.exchange_id!r} is not a ccxt exchange id")
    venue = venue_for(credentials.exchange_id)
    options = {"defaultType": "swap", "fetchCurrencies": False, "fetchMargins": False, **venue.client_options()}
    if credentials.vault_address:
        options.update(venue.vault_options(credentials.vault_address))
    config: dict[str, object] = {"enableRateLimit": True, "options": options}
    if credentials.has_keys and credentials.wallet_based:
        config["walletAddress"] = credentials.wallet_address
        config["privateKey"] = credentials.private_key
    elif credentials.has_keys:
        config["apiKey"] = credentials.api_key
        config["secret"] = credentials.secret
    exchange: ccxt.Exchange = exchange_class(config)
    venue.configure(exchange)
    if credentials.testnet:
        if credentials.exchange_id.startswith("binance") and "demo" in exchange.urls:
            # ccxt refuses Binance's retired futures testnet; its replacement is Binance demo trading
            exchange.enable_demo_trading(True)
        else:
            exchange.set_sandbox_mode(True)
    return exchange
