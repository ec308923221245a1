"""Stored positions and orders against what the exchange says, at start-up and every cycle (issue #7).

`plan_reconciliation` is pure: it compares the ledger with the exchange's positions and open
conditional orders and says what must happen. The live broker carries the plan out:

- a stored position the exchange no longer has was closed while we were not looking (stop, target,
  liquidation, or by hand): book the fill from the exchange's trades;
- a stored position the exchange holds less of was partly closed (TP1): book it, move the stop;
- a position without its stop resting on the exchange gets one again (new stop first, then old off);
- our orders that protect nothing (an old stop generation, a closed position's targets) are cancelled;
- a position we never opened is reported to the admins, never adopted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.exchange_ledger import LivePosition
from core.exchange_orders import parse_client_id


@dataclass(frozen=True, slots=True)
class ExchangePosition:
    symbol: str
    side: str  # "long" | "short"
    qty: float
    entry_price: float
    liquidation_price: float | None = None

    @classmethod
    def from_ccxt(cls, raw: dict[str, Any]) -> ExchangePosition | None:
        contracts = float(raw.get("contracts") or 0.0) * float(raw.get("contractSize") or 1.0)
        if contracts <= 0 or not raw.get("symbol"):
            return None
        side = raw.get("side")
        if side not in ("long", "short"):
            amount = float((raw.get("info") or {}).get("positionAmt") or 0.0)
            side = "long" if amount > 0 else "short"
        liq = raw.get("liquidationPrice")
        return cls(
            symbol=str(raw["symbol"]),
            side=str(side),
            qty=contracts,
            entry_price=float(raw.get("entryPrice") or 0.0),
            liquidation_price=float(liq) if liq else None,
        )


@dataclass(frozen=True, slots=True)
class OpenOrder:
    symbol: str
    order_id: str
    client_id: str | None
    qty: float
    trigger_price: float | None

    @classmethod
    def from_ccxt(cls, raw: dict[str, Any]) -> OpenOrder:
        trigger = raw.get("triggerPrice") or raw.get("stopPrice")
        return cls(
            symbol=str(raw.get("symbol")),
            order_id=str(raw.get("id")),
            client_id=raw.get("clientOrderId"),
            qty=float(raw.get("amount") or 0.0),
            trigger_price=float(trigger) if trigger else None,
        )


@dataclass(frozen=True, slots=True)
class Reduced:
    live: LivePosition
    exchange_qty: float


@dataclass(slots=True)
class ReconcilePlan:
    closed: list[LivePosition] = field(default_factory=list)
    reduced: list[Reduced] = field(default_factory=list)
    missing_stop: list[LivePosition] = field(default_factory=list)
    orphans: list[OpenOrder] = field(default_factory=list)
    unknown: list[ExchangePosition] = field(default_factory=list)
    side_mismatch: list[tuple[LivePosition, ExchangePosition]] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (
            self.closed or self.reduced or self.missing_stop or self.orphans or self.unknown or self.side_mismatch
        )


def plan_reconciliation(
    stored: list[LivePosition],
    positions: list[ExchangePosition],
    open_orders: list[OpenOrder],
    *,
    qty_tolerance: float = 1e-9,
) -> ReconcilePlan:
    plan = ReconcilePlan()
    on_exchange = {p.symbol: p for p in positions}
    stored_by_symbol = {live.symbol: live for live in stored}
    orders_by_client = {o.client_id: o for o in open_orders if o.client_id}
    keep_client_ids: set[str] = set()

    for live in stored:
        ex = on_exchange.get(live.symbol)
        if ex is None:
            plan.closed.append(live)
            continue
        if ex.side != live.position.side:
            plan.side_mismatch.append((live, ex))
            keep_client_ids.update(o.client_id for o in live.resting())
            continue
        if ex.qty < live.position.qty - qty_tolerance:
            plan.reduced.append(Reduced(live, ex.qty))
            keep_client_ids.update(o.client_id for o in live.resting())
            continue
        stop = live.stop
        resting = orders_by_client.get(stop.client_id) if stop else None
        if resting is None or resting.qty < ex.qty - qty_tolerance:
            plan.missing_stop.append(live)
        keep_client_ids.update(o.client_id for o in live.resting())

    for order in open_orders:
        if parse_client_id(order.client_id) is None:
            continue  # not ours: a person's or another bot's order is none of our business
        if order.client_id not in keep_client_ids:
            plan.orphans.append(order)

    plan.unknown = [p for p in positions if p.symbol not in stored_by_symbol]
    return plan
