"""What differs between the venues the live broker trades on, behind ccxt's unified API (issue #19).

One `Venue` per exchange family; `venue_of(exchange)` picks it from the ccxt client's id. The broker
and its helpers ask the venue instead of testing exchange ids:

- client options and fixes applied once to the ccxt client (`configure`);
- how a protective trigger fires on the mark price (`trigger_params`);
- how an order is looked up by our client id (`find_order`), and the client id's form on the wire
  (`wire_id` / `local_id`: Hyperliquid wants a 128-bit hex `cloid`, the others take ours as it is);
- the sign of the funding rows ccxt returns (`funding_received`).
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

import ccxt.async_support as ccxt

from core.errors import UserInputError
from core.execution.exchange_errors import with_retry


class Venue:
    """Binance USDⓈ-M, and the defaults every venue starts from."""

    name = "Binance"

    quote = "USDT"

    def client_options(self) -> dict[str, Any]:
        return {}

    def configure(self, exchange: ccxt.Exchange) -> None:
        """Adjust a freshly built ccxt client (called once, before any request)."""

    def vault_options(self, address: str) -> dict[str, Any]:
        """ccxt options that make every order, query and position the vault's (or subaccount's)."""
        raise UserInputError(f"EXCHANGE_VAULT_ADDRESS is for Hyperliquid vaults and subaccounts, not {self.name}"
                             " (use that account's own API key instead)")

    def trigger_params(self) -> dict[str, Any]:
        return {"workingType": "MARK_PRICE"}

    def trigger_query(self) -> dict[str, Any]:
        """Params that make ccxt's order calls (list, fetch, cancel) address conditional orders."""
        return {"trigger": True}

    async def order_price(self, exchange: ccxt.Exchange, symbol: str, trigger: float | None) -> float | None:
        """The price argument of a market (or triggered market) order: none where the venue has real
        market orders."""
        return None

    async def prepare_symbol(self, exchange: ccxt.Exchange, symbol: str, leverage: int, *, wait_s: float) -> None:
        """Isolated margin at the intent's leverage, before the entry."""
        with contextlib.suppress(ccxt.MarginModeAlreadySet, ccxt.NoChange):
            await with_retry(lambda: exchange.set_margin_mode("isolated", symbol), base_wait_s=wait_s)
        with contextlib.suppress(ccxt.NoChange):  # the leverage is already what we want (Bybit says so)
            await with_retry(lambda: exchange.set_leverage(leverage, symbol), base_wait_s=wait_s)

    def wire_id(self, cid: str) -> str:
        return cid

    def local_id(self, wire: str | None) -> str | None:
        return wire

    async def find_order(self, exchange: ccxt.Exchange, symbol: str, cid: str, *, trigger: bool) -> dict[str, Any]:
        """The order with our client id, in any state; raises ccxt.OrderNotFound when there is none."""
        params: dict[str, Any] = {"clientOrderId": self.wire_id(cid)}
        if trigger:
            params["trigger"] = True
        return await exchange.fetch_order(None, symbol, params)

    def funding_received(self, row: dict[str, Any]) -> float:
        """Funding of one ccxt funding-history row, positive when the account received it."""
        return float(row.get("amount") or 0.0)

    def row_symbol(self, row: dict[str, Any]) -> str | None:
        """The market a ccxt funding-history row belongs to."""
        return row.get("symbol")


class Bybit(Venue):
    """Bybit v5, USDT perpetuals ("linear") on a unified trading account."""

    name = "Bybit"

    def client_options(self) -> dict[str, Any]:
        return {
            "fetchMarkets": {"types": ["linear"]},  # not spot, inverse and options: four requests fewer
            "fetchOrder": {"acknowledged": True},  # UTA: looked up among the last 500 orders, which is ours
        }

    def configure(self, exchange: ccxt.Exchange) -> None:
        exact = exchange.exceptions["exact"]
        # a resent order whose first attempt did arrive: ccxt calls it InvalidOrder, it is a duplicate
        exact["110072"] = ccxt.DuplicateOrderId
        # the leverage asked for is already set: nothing to do (ccxt says BadRequest)
        exact["110043"] = ccxt.NoChange
        # coin list (/v5/asset/coin/query-info) needs wallet permissions and is not used for perpetuals
        exchange.has["fetchCurrencies"] = False

    def trigger_params(self) -> dict[str, Any]:
        return {"triggerBy": "MarkPrice"}

    async def find_order(self, exchange: ccxt.Exchange, symbol: str, cid: str, *, trigger: bool) -> dict[str, Any]:
        # ccxt's fetch_order sends orderId=None, which Bybit matches before orderLinkId: ask the live
        # orders (/v5/order/realtime), then the finished ones (/v5/order/history), by orderLinkId
        params: dict[str, Any] = {"orderLinkId": cid, **({"trigger": True} if trigger else {})}
        for fetch in (exchange.fetch_open_orders, exchange.fetch_canceled_and_closed_orders):
            found = await fetch(symbol, None, None, dict(params))
            if found:
                return found[0]
        raise ccxt.OrderNotFound(f"bybit has no order {cid}")

    def funding_received(self, row: dict[str, Any]) -> float:
        # ccxt hands Bybit's execFee through as the amount: a fee, positive when the account paid it
        return -float(row.get("amount") or 0.0)


class Hyperliquid(Venue):
    """Hyperliquid perpetuals (USDC): a wallet signs every action locally (ccxt, with the private key);
    no market orders — ccxt sends an IOC limit bounded by its slippage (5 %) from the price we pass;
    stops and targets are trigger orders (tpsl "sl"/"tp"); client ids are 128-bit hex `cloid`s."""

    name = "Hyperliquid"
    quote = "USDC"
    _CLOID = re.compile(r"^0x[0-9a-f]{32}$")

    def client_options(self) -> dict[str, Any]:
        return {
            "fetchMarkets": {"types": ["swap"]},  # perpetuals only: not spot, not the HIP-3 dexes
            # ccxt would otherwise approve a fee for its own builder address and set its referral code
            "builderFee": False,
            "refSet": True,
        }

    def configure(self, exchange: ccxt.Exchange) -> None:
        exchange.has["fetchCurrencies"] = False  # spot tokens (spotMeta): not needed for perpetuals

    def vault_options(self, address: str) -> dict[str, Any]:
        return {"vaultAddress": address, "user": address}

    def trigger_params(self) -> dict[str, Any]:
        return {}  # Hyperliquid triggers tpsl orders on the mark price itself

    def trigger_query(self) -> dict[str, Any]:
        return {}  # one list of open orders (frontendOpenOrders) holds the trigger orders too

    async def order_price(self, exchange: ccxt.Exchange, symbol: str, trigger: float | None) -> float | None:
        if trigger is not None:
            return trigger  # the limit of the order the trigger sends is bounded from the trigger price
        ticker = await with_retry(lambda: exchange.fetch_ticker(symbol))
        mark = (ticker.get("info") or {}).get("markPx")
        return float(mark or ticker.get("last") or ticker.get("close"))

    async def prepare_symbol(self, exchange: ccxt.Exchange, symbol: str, leverage: int, *, wait_s: float) -> None:
        # one updateLeverage action sets both; ccxt's set_leverage alone would switch to cross
        await with_retry(lambda: exchange.set_leverage(leverage, symbol, {"marginMode": "isolated"}),
                         base_wait_s=wait_s)

    def row_symbol(self, row: dict[str, Any]) -> str | None:
        # userFunding lists every coin; ccxt labels each row with the symbol it was asked for
        coin = ((row.get("info") or {}).get("delta") or {}).get("coin")
        return f"{coin}/USDC:USDC" if coin else row.get("symbol")

    def wire_id(self, cid: str) -> str:
        """`at-<key>-<role>` as a cloid: 0x, the 16 hex digits of the key, the role's ASCII bytes (zero-padded)."""
        _prefix, key, role = cid.split("-")
        return "0x" + key + role.encode().hex().ljust(16, "0")

    def local_id(self, wire: str | None) -> str | None:
        if not wire or not self._CLOID.match(wire):
            return wire
        role = bytes.fromhex(wire[18:]).rstrip(b"\0")
        if not role or not role.isalnum() or not role.isascii():
            return wire
        return f"at-{wire[2:18]}-{role.decode()}"

    async def find_order(self, exchange: ccxt.Exchange, symbol: str, cid: str, *, trigger: bool) -> dict[str, Any]:
        # orderStatus answers {"status": "unknownOid"} for a cloid it never saw: ccxt raises OrderNotFound
        return await exchange.fetch_order(None, symbol, {"clientOrderId": self.wire_id(cid)})


_VENUES: dict[str, Venue] = {"bybit": Bybit(), "hyperliquid": Hyperliquid()}
_DEFAULT = Venue()


def venue_for(exchange_id: str) -> Venue:
    return _VENUES.get(exchange_id, _DEFAULT)


def venue_of(exchange: ccxt.Exchange) -> Venue:
    return venue_for(str(exchange.id))
