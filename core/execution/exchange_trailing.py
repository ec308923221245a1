"""After TP1 the rest of a live position trails 1 R behind the best price (DESIGN §5, as the exit ladder
trails in paper and replay), kept by the exchange where it can:

- a reduce-only trailing stop resting on the exchange beside the break-even stop (Binance USDⓈ-M:
  TRAILING_STOP_MARKET with callbackRate), so it survives the bot; placed again, new before old off, when
  the position's size changes or the order is gone;
- where the venue has no such order (or refuses it), the bot trails: at each sync it follows the best mark
  price and moves the stop behind it (new stop first, then the old one off), and says so in its log and in
  `/positions`;
- before TP1, the ladder's profit lock when configured (LOCK_PROFIT_TRIGGER_PCT): once the best mark is that
  far in profit the stop moves to entry + LOCK_PROFIT_OFFSET_PCT, by the bot (no venue order does this).

Used by `ExchangeBroker` under its one-change-at-a-time lock.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import ccxt.async_support as ccxt

from core.execution.exchange_errors import OrderRejected, describe
from core.execution.exchange_ledger import ExchangeLedger, LivePosition, RestingOrder
from core.execution.exchange_orders import (
    MarketRules,
    cancel_trigger,
    client_id,
    place_trailing_stop,
    supports_trailing,
    trailing_percent,
)
from core.protocols import Alert

log = logging.getLogger(__name__)

TRAIL_STEP_PCT = 0.1  # the bot moves a trailing stop only by this much of the price: each move is two requests


class Trailing:
    def __init__(
        self,
        exchange: ccxt.Exchange,
        ledger: ExchangeLedger,
        move_stop: Callable[[LivePosition, float], Awaitable[None]],
        *,
        alert: Alert,
        wait_s: float,
        trail_pct: float = 0.0,
        lock_trigger_pct: float = 0.0,
        lock_offset_pct: float = 0.15,
    ) -> None:
        self._ex = exchange
        self._trail_pct = trail_pct  # TRAIL_AFTER_TP1_PCT: 0 = 1 R behind the best price, else this % of it
        self._lock_trigger_pct = lock_trigger_pct  # 0 = no profit lock before TP1
        self._lock_offset_pct = lock_offset_pct
        self._ledger = ledger
        self._move_stop = move_stop
        self._alert = alert
        self._wait = wait_s

    async def start(self, live: LivePosition, price: float) -> None:
        """From TP1 on (and again when the size changes), trailing from `price`. A network failure leaves it
        to the next sync (`keep`), never undoes the booking that led here."""
        pos = live.position
        pct = trailing_percent(pos.entry_price, pos.initial_stop, price, self._trail_pct)
        if not supports_trailing(self._ex) or pct is None:
            why = (f"{self._ex.id} has no trailing stop order" if not supports_trailing(self._ex)
                   else "the trail is wider than the 10 % a trailing order can follow")
            log.info("%s: %s; the bot trails by moving the stop (new before old off)", pos.symbol, why)
            live.trail_by_bot = True
            await self._ledger.save(live)
            return
        old = live.trail
        generation = live.trail_generation + (1 if old is not None else 0)
        cid = client_id(live.key, f"r{generation}")
        try:
            order = await place_trailing_stop(self._ex, pos.symbol, pos.side, pos.qty, pct, cid, wait_s=self._wait)
        except (OrderRejected, ccxt.InvalidOrder) as error:
            await self._alert(f"{pos.symbol}: trailing stop refused ({describe(error)}); the bot trails by moving "
                              "the stop instead")
            live.trail_by_bot = True
            await self._ledger.save(live)
            return
        except ccxt.BaseError as error:
            log.warning("%s: trailing stop not placed (%s); trying again next sync", pos.symbol, describe(error))
            return
        live.trail = RestingOrder("trail", cid, str(order.get("id")), price, pos.qty, callback_pct=pct)
        live.trail_generation = generation
        pos.trailing_on_exchange_pct = pct
        await self._ledger.save(live)
        log.info("%s: trailing stop resting on %s, %.1f %% behind the best mark price, for %s",
                 pos.symbol, self._ex.id, pct, pos.qty)
        if old is not None:
            await cancel_trigger(self._ex, pos.symbol, old.order_id, wait_s=self._wait)

    async def keep(self, live: LivePosition, mark: float) -> None:
        """At each sync, for a position whose book and exchange agree: before TP1 the profit lock (when
        configured); after it, with no trailing order resting, place one (after a failed attempt, or for a
        position from before), or where the bot trails, move the stop."""
        if live.position.targets_hit == 0:
            await self._lock_profit(live, mark)
        elif live.trail is None and live.trail_by_bot:
            await self._by_moving_stop(live, mark)
        elif live.trail is None:
            await self.start(live, mark)

    async def _lock_profit(self, live: LivePosition, mark: float) -> None:
        pos = live.position
        if self._lock_trigger_pct <= 0:
            return
        if pos.sign * (mark - pos.best_price) > 0:
            pos.best_price = mark
            await self._ledger.save(live)
        if pos.sign * (pos.best_price - pos.entry_price) < pos.entry_price * self._lock_trigger_pct / 100:
            return
        lock = MarketRules.of(self._ex, pos.symbol).price(pos.entry_price * (1 + pos.sign * self._lock_offset_pct / 100))
        if pos.sign * (lock - pos.stop_loss) > 0:
            pos.trailing_stop = lock
            await self._move_stop(live, lock)
            log.info("%s: profit locked: stop moved to %s (best %s)", pos.symbol, lock, pos.best_price)

    async def _by_moving_stop(self, live: LivePosition, mark: float) -> None:
        """Follow the best mark seen at syncs; move the stop up to 1 R behind it, only ever tighter and by at
        least `TRAIL_STEP_PCT` of the price."""
        pos = live.position
        if pos.sign * (mark - pos.best_price) > 0:
            pos.best_price = mark
        rules = MarketRules.of(self._ex, pos.symbol)
        r = abs(pos.entry_price - pos.initial_stop)
        distance = pos.best_price * self._trail_pct / 100 if self._trail_pct > 0 else r
        trail = rules.price(pos.best_price - pos.sign * distance)
        if pos.sign * (trail - pos.stop_loss) < mark * TRAIL_STEP_PCT / 100:
            await self._ledger.save(live)  # the best price, for the next sync
            return
        pos.trailing_stop = trail
        await self._move_stop(live, trail)
        log.info("%s: the bot moved the trailing stop to %s (best %s; no trailing stop order rests on %s)",
                 pos.symbol, trail, pos.best_price, self._ex.id)
