"""Orders on the exchange: deterministic client ids, rounding to the market's rules, and placement that
never doubles an order when the network fails mid-request.

Every order of one position shares a key derived from (cycle_id, symbol), so the entry, its stop
generations and its targets are recognisable on the exchange after a restart, and a retried entry
carries the same client id as the first attempt.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import ccxt.async_support as ccxt
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from core.execution.exchange_errors import OrderRejected, is_temporary, with_retry
from core.execution.exit_ladder import target_fractions
from core.execution.venues import venue_of
from core.models import DomainError, Side

CLIENT_ID_PREFIX = "at"
_KEY_CHARS = 16  # 64 bits of sha256: collisions between two positions are not a practical concern


def position_key(cycle_id: str, symbol: str) -> str:
    """The part every client id of one position shares."""
    if not cycle_id or not symbol:
        raise DomainError(f"a position key needs a cycle id and a symbol, got {cycle_id!r}, {symbol!r}")
    return hashlib.sha256(f"{cycle_id}|{symbol}".encode()).hexdigest()[:_KEY_CHARS]


def client_id(key: str, role: str) -> str:
    """`at-<key>-<role>`: at most 36 characters of [A-Za-z0-9-], which Binance and Bybit both accept.

    Roles: `e` entry, `s<N>` stop generation N, `t1`..`t3` targets, `r<N>` trailing stop generation N,
    `x<N>` reduce-only market closes.
    """
    if not role.isalnum() or len(role) > 8:
        raise DomainError(f"client id role must be 1-8 alphanumerics, got {role!r}")
    return f"{CLIENT_ID_PREFIX}-{key}-{role}"


def parse_client_id(value: str | None) -> tuple[str, str] | None:
    """(key, role) of one of our client ids, None for anything else (orders placed by hand, other bots)."""
    if not value:
        return None
    parts = value.split("-")
    if len(parts) != 3 or parts[0] != CLIENT_ID_PREFIX or len(parts[1]) != _KEY_CHARS:
        return None
    return parts[1], parts[2]


def exit_side(side: Side) -> str:
    return "sell" if side == "long" else "buy"


def entry_side(side: Side) -> str:
    return "buy" if side == "long" else "sell"


@dataclass(frozen=True, slots=True)
class MarketRules:
    """What the exchange will accept for one market, read from ccxt's loaded markets."""

    symbol: str
    min_amount: float
    min_cost: float
    exchange: Any  # the ccxt client, whose precision helpers know the market's tick and step sizes

    @classmethod
    def of(cls, exchange: ccxt.Exchange, symbol: str) -> MarketRules:
        try:
            market = exchange.market(symbol)
        except ccxt.BadSymbol:
            raise OrderRejected(f"{symbol} is not a market on {exchange.id}") from None
        limits = market.get("limits") or {}
        return cls(
            symbol=symbol,
            min_amount=float((limits.get("amount") or {}).get("min") or 0.0),
            min_cost=float((limits.get("cost") or {}).get("min") or 0.0),
            exchange=exchange,
        )

    def amount(self, qty: float) -> float:
        """Round down to the step size (never more than was sized), 0 when below one step."""
        try:
            return float(self.exchange.amount_to_precision(self.symbol, qty))
        except ccxt.InvalidOrder:  # ccxt refuses amounts that truncate to zero
            return 0.0

    def price(self, value: float) -> float:
        return float(self.exchange.price_to_precision(self.symbol, value))

    def check_entry(self, qty: float, price: float) -> None:
        """Refuse before sending what the exchange would refuse (min quantity, min notional)."""
        if qty <= 0 or qty < self.min_amount:
            raise OrderRejected(f"{self.symbol} quantity {qty} is below the minimum {self.min_amount}")
        notional = qty * price
        if notional < self.min_cost:
            raise OrderRejected(
                f"{self.symbol} notional {notional:.2f} is below the exchange minimum {self.min_cost:g}"
            )


def split_targets(rules: MarketRules, qty: float, n_targets: int, first_fraction: float) -> list[tuple[int, float]]:
    """(target index, quantity) of the reduce-only take-profit orders, split as the exit ladder splits them
    (`target_fractions`: TP1 `first_fraction`, later targets the rest equally, the last whatever rounding
    left). Every target the engine gave rests (up to 3); when a slice falls below the market's step or
    minimum the targets fold: three into two (TP2 takes the rest), two into one full-size order at the last.
    """
    n = n_targets
    while n > 1:
        sizes = [rules.amount(qty * f) for f in target_fractions(n, first_fraction)[:-1]]
        sizes.append(rules.amount(qty - sum(sizes)))
        if all(size > 0 and size >= rules.min_amount for size in sizes):
            return list(enumerate(sizes))
        n -= 1
    return [(n_targets - 1, qty)] if n_targets > 0 else []


TRAIL_MIN_PCT, TRAIL_MAX_PCT = 0.1, 10.0  # Binance USDⓈ-M callbackRate: 0.1 to 10 (%), in steps of 0.1


def trailing_percent(entry: float, initial_stop: float, price: float, configured_pct: float = 0.0) -> float | None:
    """The callback rate for the exit ladder's trail: `configured_pct` of the best price when set
    (TRAIL_AFTER_TP1_PCT), else 1 R (the initial stop distance) over the price trailing starts from; to
    0.1 %, at least 0.1 %. None above the exchange's 10 %: no trailing order can follow that far."""
    pct = round(configured_pct if configured_pct > 0 else abs(entry - initial_stop) / price * 100.0, 1)
    return None if pct > TRAIL_MAX_PCT else max(pct, TRAIL_MIN_PCT)


def supports_trailing(exchange: ccxt.Exchange) -> bool:
    """Whether ccxt can place a trailing stop resting on this venue (its unified `trailingPercent`)."""
    return bool(exchange.has.get("createTrailingPercentOrder"))


def order_fill(order: dict[str, Any]) -> tuple[float, float | None]:
    """(filled quantity, average price) of a ccxt order structure."""
    filled = float(order.get("filled") or 0.0)
    average = order.get("average") or order.get("price")
    average_f = float(average) if average else None
    if average_f is not None and not (average_f > 0 and math.isfinite(average_f)):
        average_f = None
    return filled, average_f


def order_fee(order: dict[str, Any]) -> float | None:
    fees = order.get("fees") or ([order["fee"]] if order.get("fee") else [])
    costs = [float(f["cost"]) for f in fees if f and f.get("cost") is not None]
    return sum(costs) if costs else None


async def submit_once(
    exchange: ccxt.Exchange,
    symbol: str,
    cid: str,
    create: Callable[[], Awaitable[dict[str, Any]]],
    *,
    trigger: bool,
    attempts: int = 4,
    wait_s: float = 0.5,
) -> dict[str, Any]:
    """Create an order exactly once, even when the network fails after the exchange accepted it.

    After a temporary failure the request may or may not have reached the exchange, so before sending
    again we look the client id up; only a definite "no such order" lets us send again.
    """
    maybe_sent = False
    async for attempt in AsyncRetrying(
        retry=retry_if_exception(is_temporary),
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=wait_s, max=max(wait_s * 16, wait_s)),
        reraise=True,
    ):
        with attempt:
            if maybe_sent:
                found = await find_order(exchange, symbol, cid, trigger=trigger)
                if found is not None:
                    return found
            maybe_sent = True
            try:
                return await create()
            except ccxt.DuplicateOrderId:
                found = await find_order(exchange, symbol, cid, trigger=trigger)
                if found is None:
                    raise
                return found
    raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover


async def find_order(exchange: ccxt.Exchange, symbol: str, cid: str, *, trigger: bool) -> dict[str, Any] | None:
    try:
        return await venue_of(exchange).find_order(exchange, symbol, cid, trigger=trigger)
    except ccxt.OrderNotFound:
        return None


async def place_market(
    exchange: ccxt.Exchange, symbol: str, side: str, qty: float, cid: str, *, reduce_only: bool, wait_s: float
) -> dict[str, Any]:
    venue = venue_of(exchange)
    params: dict[str, Any] = {"clientOrderId": venue.wire_id(cid)}
    if reduce_only:
        params["reduceOnly"] = True
    price = await venue.order_price(exchange, symbol, None)
    order = await submit_once(
        exchange,
        symbol,
        cid,
        lambda: exchange.create_order(symbol, "market", side, qty, price, params),
        trigger=False,
        wait_s=wait_s,
    )
    if order.get("filled") is None:  # acknowledged without its fill (Bybit): ask for the order itself
        looked_up = await with_retry(partial(find_order, exchange, symbol, cid, trigger=False), base_wait_s=wait_s)
        order = looked_up or order
    return order


async def place_stop(
    exchange: ccxt.Exchange, symbol: str, side: Side, qty: float, stop_price: float, cid: str, *, wait_s: float
) -> dict[str, Any]:
    """Reduce-only stop-market resting on the exchange, triggered on the mark price (not a single print)."""
    return await _place_trigger(exchange, symbol, side, qty, "stopLossPrice", stop_price, cid, wait_s=wait_s)


async def place_take_profit(
    exchange: ccxt.Exchange, symbol: str, side: Side, qty: float, price: float, cid: str, *, wait_s: float
) -> dict[str, Any]:
    return await _place_trigger(exchange, symbol, side, qty, "takeProfitPrice", price, cid, wait_s=wait_s)


async def place_trailing_stop(
    exchange: ccxt.Exchange, symbol: str, side: Side, qty: float, callback_pct: float, cid: str, *, wait_s: float
) -> dict[str, Any]:
    """Reduce-only trailing stop resting on the exchange (Binance: TRAILING_STOP_MARKET with callbackRate),
    tracking the mark price from now on: it follows the best price and fires `callback_pct` behind it."""
    venue = venue_of(exchange)
    params = {"trailingPercent": callback_pct, "reduceOnly": True, "clientOrderId": venue.wire_id(cid),
              **venue.trigger_params()}
    return await submit_once(
        exchange,
        symbol,
        cid,
        lambda: exchange.create_order(symbol, "market", exit_side(side), qty, None, params),
        trigger=True,
        wait_s=wait_s,
    )


async def _place_trigger(
    exchange: ccxt.Exchange, symbol: str, side: Side, qty: float, kind: str, price: float, cid: str, *, wait_s: float
) -> dict[str, Any]:
    venue = venue_of(exchange)
    params = {kind: price, "reduceOnly": True, "clientOrderId": venue.wire_id(cid), **venue.trigger_params()}
    limit = await venue.order_price(exchange, symbol, price)
    return await submit_once(
        exchange,
        symbol,
        cid,
        lambda: exchange.create_order(symbol, "market", exit_side(side), qty, limit, params),
        trigger=True,
        wait_s=wait_s,
    )


async def cancel_trigger(exchange: ccxt.Exchange, symbol: str, order_id: str, *, wait_s: float) -> bool:
    """Cancel a resting conditional order; True when it is gone (already filled or cancelled counts)."""
    try:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception(is_temporary),
            stop=stop_after_attempt(4),
            wait=wait_exponential(multiplier=wait_s, max=max(wait_s * 16, wait_s)),
            reraise=True,
        ):
            with attempt:
                await exchange.cancel_order(order_id, symbol, venue_of(exchange).trigger_query())
    except ccxt.OrderNotFound:
        return True
    return True
