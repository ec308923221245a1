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

from typing import Any

import ccxt.async_support as ccxt


class Venue:
    """Binance USDⓈ-M, and the defaults every venue starts from."""

    quote = "USDT"
    wallet_auth = False  # True: a wallet address and its private key instead of an API key and secret

    def client_options(self) -> dict[str, Any]:
        return {}

    def configure(self, exchange: ccxt.Exchange) -> None:
        """Adjust a freshly built ccxt client (called once, before any request)."""

    def trigger_params(self) -> dict[str, Any]:
        return {"workingType": "MARK_PRICE"}

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


class Bybit(Venue):
    """Bybit v5, USDT perpetuals ("linear") on a unified trading account."""

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


_VENUES: dict[str, Venue] = {"bybit": Bybit()}
_DEFAULT = Venue()


def venue_for(exchange_id: str) -> Venue:
    return _VENUES.get(exchange_id, _DEFAULT)


def venue_of(exchange: ccxt.Exchange) -> Venue:
    return venue_for(str(exchange.id))
