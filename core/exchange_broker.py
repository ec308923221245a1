"""The live broker: real orders through ccxt, protected by reduce-only orders resting on the exchange.

Same `Broker` protocol as the paper broker (DESIGN §3). What it guarantees (issue #7):
- an entry is a market order with a client id derived from (cycle, symbol): a retry never doubles it;
- right after the fill a reduce-only stop-market and the take-profit orders rest on the exchange, so
  the position stays protected if the bot dies; if they cannot be placed the position is closed;
- a stop moves (to break-even after TP1) by placing the new stop before cancelling the old one;
- closing sends a reduce-only market order first and only then cancels the protective orders;
- every cycle (`sync`) reconciles the ledger with the exchange (see `core.reconcile`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import ccxt.async_support as ccxt

from core.exchange_errors import ErrorKind, OrderRejected, classify, with_retry
from core.exchange_ledger import ExchangeLedger, LivePosition, RestingOrder
from core.exchange_orders import (
    MarketRules,
    cancel_trigger,
    client_id,
    entry_side,
    exit_side,
    order_fee,
    order_fill,
    place_market,
    place_stop,
    place_take_profit,
    position_key,
    split_targets,
)
from core.models import AccountView, OrderIntent, Position, TradeEvent
from core.protocols import Clock
from core.reconcile import ExchangePosition, OpenOrder, ReconcilePlan, Reduced, plan_reconciliation

log = logging.getLogger(__name__)

Alert = Callable[[str], Awaitable[None]]


async def _no_alert(_text: str) -> None:
    return None


class ExchangeBroker:
    def __init__(
        self,
        exchange: ccxt.Exchange,
        ledger: ExchangeLedger,
        clock: Clock,
        *,
        alert: Alert = _no_alert,
        quote: str = "USDT",
        tp1_fraction: float = 0.5,
        taker_fee_bps: float = 5.0,
        margin_buffer: float = 1.02,
        retry_wait_s: float = 0.5,
    ) -> None:
        self._ex = exchange
        # open orders of every symbol in one request (heavier weight, but one call per cycle)
        self._ex.options["warnOnFetchOpenOrdersWithoutSymbol"] = False
        self._ledger = ledger
        self._clock = clock
        self._alert = alert
        self._quote = quote
        self._tp1_fraction = tp1_fraction
        self._fee_rate = taker_fee_bps / 10_000
        self._margin_buffer = margin_buffer
        self._wait = retry_wait_s
        self._paused_reason: str | None = None
        self._reported_unknown: set[tuple[str, str, float]] = set()
        self._last_account: AccountView | None = None

    # ---- state -------------------------------------------------------------------------------

    @property
    def entries_paused(self) -> str | None:
        """Why new entries are refused right now (exchange unavailable), or None."""
        return self._paused_reason

    async def start(self) -> list[TradeEvent]:
        """Load markets and reconcile: call once before the first cycle."""
        await with_retry(self._ex.load_markets, base_wait_s=self._wait)
        return await self.sync(self._clock.now())

    async def close(self) -> None:
        await self._ex.close()

    async def positions(self) -> list[Position]:
        return [live.position for live in await self._ledger.live_positions()]

    async def account(self) -> AccountView:
        positions = tuple(await self.positions())
        try:
            balance = await with_retry(lambda: self._ex.fetch_balance(), base_wait_s=self._wait)
        except ccxt.BaseError as error:
            if self._last_account is None:
                raise
            log.warning("balance unavailable (%s); using the last one", type(error).__name__)
            return AccountView(**{**_view_fields(self._last_account), "positions": positions})
        info = balance.get("info") or {}
        cash = balance.get(self._quote) or {}
        equity = float(info.get("totalMarginBalance") or cash.get("total") or 0.0)
        available = float(info.get("availableBalance") or cash.get("free") or 0.0)
        view = AccountView(
            equity=equity,
            available=available,
            positions=positions,
            recent_trades=tuple((await self._ledger.trades())[-20:]),
        )
        self._last_account = view
        return view

    # ---- entries -----------------------------------------------------------------------------

    async def execute(self, intent: OrderIntent) -> list[TradeEvent]:
        key = position_key(intent.cycle_id, intent.symbol)
        entry_cid = client_id(key, "e")
        existing = {live.symbol: live for live in await self._ledger.live_positions()}
        if intent.symbol in existing:
            if existing[intent.symbol].entry_client_id == entry_cid:
                return []  # this intent was already executed: idempotent per (cycle, symbol)
            await self._reject(intent, f"a position in {intent.symbol} is already open")
            return []
        if self._paused_reason:
            await self._reject(intent, f"entries paused: {self._paused_reason}")
            return []
        try:
            await self._ready()
            order = await self._enter(intent, entry_cid)
        except (OrderRejected, ccxt.BaseError) as error:
            await self._on_entry_error(intent, error)
            return []
        filled, average = order_fill(order)
        if filled <= 0 or average is None:
            await self._reject(intent, f"entry order {order.get('id')} did not fill (status {order.get('status')})")
            return []
        if filled < intent.qty * 0.999:
            await self._alert(f"{intent.symbol}: entry partly filled, {filled} of {intent.qty}; protecting {filled}")
        now = self._clock.now()
        fee = order_fee(order)
        position = Position(
            id=key,
            symbol=intent.symbol,
            side=intent.side,
            qty=filled,
            entry_price=average,
            entry_time=now,
            leverage=intent.leverage,
            stop_loss=intent.stop_loss,
            initial_stop=intent.stop_loss,
            take_profit=intent.take_profit,
            liquidation_price=intent.est_liquidation,
            margin=filled * average / intent.leverage,
            signal_id=intent.signal_id,
            confidence=intent.confidence,
            fees_paid=fee if fee is not None else filled * average * self._fee_rate,
        )
        live = LivePosition(
            key=key,
            position=position,
            entry_client_id=entry_cid,
            entry_order_id=str(order.get("id")),
            opened_ms=int(order.get("timestamp") or now.timestamp() * 1000),
        )
        await self._ledger.save(live)  # booked before protecting, so a crash here is reconciled
        events = [
            TradeEvent("entry", key, intent.symbol, intent.side, now, average, filled, signal_id=intent.signal_id,
                       position=position)
        ]
        try:
            await self._protect(live)
        except (OrderRejected, ccxt.BaseError) as error:
            await self._alert(
                f"{intent.symbol}: protective orders failed ({_describe(error)}); closing the position at market"
            )
            events += await self._close_live(live, "unprotected")
            return events
        await self._ledger.save(live)
        return events

    async def _enter(self, intent: OrderIntent, cid: str) -> dict[str, Any]:
        rules = MarketRules.of(self._ex, intent.symbol)
        qty = rules.amount(intent.qty)
        rules.check_entry(qty, intent.reference_price)
        balance = await with_retry(lambda: self._ex.fetch_balance(), base_wait_s=self._wait)
        free = float((balance.get(self._quote) or {}).get("free") or 0.0)
        needed = qty * intent.reference_price / intent.leverage * self._margin_buffer
        if needed > free:
            raise OrderRejected(f"{intent.symbol} needs {needed:.2f} {self._quote} of margin, {free:.2f} available")
        await self._prepare_symbol(intent.symbol, intent.leverage)
        return await place_market(
            self._ex, intent.symbol, entry_side(intent.side), qty, cid, reduce_only=False, wait_s=self._wait
        )

    async def _prepare_symbol(self, symbol: str, leverage: int) -> None:
        with contextlib.suppress(ccxt.MarginModeAlreadySet, ccxt.NoChange):
            await with_retry(lambda: self._ex.set_margin_mode("isolated", symbol), base_wait_s=self._wait)
        await with_retry(lambda: self._ex.set_leverage(leverage, symbol), base_wait_s=self._wait)

    async def _protect(self, live: LivePosition) -> None:
        pos = live.position
        rules = MarketRules.of(self._ex, pos.symbol)
        if live.stop is None:
            await self._place_new_stop(live, pos.stop_loss, rules)
        if not live.targets and pos.take_profit:
            sizes = split_targets(rules, pos.qty, min(len(pos.take_profit), 2), self._tp1_fraction)
            for i, size in enumerate(sizes):
                target = pos.take_profit[i] if len(sizes) > 1 or len(pos.take_profit) == 1 else pos.take_profit[-1]
                role = f"tp{i + 1}"
                cid = client_id(live.key, f"t{i + 1}")
                price = rules.price(target)
                order = await place_take_profit(self._ex, pos.symbol, pos.side, size, price, cid, wait_s=self._wait)
                live.targets.append(RestingOrder(role, cid, str(order.get("id")), price, size))  # type: ignore[arg-type]

    async def _place_new_stop(self, live: LivePosition, price: float, rules: MarketRules) -> RestingOrder:
        """Place a stop of the next generation; the caller cancels the previous one afterwards."""
        pos = live.position
        generation = live.stop_generation + (1 if live.stop is not None else 0)
        cid = client_id(live.key, f"s{generation}")
        rounded = rules.price(price)
        order = await place_stop(self._ex, pos.symbol, pos.side, pos.qty, rounded, cid, wait_s=self._wait)
        new_stop = RestingOrder("stop", cid, str(order.get("id")), rounded, pos.qty)
        live.stop = new_stop
        live.stop_generation = generation
        return new_stop

    async def move_stop(self, live: LivePosition, price: float) -> None:
        """New stop first, then the old one off: the position is never without a stop."""
        old = live.stop
        await self._place_new_stop(live, price, MarketRules.of(self._ex, live.symbol))
        live.position.stop_loss = live.stop.price if live.stop else price
        await self._ledger.save(live)
        if old is not None:
            await cancel_trigger(self._ex, live.symbol, old.order_id, wait_s=self._wait)

    # ---- exits -------------------------------------------------------------------------------

    async def close_position(self, symbol: str, reason: str = "manual") -> list[TradeEvent]:
        for live in await self._ledger.live_positions():
            if live.symbol == symbol:
                return await self._close_live(live, reason)
        return []

    async def close_all(self, reason: str = "manual") -> list[TradeEvent]:
        events: list[TradeEvent] = []
        for live in await self._ledger.live_positions():
            try:
                events += await self._close_live(live, reason)
            except ccxt.BaseError as error:  # one failure must not leave the others open
                await self._alert(f"{live.symbol}: close failed ({_describe(error)}); will retry next cycle")
        return events

    async def _close_live(self, live: LivePosition, reason: str) -> list[TradeEvent]:
        pos = live.position
        live.close_generation += 1
        await self._ledger.save(live)
        cid = client_id(live.key, f"x{live.close_generation}")
        try:
            order = await place_market(
                self._ex, pos.symbol, exit_side(pos.side), pos.qty, cid, reduce_only=True, wait_s=self._wait
            )
        except ccxt.InvalidOrder:
            # reduce-only refused: nothing left to close; reconciliation books whatever closed it
            return await self.sync(self._clock.now())
        filled, average = order_fill(order)
        price = average or pos.entry_price
        if 0 < filled < pos.qty * 0.999:
            # partly closed: book what filled, keep the rest protected by a stop of the right size
            event = await self._book_exit(live, filled, price, reason, order_fee(order), str(order.get("id")))
            pos.qty -= filled
            await self.move_stop(live, pos.stop_loss)
            await self._alert(f"{pos.symbol}: close filled {filled} only; {pos.qty} still open and protected")
            return [event]
        for resting in live.resting():  # only after the close: never unprotected while it is open
            await cancel_trigger(self._ex, pos.symbol, resting.order_id, wait_s=self._wait)
        event = await self._book_exit(live, filled or pos.qty, price, reason, order_fee(order), str(order.get("id")))
        await self._ledger.remove(pos.symbol)
        return [event]

    async def _book_exit(
        self, live: LivePosition, qty: float, price: float, reason: str, fee: float | None, order_id: str
    ) -> TradeEvent:
        pos = live.position
        now = self._clock.now()
        exit_fee = fee if fee is not None else qty * price * self._fee_rate
        entry_fee = pos.fees_paid * qty / pos.initial_qty  # the entry fee, pro rata per leg
        # funding is settled by the exchange into the wallet, not per trade
        trade = pos.closed_leg(qty=qty, price=price, when=now, reason=reason, fees=exit_fee + entry_fee, funding=0.0)
        live.booked_order_ids.append(order_id)
        await self._ledger.add_trade(trade)
        return TradeEvent(
            "exit", pos.id, pos.symbol, pos.side, now, price, qty, signal_id=pos.signal_id, reason=reason,
            net_pnl=trade.net_pnl, trade=trade, position=pos,
        )

    # ---- reconciliation ----------------------------------------------------------------------

    async def sync(self, as_of: datetime) -> list[TradeEvent]:
        """Reconcile with the exchange; a temporary failure waits for the next tick."""
        try:
            events = await self.reconcile()
        except ccxt.BaseError as error:
            kind = classify(error)
            if kind is ErrorKind.UNAVAILABLE:
                await self._pause(_describe(error))
            elif kind is not ErrorKind.TEMPORARY:
                await self._alert(f"reconciliation failed: {_describe(error)}")
            log.warning("reconciliation skipped this tick: %s", _describe(error))
            return []
        if self._paused_reason is not None:
            self._paused_reason = None
            await self._alert("exchange reachable again: entries resumed")
        return events

    async def _ready(self) -> None:
        """Markets loaded (the broker may be built lazily, e.g. by the dry-run switch, without `start`)."""
        if not self._ex.markets:
            await with_retry(self._ex.load_markets, base_wait_s=self._wait)

    async def reconcile(self) -> list[TradeEvent]:
        await self._ready()
        stored = await self._ledger.live_positions()
        raw_positions = await with_retry(lambda: self._ex.fetch_positions(), base_wait_s=self._wait)
        raw_orders = await with_retry(
            lambda: self._ex.fetch_open_orders(None, None, None, {"trigger": True}), base_wait_s=self._wait
        )
        positions = [p for p in (ExchangePosition.from_ccxt(r) for r in raw_positions) if p is not None]
        orders = [OpenOrder.from_ccxt(r) for r in raw_orders]
        plan = plan_reconciliation(stored, positions, orders)
        return await self._carry_out(plan, positions)

    async def _carry_out(self, plan: ReconcilePlan, positions: list[ExchangePosition]) -> list[TradeEvent]:
        events: list[TradeEvent] = []
        for live in plan.closed:
            events += await self._book_closed(live)
        for reduced in plan.reduced:
            events += await self._book_reduced(reduced)
        for live in plan.missing_stop:
            exchange_qty = next((p.qty for p in positions if p.symbol == live.symbol), live.position.qty)
            live.position.qty = exchange_qty
            await self._alert(f"{live.symbol}: stop missing on the exchange; placing it again at {live.position.stop_loss}")
            await self.move_stop(live, live.position.stop_loss)
            if not live.targets and live.position.targets_hit == 0:
                await self._protect(live)  # the targets never made it either (crash right after the fill)
                await self._ledger.save(live)
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

    async def _exit_trades(self, live: LivePosition) -> list[dict[str, Any]]:
        # no `since`: Binance caps a since-query at a 7-day window, the default is the latest trades
        trades = await with_retry(lambda: self._ex.fetch_my_trades(live.symbol), base_wait_s=self._wait)
        side = exit_side(live.position.side)
        return [
            t for t in trades
            if t.get("side") == side and int(t.get("timestamp") or 0) >= live.opened_ms and str(t.get("order")) not in live.booked_order_ids
            and str(t.get("order")) != live.entry_order_id
        ]

    async def _roles_by_fill_order(self, live: LivePosition) -> dict[str, str]:
        """A triggered conditional order fills through a new market order (Binance: `actualOrderId`);
        map those ids back to the stop or target that fired."""
        roles: dict[str, str] = {}
        for resting in live.resting():
            role = ("breakeven" if live.position.targets_hit > 0 else "stop") if resting.role == "stop" else resting.role
            roles[resting.order_id] = role
            try:
                order = await with_retry(
                    lambda r=resting: self._ex.fetch_order(r.order_id, live.symbol, {"trigger": True}),
                    base_wait_s=self._wait,
                )
            except ccxt.OrderNotFound:
                continue
            actual = (order.get("info") or {}).get("actualOrderId")
            if actual:
                roles[str(actual)] = role
        return roles

    async def _book_fills(self, live: LivePosition, qty: float) -> list[TradeEvent]:
        """Book up to `qty` of exit fills found in the exchange's trades, one leg per exit order."""
        trades = await self._exit_trades(live)
        roles = await self._roles_by_fill_order(live) if trades else {}
        by_order: dict[str, list[dict[str, Any]]] = {}
        for t in trades:
            by_order.setdefault(str(t.get("order")), []).append(t)
        events: list[TradeEvent] = []
        remaining = qty
        for order_id, fills in by_order.items():
            if remaining <= 0:
                break
            filled = min(sum(float(f["amount"]) for f in fills), remaining)
            price = sum(float(f["amount"]) * float(f["price"]) for f in fills) / sum(float(f["amount"]) for f in fills)
            fee = sum(float((f.get("fee") or {}).get("cost") or 0.0) for f in fills)
            events.append(await self._book_exit(live, filled, price, roles.get(order_id, "external"), fee, order_id))
            remaining -= filled
        if remaining > 1e-12:
            # no trade found (history not yet visible): book at the stop so the book never overstates
            events.append(await self._book_exit(live, remaining, live.position.stop_loss, "external", None, "unknown"))
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
        tp1 = next((t for t in live.targets if t.role == "tp1"), None)
        tp1_hit = any(e.reason == "tp1" for e in events) or (tp1 is not None and pos.targets_hit == 0)
        if tp1 is not None and tp1_hit:
            live.targets = [t for t in live.targets if t.role != "tp1"]
            pos.targets_hit = max(pos.targets_hit, 1)
        await self._ledger.save(live)
        if tp1_hit:
            await self.move_stop(live, pos.entry_price)
            events.append(
                TradeEvent("stop_moved", pos.id, pos.symbol, pos.side, self._clock.now(), pos.stop_loss, pos.qty,
                           signal_id=pos.signal_id, reason="breakeven", position=pos)
            )
        else:
            await self.move_stop(live, pos.stop_loss)  # resize the stop to what is left
        return events

    # ---- errors ------------------------------------------------------------------------------

    async def _on_entry_error(self, intent: OrderIntent, error: BaseException) -> None:
        kind = classify(error)
        if kind is ErrorKind.UNAVAILABLE:
            await self._pause(_describe(error))
            await self._reject(intent, f"exchange unavailable: {_describe(error)}")
        elif kind is ErrorKind.FATAL:
            await self._pause(_describe(error))
            await self._reject(intent, f"exchange refused our credentials or account: {_describe(error)}")
        else:
            await self._reject(intent, _describe(error))

    async def _reject(self, intent: OrderIntent, why: str) -> None:
        log.warning("intent %s %s rejected: %s", intent.symbol, intent.side, why)
        await self._alert(f"{intent.symbol} {intent.side} not opened: {why}")

    async def _pause(self, why: str) -> None:
        if self._paused_reason is None:
            self._paused_reason = why
            await self._alert(f"exchange unavailable ({why}): new entries paused until it answers again")


def _describe(error: BaseException) -> str:
    """Short, key-free description: ccxt messages carry the exchange's reply, never our credentials."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text[:200]}" if text else type(error).__name__


def _view_fields(view: AccountView) -> dict[str, Any]:
    return {
        "equity": view.equity,
        "available": view.available,
        "recent_trades": view.recent_trades,
        "day_start_equity": view.day_start_equity,
        "peak_equity": view.peak_equity,
    }

