"""Stored positions and orders against what the exchange says, at start-up and every cycle (issue #7).

`plan_reconciliation` is pure: it compares the ledger with the exchange's positions and open
conditional orders and says what must happen. `Reconciler` fetches both sides and carries the plan
out for the live broker:

- a stored position the exchange no longer has was closed while we were not looking (stop, target,
  liquidation, or by hand): book the fill from the exchange's trades;
- a stored position the exchange holds less of was partly closed (TP1): book it, move the stop;
- a position without its stop resting on the exchange gets one again (new stop first, then old off), and
  one whose trailing stop is gone gets that again;
- after TP1 the rest trails: a trailing stop resting on the exchange (placed when TP1 is booked), or where
  the venue has none the stop is moved behind the best mark price at each sync;
- our orders that protect nothing (an old stop generation, a closed position's targets) are cancelled;
- a position we never opened is reported to the admins, never adopted.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

import ccxt.async_support as ccxt

from core.execution.exchange_errors import with_retry
from core.execution.exchange_ledger import ExchangeLedger, LivePosition
from core.execution.exchange_orders import cancel_trigger, exit_side, parse_client_id
from core.execution.exit_ladder import stop_reason
from core.execution.venues import venue_of
from core.models import TradeEvent
from core.protocols import Clock

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ExchangePosition:
    symbol: str
    side: str  # "long" | "short"
    qty: float
    entry_price: float
    liquidation_price: float | None = None
    mark_price: float | None = None

    @classmethod
    def from_ccxt(cls, raw: dict[str, Any]) -> ExchangePosition | None:
        contracts = float(raw.get("contracts") or 0.0) * float(raw.get("contractSize") or 1.0)
        if contracts <= 0 or not raw.get("symbol"):
            return None
        side = raw.get("side")
        if side not in ("long", "short"):
            amount = float((raw.get("info") or {}).get("positionAmt") or 0.0)
            side = "long" if amount > 0 else "short"
        liq, mark = raw.get("liquidationPrice"), raw.get("markPrice")
        return cls(
            symbol=str(raw["symbol"]),
            side=str(side),
            qty=contracts,
            entry_price=float(raw.get("entryPrice") or 0.0),
            liquidation_price=float(liq) if liq else None,
            mark_price=float(mark) if mark else None,
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
    missing_trail: list[LivePosition] = field(default_factory=list)
    in_step: list[LivePosition] = field(default_factory=list)  # book and exchange agree: trailing may move on
    orphans: list[OpenOrder] = field(default_factory=list)
    unknown: list[ExchangePosition] = field(default_factory=list)
    side_mismatch: list[tuple[LivePosition, ExchangePosition]] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (
            self.closed or self.reduced or self.missing_stop or self.missing_trail or self.orphans or self.unknown
            or self.side_mismatch
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
        elif live.trail is not None and live.trail.client_id not in orders_by_client:
            plan.missing_trail.append(live)
        else:
            plan.in_step.append(live)
        keep_client_ids.update(o.client_id for o in live.resting())

    for order in open_orders:
        if parse_client_id(order.client_id) is None:
            continue  # not ours: a person's or another bot's order is none of our business
        if order.client_id not in keep_client_ids:
            plan.orphans.append(order)

    plan.unknown = [p for p in positions if p.symbol not in stored_by_symbol]
    return plan


class PositionKeeper(Protocol):
    """What carrying out a plan needs from the live broker: booking legs and keeping stops resting."""

    async def book_exit(
        self, live: LivePosition, qty: float, price: float, reason: str, fee: float | None, order_id: str,
        *, funding: float,
    ) -> TradeEvent: ...

    async def move_stop(self, live: LivePosition, price: float) -> None: ...

    async def protect(self, live: LivePosition) -> None: ...

    async def start_trailing(self, live: LivePosition, price: float) -> None: ...

    async def keep_trailing(self, live: LivePosition, mark: float) -> None: ...

    async def unbooked_funding(self, live: LivePosition) -> float: ...


class Reconciler:
    """Fetches the exchange's positions and open conditional orders, plans, and carries the plan out."""

    def __init__(
        self,
        exchange: ccxt.Exchange,
        ledger: ExchangeLedger,
        keeper: PositionKeeper,
        clock: Clock,
        *,
        alert: Callable[[str], Awaitable[None]],
        wait_s: float,
    ) -> None:
        self._ex = exchange
        self._ledger = ledger
        self._keeper = keeper
        self._clock = clock
        self._alert = alert
        self._wait = wait_s
        self._reported_unknown: set[tuple[str, str, float]] = set()

    async def run(self) -> list[TradeEvent]:
        stored = await self._ledger.live_positions()
        raw_positions = await with_retry(lambda: self._ex.fetch_positions(), base_wait_s=self._wait)
        raw_orders = await with_retry(
            lambda: self._ex.fetch_open_orders(None, None, None, venue_of(self._ex).trigger_query()),
            base_wait_s=self._wait,
        )
        positions = [p for p in (ExchangePosition.from_ccxt(r) for r in raw_positions) if p is not None]
        local_id = venue_of(self._ex).local_id
        orders = [OpenOrder.from_ccxt({**r, "clientOrderId": local_id(r.get("clientOrderId"))}) for r in raw_orders]
        plan = plan_reconciliation(stored, positions, orders)
        return await self.carry_out(plan, positions)

    async def carry_out(self, plan: ReconcilePlan, positions: list[ExchangePosition]) -> list[TradeEvent]:
        events: list[TradeEvent] = []
        for live in plan.closed:
            events += await self._book_closed(live)
        for reduced in plan.reduced:
            events += await self._book_reduced(reduced)
        for live in plan.missing_stop:
            exchange_qty = next((p.qty for p in positions if p.symbol == live.symbol), live.position.qty)
            live.position.qty = exchange_qty
            await self._alert(f"{live.symbol}: stop missing on the exchange; placing it again at {live.position.stop_loss}")
            await self._keeper.move_stop(live, live.position.stop_loss)
            if not live.targets and live.position.targets_hit == 0:
                await self._keeper.protect(live)  # the targets never made it either (crash right after the fill)
                await self._ledger.save(live)
        await self._keep_trailing(plan, positions)
        for order in plan.orphans:
            log.info("cancelling orphaned order %s (%s) on %s", order.order_id, order.client_id, order.symbol)
            await cancel_trigger(self._ex, order.symbol, order.order_id, wait_s=self._wait)
        for ex in plan.unknown:
            mark = (ex.symbol, ex.side, ex.qty)
            if mark not in self._reported_unknown:
                self._reported_unknown.add(mark)
                await self._alert(
                    f"{ex.symbol}: a {ex.side} position of {ex.qty} at {ex.entry_price} is on the exchange but not "
                    "in the bot's book; it is left alone (not adopted) — close or manage it by hand"
                )
        for live, ex in plan.side_mismatch:
            await self._alert(
                f"{live.symbol}: the bot booked a {live.position.side} but the exchange holds a {ex.side}; "
                "nothing was changed — check it by hand"
            )
        return events

    async def _keep_trailing(self, plan: ReconcilePlan, positions: list[ExchangePosition]) -> None:
        for live in plan.missing_trail:
            if live.trail is not None:
                await self._alert(f"{live.symbol}: trailing stop missing on the exchange; placing it again")
                await self._keeper.start_trailing(live, live.trail.price)
        marks = {p.symbol: p.mark_price for p in positions}
        for live in plan.in_step:  # the profit lock before TP1, the bot's trail after it
            price = marks.get(live.symbol)
            if price:
                await self._keeper.keep_trailing(live, price)

    async def _exit_trades(self, live: LivePosition) -> list[dict[str, Any]]:
        # no `since`: Binance caps a since-query at a 7-day window, the default is the latest trades
        trades = await with_retry(lambda: self._ex.fetch_my_trades(live.symbol), base_wait_s=self._wait)
        side = exit_side(live.position.side)
        return [
            t for t in trades
            if t.get("side") == side and int(t.get("timestamp") or 0) >= live.opened_ms
            and str(t.get("order")) not in live.booked_order_ids and str(t.get("order")) != live.entry_order_id
        ]

    async def _roles_by_fill_order(self, live: LivePosition) -> dict[str, str]:
        """A triggered conditional order fills through a new market order (Binance: `actualOrderId`);
        map those ids back to the stop or target that fired."""
        roles: dict[str, str] = {}
        for resting in live.resting():
            role = {"stop": stop_reason(live.position), "trail": "trailing"}.get(resting.role, resting.role)
            roles[resting.order_id] = role
            try:
                order = await with_retry(
                    partial(self._ex.fetch_order, resting.order_id, live.symbol, venue_of(self._ex).trigger_query()),
                    base_wait_s=self._wait,
                )
            except ccxt.OrderNotFound:
                continue
            actual = (order.get("info") or {}).get("actualOrderId")
            if actual:
                roles[str(actual)] = role
        return roles

    async def _book_fills(self, live: LivePosition, qty: float) -> list[TradeEvent]:
        """Book up to `qty` of exit fills found in the exchange's trades, one leg per exit order; the
        position's unbooked funding goes to the legs pro rata to their share of what was open."""
        trades = await self._exit_trades(live)
        roles = await self._roles_by_fill_order(live) if trades else {}
        by_order: dict[str, list[dict[str, Any]]] = {}
        for t in trades:
            by_order.setdefault(str(t.get("order")), []).append(t)
        funding = await self._keeper.unbooked_funding(live)
        open_qty = live.position.qty
        events: list[TradeEvent] = []
        remaining = qty
        for order_id, fills in by_order.items():
            if remaining <= 0:
                break
            filled = min(sum(float(f["amount"]) for f in fills), remaining)
            price = sum(float(f["amount"]) * float(f["price"]) for f in fills) / sum(float(f["amount"]) for f in fills)
            fee = sum(float((f.get("fee") or {}).get("cost") or 0.0) for f in fills)
            share = funding * filled / open_qty
            events.append(
                await self._keeper.book_exit(live, filled, price, roles.get(order_id, "external"), fee, order_id,
                                             funding=share)
            )
            funding, open_qty, remaining = funding - share, open_qty - filled, remaining - filled
        if remaining > 1e-12:
            # no trade found (history not yet visible): book at the stop so the book never overstates
            share = funding * remaining / open_qty
            events.append(
                await self._keeper.book_exit(live, remaining, live.position.stop_loss, "external", None, "unknown",
                                             funding=share)
            )
        return events

    async def _book_closed(self, live: LivePosition) -> list[TradeEvent]:
        events = await self._book_fills(live, live.position.qty)
        for resting in live.resting():  # e.g. the targets left behind when the stop filled
            await cancel_trigger(self._ex, live.symbol, resting.order_id, wait_s=self._wait)
        await self._ledger.remove(live.symbol)
        reasons = ", ".join(e.reason for e in events)
        await self._alert(f"{live.symbol}: position closed on the exchange ({reasons}); booked")
        return events

    async def _book_reduced(self, reduced: Reduced) -> list[TradeEvent]:
        live = reduced.live
        closed_qty = live.position.qty - reduced.exchange_qty
        events = await self._book_fills(live, closed_qty)
        pos = live.position
        pos.qty = reduced.exchange_qty
        hit = {e.reason for e in events} & {t.role for t in live.targets}
        tp1_hit = "tp1" in hit or (any(t.role == "tp1" for t in live.targets) and pos.targets_hit == 0)
        if tp1_hit:
            hit.add("tp1")
        live.targets = [t for t in live.targets if t.role not in hit]
        pos.targets_hit = max([pos.targets_hit, *(int(role[2:]) for role in hit)])
        await self._ledger.save(live)
        if tp1_hit:  # to break-even, unless the profit lock is already beyond it (as the exit ladder)
            await self._keeper.move_stop(live, pos.entry_price if pos.sign * (pos.entry_price - pos.stop_loss) > 0
                                         else pos.stop_loss)
            events.append(
                TradeEvent("stop_moved", pos.id, pos.symbol, pos.side, self._clock.now(), pos.stop_loss, pos.qty,
                           signal_id=pos.signal_id, reason="breakeven", position=pos)
            )
            await self._keeper.start_trailing(live, pos.take_profit[0])
        else:
            await self._keeper.move_stop(live, pos.stop_loss)  # resize the stop to what is left
            if live.trail is not None:
                await self._keeper.start_trailing(live, live.trail.price)
        return events
