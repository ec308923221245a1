"""What differs between the venues the live broker trades on, behind ccxt's unified API (issue #19).

One `Venue` per exchange family; `venue_of(exchange)` picks it from the ccxt client's id. The broker,
its order helpers, reconciliation and `aitrader check` ask the venue instead of testing exchange ids:

- the ccxt client: options and fixes applied once (`client_options`, `configure`, `vault_options`);
- orders: trigger params on the mark price (`trigger_params`, `trigger_query`), the price argument a
  market order needs where there are none (`order_price`), margin mode and leverage (`prepare_symbol`);
- client ids: their form on the wire (`wire_id` / `local_id`: Hyperliquid wants a 128-bit hex `cloid`)
  and how an order is found by one (`find_order`);
- account figures (`account_figures`) and funding rows (`funding_received`, `row_symbol`);
- `aitrader check`: the venue's error replies in one line (`diagnose`) and key problems that only show
  when trading (`probe`: Bybit key permissions, Hyperliquid user / agent wallet).
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

    def account_figures(self, balance: dict[str, Any], quote: str) -> tuple[float, float]:
        """(equity with unrealized PnL, margin available for new positions) from ccxt's balance."""
        info = balance.get("info") or {}
        cash = balance.get(quote) or {}
        equity = float(info.get("totalMarginBalance") or cash.get("total") or 0.0)
        return equity, float(info.get("availableBalance") or cash.get("free") or 0.0)

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

    # ---- `aitrader check`: the venue's own words for what is wrong with the keys ------------------

    KEY_PROBLEMS: tuple[tuple[str, str], ...] = (
        ('"code":-2015', "Binance refused the key (-2015): wrong key, this machine's IP is not on the key's "
                         "whitelist, or Futures is not enabled for the key (API Management → Enable Futures)"),
        ('"code":-2014', "EXCHANGE_API_KEY is not a Binance API key (-2014 format invalid): copy the API key, "
                         "not the secret"),
        ('"code":-1022', "the signature does not match the key (-1022): EXCHANGE_SECRET is wrong, or the key is an "
                         "Ed25519/RSA key whose private key (PEM) belongs in EXCHANGE_SECRET"),
        ('"code":-1021', "this machine's clock is off (-1021 outside recvWindow): sync it (NTP)"),
    )

    def diagnose(self, error: BaseException) -> str | None:
        """One line naming what the venue's error reply means for the keys, or None when unknown."""
        text = str(error).replace(" ", "")
        return next((line for needle, line in self.KEY_PROBLEMS if needle.replace(" ", "") in text), None)

    async def probe(self, exchange: ccxt.Exchange) -> str | None:
        """A problem with accepted keys that only shows when trading (permissions, agent wallets), or None."""
        return None


class Bybit(Venue):
    """Bybit v5, USDT perpetuals ("linear") on a unified trading account."""

    name = "Bybit"

    def client_options(self) -> dict[str, Any]:
        return {
            "fetchMarkets": {"types": ["linear"]},  # not spot, inverse and options: four requests fewer
            # UTA: fetch_order sees only the last 500 orders; ours are recent (and found another way, below)
            "fetchOrder": {"acknowledged": True},
        }

    def configure(self, exchange: ccxt.Exchange) -> None:
        exact = exchange.exceptions["exact"]
        # a resent order whose first attempt did arrive: ccxt calls it InvalidOrder, it is a duplicate
        exact["110072"] = ccxt.DuplicateOrderId
        # the leverage asked for is already set: nothing to do (ccxt says BadRequest)
        exact["110043"] = ccxt.NoChange
        # coin list (/v5/asset/coin/query-info) needs wallet permissions and is not used for perpetuals
        exchange.has["fetchCurrencies"] = False

    def account_figures(self, balance: dict[str, Any], quote: str) -> tuple[float, float]:
        # the coin's walletBalance leaves out unrealized PnL: the unified account's totals do not
        accounts = ((balance.get("info") or {}).get("result") or {}).get("list") or [{}]
        unified = accounts[0]
        if unified.get("totalEquity") and unified.get("totalAvailableBalance"):
            return float(unified["totalEquity"]), float(unified["totalAvailableBalance"])
        return super().account_figures(balance, quote)

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

    KEY_PROBLEMS = (
        ('"retCode":10003', "EXCHANGE_API_KEY is not a valid Bybit key (10003): a testnet key works only with "
                            "EXCHANGE_TESTNET=true, a mainnet key only without it"),
        ('"retCode":10004', "the signature does not match the key (10004): EXCHANGE_SECRET is wrong, or the key is a "
                            "self-generated RSA key whose private key (PEM) belongs in EXCHANGE_SECRET"),
        ('"retCode":10005', "the key lacks permissions (10005): enable Contract → Orders and Positions for it"),
        ('"retCode":10010', "this machine's IP is not among the key's bound IPs (10010): add it in Bybit's API "
                            "management, or use a key without IP restriction"),
        ('"retCode":33004', "the Bybit key has expired (33004): create a new one"),
        ('"retCode":10002', "this machine's clock is off (10002 outside recv_window): sync it (NTP)"),
    )

    async def probe(self, exchange: ccxt.Exchange) -> str | None:
        info = (await exchange.privateGetV5UserQueryApi()).get("result") or {}
        if str(info.get("readOnly")) == "1":
            return "the Bybit key is read-only: it needs read-write Contract → Orders and Positions"
        contract = set((info.get("permissions") or {}).get("ContractTrade") or [])
        if not {"Order", "Position"} <= contract:
            return ("futures trading is not enabled for the Bybit key (ContractTrade permissions: "
                    f"{', '.join(sorted(contract)) or 'none'}): enable Contract → Orders and Positions")
        return None


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

    KEY_PROBLEMS = (
        ("User or API Wallet", "Hyperliquid does not know the signer (User or API Wallet … does not exist): "
                               "EXCHANGE_PRIVATE_KEY must be EXCHANGE_WALLET_ADDRESS's own key or an API wallet it "
                               "approved (app.hyperliquid.xyz → API), and the account must have been funded"),
    )

    async def probe(self, exchange: ccxt.Exchange) -> str | None:
        async def role(address: str) -> dict[str, Any]:
            answer = await exchange.publicPostInfo({"type": "userRole", "user": address})
            return answer if isinstance(answer, dict) else {}

        wallet = str(exchange.walletAddress)
        own = await role(wallet)
        if own.get("role") == "missing":
            return (f"Hyperliquid knows no account {wallet} (user does not exist): fund it first, or fix "
                    "EXCHANGE_WALLET_ADDRESS")
        if own.get("role") == "agent":
            return (f"EXCHANGE_WALLET_ADDRESS {wallet} is an API wallet of {(own.get('data') or {}).get('user')}: "
                    "put the account's address there and keep the API wallet's key in EXCHANGE_PRIVATE_KEY")
        signer = str(exchange.eth_get_address_from_private_key(exchange.privateKey))
        if signer.lower() == wallet.lower():
            return None
        agent = await role(signer)
        if agent.get("role") != "agent" or str((agent.get("data") or {}).get("user", "")).lower() != wallet.lower():
            return (f"EXCHANGE_PRIVATE_KEY signs as {signer}, which {wallet} has not approved as an API (agent) "
                    "wallet: approve it on app.hyperliquid.xyz → API, or use the wallet's own key")
        return None

    async def find_order(self, exchange: ccxt.Exchange, symbol: str, cid: str, *, trigger: bool) -> dict[str, Any]:
        # orderStatus answers {"status": "unknownOid"} for a cloid it never saw: ccxt raises OrderNotFound
        return await exchange.fetch_order(None, symbol, {"clientOrderId": self.wire_id(cid)})


_VENUES: dict[str, Venue] = {"bybit": Bybit(), "hyperliquid": Hyperliquid()}
_DEFAULT = Venue()


def venue_for(exchange_id: str) -> Venue:
    return _VENUES.get(exchange_id, _DEFAULT)


def venue_of(exchange: ccxt.Exchange) -> Venue:
    return venue_for(str(exchange.id))
