"""PaperBroker (DESIGN §6): honest simulated execution for dry-run, demo and replay.

- An intent accepted at as_of T fills at the open of the first base bar with open_time ≥ T (never at the
  close that produced the decision), with slippage against the trader and the taker fee.
- Isolated margin, funding at each settlement strictly after entry and up to exit, liquidation when the
  position's equity falls to maintenance margin, intrabar stop/target resolution (core.execution.exit_ladder).
- Every step is committed to the BookStore as one BookChange before events are returned, and the book
  (positions with their last processed bar, pending orders, cash, peak) is reloaded on start, so a
  restart continues exactly and re-running the same cycle changes nothing.

Accounting identity: cash = initial + Σ net_pnl of closed legs, equity = cash + Σ open (unrealized −
unallocated entry fees + funding so far); net = gross − fees + funding. Entry fees and funding are
allocated to legs in proportion to their quantity, the last leg taking the exact remainder.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol, cast

import pandas as pd

from core.config import CostModel, RiskLimits
from core.execution.exit_ladder import LifecycleRules, apply_bar, apply_funding, carry_best, quiet_span
from core.execution.paper_book import BookChange, BookedPosition, BookStore, Fill, PendingOrder
from core.execution.perp_math import BPS, MIN_NOTIONAL, liquidation_price, slipped_price
from core.models import AccountView, ClosedTrade, OrderIntent, Position, TradeEvent
from core.protocols import Clock, MarketData

Bar = tuple[int, float, float, float, float]  # open_time_ms, open, high, low, close


class BarFeed(Protocol):
    """Base bars and funding settlements for the paper broker (live: from MarketData; replay: numpy)."""

    timeframe_ms: int

    async def bars(self, symbol: str, start_ms: int, until_ms: int) -> Sequence[Bar]:
        """Bars with open_time ≥ start_ms and open_time + timeframe ≤ until_ms, oldest first."""
        ...

    async def funding(self, symbol: str, after_ms: int, until_ms: int) -> Sequence[tuple[int, float]]:
        """Settlements (time_ms, rate) with after_ms < time ≤ until_ms, oldest first."""
        ...


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


_TF_MS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": 3_600_000, "4h": 14_400_000}


class MarketDataBarFeed:
    """BarFeed over any MarketData (ccxt or offline files): fetches the closed candles it needs."""

    def __init__(self, market_data: MarketData, timeframe: str = "1h", max_bars: int = 1000) -> None:
        if timeframe not in _TF_MS:
            raise ValueError(f"timeframe must be one of {', '.join(_TF_MS)}, got {timeframe!r}")
        self._md = market_data
        self._tf = timeframe
        self.timeframe_ms = _TF_MS[timeframe]
        self._max = max_bars

    async def bars(self, symbol: str, start_ms: int, until_ms: int) -> Sequence[Bar]:
        """Every closed bar from `start_ms` to `until_ms`, paging back in `max_bars` steps: after a long
        downtime no bar may be skipped, or a stop touched while the bot was down would go unseen."""
        out: list[Bar] = []
        end = until_ms
        while end - start_ms >= self.timeframe_ms:
            limit = int(min(self._max, (end - start_ms) // self.timeframe_ms + 2))
            frame = await self._md.candles(symbol, self._tf, until=from_ms(end), limit=limit)
            page: list[Bar] = []
            for ts, o, h, low, c in zip(frame.index, frame["open"], frame["high"], frame["low"], frame["close"],
                                        strict=True):
                t = int(pd.Timestamp(cast(datetime, ts)).value // 1_000_000)
                if t >= start_ms and t + self.timeframe_ms <= end:
                    page.append((t, float(o), float(h), float(low), float(c)))
            out[:0] = page
            if len(frame) < limit or not page or page[0][0] - start_ms < self.timeframe_ms:
                break  # reached the start, or the source has nothing older
            end = page[0][0]
        return out

    async def funding(self, symbol: str, after_ms: int, until_ms: int) -> Sequence[tuple[int, float]]:
        if until_ms <= after_ms:
            return ()
        series = await self._md.funding_rates(symbol, since=from_ms(after_ms), until=from_ms(until_ms))
        out = []
        for ts, rate in series.items():
            t = int(pd.Timestamp(cast(datetime, ts)).value // 1_000_000)
            if after_ms < t <= until_ms and rate == rate:
                out.append((t, float(rate)))
        return out


class PaperBroker:
    def __init__(
        self,
        *,
        feed: BarFeed,
        store: BookStore,
        clock: Clock,
        initial_equity: float,
        costs: CostModel | None = None,
        limits: RiskLimits | None = None,
        recent_trades: int = 50,
    ) -> None:
        if not initial_equity > 0:
            raise ValueError(f"initial_equity must be positive, got {initial_equity}")
        costs = costs or CostModel()
        limits = limits or RiskLimits()
        self._feed = feed
        # a feed may resolve each symbol on its own timeframe (replay: 5m where a symbol has it, else 1h)
        self._timeframe_ms_for: Callable[[str], int] | None = getattr(feed, "timeframe_ms_for", None)
        self._store = store
        self._clock = clock
        self._initial = float(initial_equity)
        self._fee = costs.taker_fee_bps * BPS
        self._slip = costs.slippage_bps * BPS
        self._mmr = costs.maintenance_margin_rate
        self._rules = LifecycleRules(
            tp1_fraction=limits.tp1_close_fraction,
            stale_ms=int(limits.stale_exit_h * 3_600_000),
            stale_min_profit_pct=limits.stale_min_profit_pct,
            mmr=costs.maintenance_margin_rate,
            slippage=self._slip,
            lock_trigger_pct=limits.lock_profit_trigger_pct,
            lock_offset_pct=limits.lock_profit_offset_pct,
            trail_after_tp1_pct=limits.trail_after_tp1_pct,
        )
        self._recent_n = recent_trades
        # One change of the book at a time: live, the hourly cycle, the minute monitor and an admin's /close
        # can reach it together, and a sync awaits bars between reading a position and booking them.
        self._changing = asyncio.Lock()
        self._loaded = False
        self._positions: dict[str, BookedPosition] = {}
        self._entry_ms: dict[str, int] = {}
        self._orders: dict[str, PendingOrder] = {}  # by symbol
        self._order_ids: set[str] = set()
        self._recent: list[ClosedTrade] = []
        self._cash = self._initial
        self._peak = self._initial
        self._day = ""
        self._day_number = -1  # until_ms // one day, at the last sync
        self._day_start = self._initial
        self._last_sync_ms = 0

    # ---- loading --------------------------------------------------------------------------------

    async def _ensure(self) -> None:
        if self._loaded:
            return
        book = await self._store.load(self._recent_n)
        self._positions = {b.position.symbol: b for b in book.positions}
        self._entry_ms = {b.position.symbol: to_ms(b.position.entry_time) for b in book.positions}
        self._orders = {o.intent.symbol: o for o in book.orders}
        self._order_ids = set(book.order_ids)
        self._recent = list(book.recent_trades)
        self._cash = float(book.meta.get("cash", self._initial))
        self._peak = float(book.meta.get("peak_equity", self._initial))
        self._day = str(book.meta.get("day", ""))
        self._day_start = float(book.meta.get("day_start_equity", self._initial))
        self._last_sync_ms = int(float(book.meta.get("last_sync_ms", 0)))
        self._loaded = True

    async def _commit(self, change: BookChange) -> None:
        try:
            await self._store.commit(change)
        except BaseException:
            self._loaded = False  # memory may be ahead of the store: reload the last committed book
            raise

    # ---- reading --------------------------------------------------------------------------------

    def _open_value(self) -> tuple[float, float]:
        value = 0.0
        margin = 0.0
        for booked in self._positions.values():
            p = booked.position
            move = booked.mark - p.entry_price  # × side: the same floats as p.sign * move, without the property
            value += (move if p.side == "long" else -move) * p.qty - p.fees_paid + p.funding_paid
            margin += p.margin
        return value, margin

    def equity(self) -> float:
        return self._cash + self._open_value()[0]

    async def account(self) -> AccountView:
        await self._ensure()
        value, margin = self._open_value()
        equity = self._cash + value
        return AccountView(
            equity=equity,
            available=equity - margin,
            positions=tuple([b.position for b in self._positions.values()]),
            recent_trades=tuple(self._recent),
            day_start_equity=self._day_start,
            peak_equity=max(self._peak, equity),
        )

    async def positions(self) -> list[Position]:
        await self._ensure()
        return [b.position for b in self._positions.values()]

    async def pending_orders(self) -> list[PendingOrder]:
        await self._ensure()
        return list(self._orders.values())

    async def rebase_peak(self) -> None:
        """The drawdown peak becomes today's equity: what resuming after a kill-switch accepts (evaluation
        policy in replay); without it the same drawdown would trip the switch again at once."""
        async with self._changing:
            await self._ensure()
            self._peak = self.equity()
            await self._commit(BookChange(meta={"peak_equity": self._peak}))

    @property
    def cash(self) -> float:
        return self._cash

    # ---- orders ---------------------------------------------------------------------------------

    async def execute(self, intent: OrderIntent) -> list[TradeEvent]:
        async with self._changing:
            await self._ensure()
            order_id = f"{intent.cycle_id}:{intent.symbol}"
            if order_id in self._order_ids or intent.symbol in self._positions or intent.symbol in self._orders:
                return []  # idempotent: the same cycle's order, or the symbol is already taken
            order = PendingOrder(order_id, intent, to_ms(intent.created_at))
            await self._commit(BookChange(add_orders=[order]))
            self._orders[intent.symbol] = order
            self._order_ids.add(order_id)
            return []

    async def sync(self, as_of: datetime) -> list[TradeEvent]:
        async with self._changing:
            await self._ensure()
            until_ms = to_ms(as_of)
            if until_ms < self._last_sync_ms:
                return []  # an hour already processed (a re-run after a restart): the book is ahead of it
            events: list[TradeEvent] = []
            change = BookChange()
            self._last_sync_ms = until_ms
            change.meta["last_sync_ms"] = until_ms
            if self._positions or self._orders:
                for symbol in sorted(set(self._positions) | set(self._orders)):
                    await self._sync_symbol(symbol, until_ms, change, events)
            equity = self.equity()
            day_number = until_ms // 86_400_000
            if day_number != self._day_number:  # the date string only once a day: this runs every bar
                self._day_number = day_number
                day = as_of.astimezone(UTC).strftime("%Y-%m-%d")
            else:
                day = self._day
            if day != self._day:
                self._day = day
                self._day_start = equity
                change.meta["day"] = day
                change.meta["day_start_equity"] = equity
            if equity > self._peak:
                self._peak = equity
                change.meta["peak_equity"] = equity
            change.equity = (as_of, equity)
            await self._commit(change)
            return events

    async def _sync_symbol(self, symbol: str, until_ms: int, change: BookChange, events: list[TradeEvent]) -> None:
        booked = self._positions.get(symbol)
        order = self._orders.get(symbol)
        start_ms = booked.cursor_ms + 1 if booked is not None else order.created_ms  # type: ignore[union-attr]
        bars = await self._feed.bars(symbol, start_ms, until_ms)
        if not bars:
            return
        settlements: Sequence[tuple[int, float]] = ()
        if booked is not None or len(bars) > 1:
            settlements = await self._feed.funding(symbol, bars[0][0] - 1, bars[-1][0])
        fi = 0
        tf = self._feed.timeframe_ms if self._timeframe_ms_for is None else self._timeframe_ms_for(symbol)
        rules = self._rules
        if booked is not None and not settlements and len(bars) > 1:
            # most hours of an open position touch nothing: one look at the span instead of a walk per bar
            highs, lows = [b[2] for b in bars], [b[3] for b in bars]
            if quiet_span(booked.position, highs, lows, bars[-1][0] + tf, self._entry_ms[symbol], rules):
                carry_best(booked.position, highs, lows)
                booked.cursor_ms, booked.mark = bars[-1][0], bars[-1][4]
                change.upsert_positions.append(booked)
                change.meta["cash"] = self._cash
                return
        for t, o, h, low, c in bars:
            if booked is None:
                if order is None:
                    break
                booked = self._fill(order, t, o, change, events)
                order = None
                if booked is None:
                    break
            pos = booked.position
            entry_ms = self._entry_ms[symbol]
            while fi < len(settlements) and settlements[fi][0] <= t:
                ts, rate = settlements[fi]
                fi += 1
                if ts > entry_ms and ts > booked.cursor_ms:
                    apply_funding(pos, rate, o, self._mmr)
            booked.cursor_ms = t
            booked.mark = c
            exits = apply_bar(pos, t, t + tf, entry_ms, o, h, low, c, rules)
            for reason, price, qty in exits:
                self._book_exit(booked, reason, price, qty, from_ms(t), change, events)
            if symbol not in self._positions:
                booked = None
                break
        if booked is not None:
            change.upsert_positions.append(booked)
        change.meta["cash"] = self._cash

    def _fill(
        self, order: PendingOrder, t: int, o: float, change: BookChange, events: list[TradeEvent]
    ) -> BookedPosition | None:
        intent = order.intent
        symbol = intent.symbol
        del self._orders[symbol]
        sign = 1 if intent.side == "long" else -1
        price = slipped_price(o, sign, self._slip, opening=True)
        value, margin_used = self._open_value()
        available = self._cash + value - margin_used
        qty = min(intent.qty, max(0.0, available) / (price * (1.0 / intent.leverage + self._fee)))
        liq = liquidation_price(sign, price, 1.0, intent.leverage, self._mmr)
        if (
            sign * (price - intent.stop_loss) <= 0.0  # the open gapped through the stop
            or sign * (liq - intent.stop_loss) >= 0.0
            or qty * price < MIN_NOTIONAL
        ):
            change.finish_orders.append((order.id, "cancelled"))
            return None
        fee = qty * price * self._fee
        position = Position.opened(
            intent, id=intent.signal_id or order.id, qty=qty, price=price, when=from_ms(t), liquidation_price=liq,
            fees_paid=fee,
        )
        booked = BookedPosition(position, t - 1, o)
        self._positions[symbol] = booked
        self._entry_ms[symbol] = t
        change.finish_orders.append((order.id, "filled"))
        change.fills.append(Fill(order.id, position.id, symbol, intent.side, "entry", position.entry_time, price, qty, fee))
        events.append(
            TradeEvent("entry", position.id, symbol, intent.side, position.entry_time, price, qty,
                       signal_id=intent.signal_id, position=position)
        )
        return booked

    def _book_exit(
        self,
        booked: BookedPosition,
        reason: str,
        price: float,
        qty: float,
        when: datetime,
        change: BookChange,
        events: list[TradeEvent],
    ) -> None:
        pos = booked.position
        final = qty >= pos.qty * (1.0 - 1e-12)
        if final:
            qty = pos.qty
            entry_fee, funding = pos.fees_paid, pos.funding_paid
        else:
            share = qty / pos.qty
            entry_fee, funding = pos.fees_paid * share, pos.funding_paid * share
        exit_fee = qty * price * self._fee
        trade = pos.closed_leg(qty=qty, price=price, when=when, reason=reason, fees=entry_fee + exit_fee,
                               funding=funding)
        net = trade.net_pnl
        self._cash += net
        pos.realized_pnl += net
        if final:
            pos.fees_paid = 0.0
            pos.funding_paid = 0.0
            del self._positions[pos.symbol]
            del self._entry_ms[pos.symbol]
            change.delete_positions.append(pos.id)
            change.upsert_positions = [b for b in change.upsert_positions if b.position.id != pos.id]
        else:
            pos.fees_paid -= entry_fee
            pos.funding_paid -= funding
            pos.qty -= qty
            pos.margin = pos.qty * pos.entry_price / pos.leverage
        self._recent.append(trade)
        if len(self._recent) > self._recent_n:
            del self._recent[0]
        change.trades.append(trade)
        change.fills.append(Fill(pos.id, pos.id, pos.symbol, pos.side, "exit", when, price, qty, exit_fee, reason))
        change.meta["cash"] = self._cash
        events.append(
            TradeEvent("exit", pos.id, pos.symbol, pos.side, when, price, qty, signal_id=pos.signal_id,
                       reason=reason, net_pnl=net, trade=trade, position=pos)
        )

    # ---- manual closes --------------------------------------------------------------------------

    async def close_position(self, symbol: str, reason: str = "manual") -> list[TradeEvent]:
        async with self._changing:
            await self._ensure()
            change = BookChange()
            events: list[TradeEvent] = []
            self._close(symbol, reason, change, events)
            if change:
                change.equity = (self._clock.now(), self.equity())
                await self._commit(change)
            return events

    async def close_all(self, reason: str = "manual") -> list[TradeEvent]:
        async with self._changing:
            await self._ensure()
            change = BookChange()
            events: list[TradeEvent] = []
            for symbol in sorted(set(self._positions) | set(self._orders)):
                self._close(symbol, reason, change, events)
            if change:
                change.equity = (self._clock.now(), self.equity())
                await self._commit(change)
            return events

    def _close(self, symbol: str, reason: str, change: BookChange, events: list[TradeEvent]) -> None:
        order = self._orders.pop(symbol, None)
        if order is not None:
            change.finish_orders.append((order.id, "cancelled"))
        booked = self._positions.get(symbol)
        if booked is None:
            return
        pos = booked.position
        # "end" (replay) closes at the last bar seen; anything else happens now at the last mark
        when = from_ms(booked.cursor_ms) if reason == "end" else self._clock.now()
        price = booked.mark if reason == "end" else slipped_price(booked.mark, pos.sign, self._slip, opening=False)
        self._book_exit(booked, reason, price, pos.qty, when, change, events)

