"""The live broker: real orders through ccxt, protected by reduce-only orders resting on the exchange.

Same `Broker` protocol as the paper broker (DESIGN §3). What it guarantees (issue #7):
- an entry is a market order with a client id derived from (cycle, symbol): a retry never doubles it;
- right after the fill a reduce-only stop-market and the take-profit orders rest on the exchange, so
  the position stays protected if the bot dies; if they cannot be placed the position is closed;
- a stop moves (to break-even after TP1) by placing the new stop before cancelling the old one;
- closing sends a reduce-only market order first and only then cancels the protective orders;
- every cycle (`sync`) reconciles the ledger with the exchange (`core.execution.reconcile.Reconciler`);
- each closed leg carries its pro-rata share of the funding the exchange settled on the position since
  entry (`fetch_funding_history`), so net = gross − fees + funding as for the paper broker;
- one change at a time: the hourly cycle, the minute monitor and an admin's /close or /closeall may call
  in together, so every public entry point (start, execute, sync, close_position, close_all, reconcile)
  holds one lock and works through private helpers that never take it (a close that finds nothing left
  reconciles from inside the lock instead of calling `sync`). Without it two closes of one position both
  booked the same fill. The `PositionKeeper` methods (`protect`, `move_stop`, `book_exit`,
  `unbooked_funding`, `start_trailing`, `keep_trailing`) are for the reconciler, which only runs under it;
- after TP1 the rest trails (`core.execution.exchange_trailing`): a trailing stop resting on the exchange
  where the venue has one, else the bot moves the stop;
- an entry that fills beyond its stop (the market ran through it before the fill) is closed at once.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

import ccxt.async_support as ccxt

from core.execution.exchange_errors import ErrorKind, OrderRejected, classify, describe, with_retry
from core.execution.exchange_ledger import ExchangeLedger, LivePosition, RestingOrder
from core.execution.exchange_orders import (
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
from core.execution.exchange_trailing import Trailing
from core.execution.reconcile import Reconciler
from core.execution.venues import venue_of
from core.models import AccountView, ClosedTrade, OrderIntent, Position, TradeEvent, side_sign
from core.protocols import Alert, Clock

log = logging.getLogger(__name__)

FUNDING_ROWS = 1000  # Binance's maximum page of /fapi/v1/income


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
        trail_after_tp1_pct: float = 0.0,
        lock_trigger_pct: float = 0.0,
        lock_offset_pct: float = 0.15,
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
        self._one_change = asyncio.Lock()  # see the module docstring: public entry points only
        self._reconciler = Reconciler(exchange, ledger, self, clock, alert=alert, wait_s=retry_wait_s)
        self._trailing = Trailing(exchange, ledger, self.move_stop, alert=alert, wait_s=retry_wait_s,
                                  trail_pct=trail_after_tp1_pct, lock_trigger_pct=lock_trigger_pct,
                                  lock_offset_pct=lock_offset_pct)
        self._last_account: AccountView | None = None

    # ---- state -------------------------------------------------------------------------------

    @property
    def entries_paused(self) -> str | None:
        """Why new entries are refused right now (exchange unavailable), or None."""
        return self._paused_reason

    async def start(self) -> list[TradeEvent]:
        """Load markets and reconcile: call once before the first cycle."""
        async with self._one_change:
            await with_retry(self._ex.load_markets, base_wait_s=self._wait)
            return await self._sync()

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
        equity, available = venue_of(self._ex).account_figures(balance, self._quote)
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
        async with self._one_change:
            return await self._execute(intent)

    async def _execute(self, intent: OrderIntent) -> list[TradeEvent]:
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
        if side_sign(intent.side) * (average - intent.stop_loss) <= 0:
            await self._exit_through_stop(intent, key, filled, average, fee)
            return []
        position = Position.opened(
            intent, id=key, qty=filled, price=average, when=now, liquidation_price=intent.est_liquidation,
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
            await self.protect(live)
        except (OrderRejected, ccxt.BaseError) as error:
            await self._alert(
                f"{intent.symbol}: protective orders failed ({describe(error)}); closing the position at market"
            )
            events += await self._close_live(live, "unprotected")
            return events
        await self._ledger.save(live)
        return events

    async def _exit_through_stop(
        self, intent: OrderIntent, key: str, filled: float, average: float, entry_fee: float | None
    ) -> None:
        """The market ran through the stop between the decision and the fill: no stop can rest on the right
        side of this entry, so it is closed at once and booked as stopped out (never announced as an entry)."""
        await self._alert(
            f"{intent.symbol}: entry filled at {average}, already beyond its stop {intent.stop_loss}; closing at market"
        )
        try:
            order = await place_market(self._ex, intent.symbol, exit_side(intent.side), filled, client_id(key, "x1"),
                                       reduce_only=True, wait_s=self._wait)
        except ccxt.BaseError as error:
            await self._alert(f"{intent.symbol}: could not close it ({describe(error)}): a {intent.side} of {filled} "
                              "is open WITHOUT a stop — close it by hand")
            return
        qty, price = order_fill(order)
        if qty < filled * 0.999:
            await self._alert(f"{intent.symbol}: only {qty} of {filled} closed; the rest is for reconciliation")
        if qty <= 0 or price is None:
            return
        now = self._clock.now()
        entry_fees = entry_fee if entry_fee is not None else filled * average * self._fee_rate
        exit_fee = order_fee(order)
        fees = entry_fees * qty / filled + (exit_fee if exit_fee is not None else qty * price * self._fee_rate)
        gross = side_sign(intent.side) * (price - average) * qty
        await self._ledger.add_trade(ClosedTrade(
            position_id=key, symbol=intent.symbol, side=intent.side, entry_time=now, entry_price=average,
            exit_time=now, exit_price=price, qty=qty, leverage=intent.leverage, stop_loss=intent.stop_loss,
            exit_reason="stop", gross_pnl=gross, fees=fees, funding=0.0, net_pnl=gross - fees,
            signal_id=intent.signal_id, confidence=intent.confidence,
        ))

    async def _enter(self, intent: OrderIntent, cid: str) -> dict[str, Any]:
        rules = MarketRules.of(self._ex, intent.symbol)
        qty = rules.amount(intent.qty)
        rules.check_entry(qty, intent.reference_price)
        balance = await with_retry(lambda: self._ex.fetch_balance(), base_wait_s=self._wait)
        free = venue_of(self._ex).account_figures(balance, self._quote)[1]
        needed = qty * intent.reference_price / intent.leverage * self._margin_buffer
        if needed > free:
            raise OrderRejected(f"{intent.symbol} needs {needed:.2f} {self._quote} of margin, {free:.2f} available")
        await self._prepare_symbol(intent.symbol, intent.leverage)
        return await place_market(
            self._ex, intent.symbol, entry_side(intent.side), qty, cid, reduce_only=False, wait_s=self._wait
        )

    async def _prepare_symbol(self, symbol: str, leverage: int) -> None:
        await venue_of(self._ex).prepare_symbol(self._ex, symbol, leverage, wait_s=self._wait)

    async def protect(self, live: LivePosition) -> None:
        pos = live.position
        rules = MarketRules.of(self._ex, pos.symbol)
        if live.stop is None:
            await self._place_new_stop(live, pos.stop_loss, rules)
        if not live.targets and pos.take_profit:
            for i, size in split_targets(rules, pos.qty, len(pos.take_profit), self._tp1_fraction):
                role = f"tp{i + 1}"
                cid = client_id(live.key, f"t{i + 1}")
                price = rules.price(pos.take_profit[i])
                order = await place_take_profit(self._ex, pos.symbol, pos.side, size, price, cid, wait_s=self._wait)
                live.targets.append(RestingOrder(role, cid, str(order.get("id")), price, size))  # type: ignore[arg-type]

    # ---- trailing (core.execution.exchange_trailing) -------------------------------------------

    async def start_trailing(self, live: LivePosition, price: float) -> None:
        await self._trailing.start(live, price)

    async def keep_trailing(self, live: LivePosition, mark: float) -> None:
        await self._trailing.keep(live, mark)

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
        async with self._one_change:
            return await self._close_symbol(symbol, reason)

    async def close_all(self, reason: str = "manual") -> list[TradeEvent]:
        async with self._one_change:
            events: list[TradeEvent] = []
            for symbol in [live.symbol for live in await self._ledger.live_positions()]:
                try:
                    events += await self._close_symbol(symbol, reason)
                except ccxt.BaseError as error:  # one failure must not leave the others open
                    await self._alert(f"{symbol}: close failed ({describe(error)}); will retry next cycle")
            return events

    async def _close_symbol(self, symbol: str, reason: str) -> list[TradeEvent]:
        # read afresh: closing the previous symbol may have reconciled (and changed or removed) this one
        for live in await self._ledger.live_positions():
            if live.symbol == symbol:
                return await self._close_live(live, reason)
        return []

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
            return await self._sync()
        filled, average = order_fill(order)
        price = average or pos.entry_price
        funding = await self.unbooked_funding(live)
        if 0 < filled < pos.qty * 0.999:
            # partly closed: book what filled, keep the rest protected by a stop of the right size
            event = await self.book_exit(live, filled, price, reason, order_fee(order), str(order.get("id")),
                                         funding=funding * filled / pos.qty)
            pos.qty -= filled
            await self.move_stop(live, pos.stop_loss)
            if live.trail is not None:
                await self.start_trailing(live, live.trail.price)  # resized to what is left
            await self._alert(f"{pos.symbol}: close filled {filled} only; {pos.qty} still open and protected")
            return [event]
        for resting in live.resting():  # only after the close: never unprotected while it is open
            await cancel_trigger(self._ex, pos.symbol, resting.order_id, wait_s=self._wait)
        event = await self.book_exit(live, filled or pos.qty, price, reason, order_fee(order), str(order.get("id")),
                                     funding=funding)
        await self._ledger.remove(pos.symbol)
        return [event]

    async def book_exit(
        self, live: LivePosition, qty: float, price: float, reason: str, fee: float | None, order_id: str,
        *, funding: float,
    ) -> TradeEvent:
        """Book one closed leg; `funding` is this leg's share of the funding the exchange settled."""
        pos = live.position
        now = self._clock.now()
        exit_fee = fee if fee is not None else qty * price * self._fee_rate
        entry_fee = pos.fees_paid * qty / pos.initial_qty  # the entry fee, pro rata per leg
        trade = pos.closed_leg(qty=qty, price=price, when=now, reason=reason, fees=exit_fee + entry_fee, funding=funding)
        live.booked_order_ids.append(order_id)
        live.funding_booked += funding
        await self._ledger.add_trade(trade)
        return TradeEvent(
            "exit", pos.id, pos.symbol, pos.side, now, price, qty, signal_id=pos.signal_id, reason=reason,
            net_pnl=trade.net_pnl, trade=trade, position=pos,
        )

    async def unbooked_funding(self, live: LivePosition) -> float:
        """Funding the exchange settled on this position since it opened (positive: received) that no leg
        carries yet; 0.0 when the exchange cannot say, so a close is never held up by it."""
        if not self._ex.has.get("fetchFundingHistory"):
            log.warning("%s: %s has no funding history; booking 0.0 funding", live.symbol, self._ex.id)
            return 0.0
        try:
            # settlements are every 8 h: 1000 rows cover ~333 days of one position
            rows = await with_retry(
                lambda: self._ex.fetch_funding_history(live.symbol, live.opened_ms, FUNDING_ROWS),
                base_wait_s=self._wait,
            )
        except ccxt.BaseError as error:
            log.warning("%s: funding history unavailable (%s); booking 0.0 funding", live.symbol, describe(error))
            return 0.0
        venue = venue_of(self._ex)
        settled = sum(
            venue.funding_received(r) for r in rows
            if venue.row_symbol(r) in (None, live.symbol) and int(r.get("timestamp") or 0) >= live.opened_ms
        )
        return settled - live.funding_booked

    # ---- reconciliation ----------------------------------------------------------------------

    async def sync(self, as_of: datetime) -> list[TradeEvent]:
        """Reconcile with the exchange; a temporary failure waits for the next tick."""
        async with self._one_change:
            return await self._sync()

    async def _sync(self) -> list[TradeEvent]:
        try:
            events = await self._reconcile()
        except ccxt.BaseError as error:
            kind = classify(error)
            if kind is ErrorKind.UNAVAILABLE:
                await self._pause(describe(error))
            elif kind is not ErrorKind.TEMPORARY:
                await self._alert(f"reconciliation failed: {describe(error)}")
            log.warning("reconciliation skipped this tick: %s", describe(error))
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
        async with self._one_change:
            return await self._reconcile()

    async def _reconcile(self) -> list[TradeEvent]:
        await self._ready()
        return await self._reconciler.run()

    # ---- errors ------------------------------------------------------------------------------

    async def _on_entry_error(self, intent: OrderIntent, error: BaseException) -> None:
        kind = classify(error)
        key_problem = venue_of(self._ex).diagnose(error)
        if key_problem:  # e.g. Hyperliquid's unknown signer comes as InvalidOrder: still the keys, not the intent
            await self._pause(key_problem)
            await self._reject(intent, f"exchange refused our credentials or account: {key_problem}")
        elif kind is ErrorKind.UNAVAILABLE:
            await self._pause(describe(error))
            await self._reject(intent, f"exchange unavailable: {describe(error)}")
        elif kind is ErrorKind.FATAL:
            await self._pause(describe(error))
            await self._reject(intent, f"exchange refused our credentials or account: {describe(error)}")
        else:
            await self._reject(intent, describe(error))

    async def _reject(self, intent: OrderIntent, why: str) -> None:
        log.warning("intent %s %s rejected: %s", intent.symbol, intent.side, why)
        await self._alert(f"{intent.symbol} {intent.side} not opened: {why}")

    async def _pause(self, why: str) -> None:
        if self._paused_reason is None:
            self._paused_reason = why
            await self._alert(f"exchange unavailable ({why}): new entries paused until it answers again")


def _view_fields(view: AccountView) -> dict[str, Any]:
    return {
        "equity": view.equity,
        "available": view.available,
        "recent_trades": view.recent_trades,
        "day_start_equity": view.day_start_equity,
        "peak_equity": view.peak_equity,
    }

