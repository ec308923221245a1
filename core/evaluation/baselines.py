"""Baselines a strategy must beat, under the replay's own accounting (DESIGN §4.6, §6).

Every baseline is a *target-exposure* strategy run by `simulate_targets`: per symbol an isolated sub-account
holding an equal share of the initial equity, whose whole balance is the position's margin. The target (signed
notional as a multiple of the sub-account's equity) is decided at each step's as_of from closed bars only and
filled at the open of the next bar, as the strategy's entries are, with taker fee and slippage on every fill.
Funding is paid at every settlement on the quantity held at that instant (a settlement at the fill's own open
is paid by the quantity held before the fill); the position is liquidated when the sub-account's equity at
the bar's worst price (low for a long, high for a short) falls to the maintenance margin
(`maintenance_margin_rate × notional`): it is closed at the liquidation price, the rest of its margin is
forfeited as the exchange's liquidation fee, and the sub-account is out for good (equity 0). So no equity
path goes below zero. At the end the position is closed at the last close with the taker fee (exit_reason
"end"), as the paper broker closes open positions.

buy_and_hold: 1× long from the first bar. buy_and_hold_spot: the same without funding and without liquidation
(a spot holding cannot be liquidated and pays no funding), labelled as such. flat: never trades.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from core.config import CostModel
from core.evaluation.feed import SymbolBars
from core.execution.perp_math import BPS
from core.models import ClosedTrade, DomainError

REBALANCE_BAND = 0.25  # resize only when the target moves this far (relative) from the held size


@dataclass(frozen=True, slots=True)
class BaselineRun:
    name: str
    equity: np.ndarray  # marked equity after each step, aligned with the replay's step times
    trades: tuple[ClosedTrade, ...]
    exposure: np.ndarray  # bool per step: a position was open during the bar that ended then
    liquidations: int = 0  # sub-accounts wiped out by liquidation


# target exposure per step for one symbol: signed notional / sub-account equity, decided at each step
TargetFunction = Callable[[SymbolBars, np.ndarray], np.ndarray]


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def flat(step_ms: np.ndarray, initial_equity: float) -> BaselineRun:
    n = len(step_ms)
    return BaselineRun("flat", np.full(n, float(initial_equity)), (), np.zeros(n, dtype=bool))


class _Book:
    """One symbol's sub-account: equity = cash + qty × price (linear contract, cash net of entry value)."""

    def __init__(self, symbol: str, name: str, allocation: float, fee: float, slip: float, mmr: float) -> None:
        self.symbol, self.name = symbol, name
        self.cash = allocation
        self.qty = 0.0
        self.fee, self.slip, self.mmr = fee, slip, mmr
        self.wiped = False
        self.trades: list[ClosedTrade] = []
        self.count = 0
        # the open position: average entry, when, costs accumulated and not yet assigned to a leg
        self.entry = 0.0
        self.entry_ms = 0
        self.fees = 0.0
        self.funding = 0.0
        self.peak_abs_leverage = 1

    def equity(self, price: float) -> float:
        return self.cash + self.qty * price

    def pay_funding(self, rate: float, price: float) -> None:
        if self.qty:
            flow = -rate * self.qty * price
            self.cash += flow
            self.funding += flow

    def _leg(self, qty: float, price: float, ms: int, reason: str, extra_fee: float = 0.0) -> None:
        """Close `qty` (> 0, of the held size) at `price`: one ClosedTrade with its share of the costs."""
        held = abs(self.qty)
        share = qty / held
        sign = 1 if self.qty > 0 else -1
        fees, funding = self.fees * share + extra_fee, self.funding * share
        self.fees -= self.fees * share
        self.funding -= self.funding * share
        gross = sign * (price - self.entry) * qty
        self.trades.append(
            ClosedTrade(
                position_id=f"{self.name}:{self.symbol}:{self.entry_ms}",  # unique across stitched folds too
                symbol=self.symbol,
                side="long" if sign > 0 else "short",
                entry_time=_dt(self.entry_ms),
                entry_price=self.entry,
                exit_time=_dt(ms),
                exit_price=price,
                qty=qty,
                leverage=self.peak_abs_leverage,
                stop_loss=0.0,
                exit_reason=reason,
                gross_pnl=gross,
                fees=fees,
                funding=funding,
                net_pnl=gross - fees + funding,
            )
        )

    def trade_to(self, target_qty: float, price: float, ms: int, leverage: float) -> None:
        """Move the held quantity to `target_qty` with market fills at `price` (slipped, taker fee)."""
        delta = target_qty - self.qty
        if delta == 0.0:
            return
        buying = delta > 0
        fill = price * (1.0 + self.slip) if buying else price * (1.0 - self.slip)
        if self.qty and (target_qty == 0.0 or (target_qty > 0) != (self.qty > 0) or abs(target_qty) < abs(self.qty)):
            closing = abs(self.qty) if (target_qty == 0.0 or (target_qty > 0) != (self.qty > 0)) else abs(delta)
            fee = closing * fill * self.fee
            self.cash -= fee
            self.cash -= (-closing if self.qty > 0 else closing) * fill
            self._leg(closing, fill, ms, "signal", fee)
            self.qty += -closing if self.qty > 0 else closing
            if abs(self.qty) < 1e-15:
                self.qty = 0.0
            delta = target_qty - self.qty
        if delta == 0.0:
            return
        fee = abs(delta) * fill * self.fee
        self.cash -= fee + delta * fill
        if self.qty == 0.0:
            self.count += 1
            self.entry, self.entry_ms, self.fees, self.funding = fill, ms, fee, 0.0
            self.peak_abs_leverage = max(1, round(leverage))
        else:  # adding to the position: the average entry moves
            self.entry = (self.entry * abs(self.qty) + fill * abs(delta)) / (abs(self.qty) + abs(delta))
            self.fees += fee
            self.peak_abs_leverage = max(self.peak_abs_leverage, round(leverage))
        self.qty = target_qty

    def liquidate_if_due(self, low: float, high: float, open_price: float, ms: int) -> bool:
        if not self.qty:
            return False
        worst = low if self.qty > 0 else high
        if self.equity(worst) > self.mmr * abs(self.qty) * worst:
            return False
        # equity(p) = mmr·|qty|·p  →  p = cash / (mmr·|qty| − qty); a gap through it fills at the open
        price = self.cash / (self.mmr * abs(self.qty) - self.qty)
        price = min(max(price, low), high) if low <= price <= high else open_price
        price = max(price, 0.0)
        remaining = self.equity(price)
        if remaining < 0.0:  # gapped past the bankruptcy price: the trader loses the margin, not more
            price = self.cash / -self.qty
            remaining = 0.0
        self.cash -= remaining + (-abs(self.qty) if self.qty > 0 else abs(self.qty)) * price
        self._leg(abs(self.qty), price, ms, "liquidation", remaining)
        self.qty = 0.0
        self.cash = 0.0
        self.wiped = True
        return True


def simulate_targets(
    name: str,
    bars: Sequence[SymbolBars],
    step_ms: np.ndarray,
    initial_equity: float,
    cost: CostModel,
    target: TargetFunction,
    *,
    funding: bool = True,
    liquidation: bool = True,
    band: float = REBALANCE_BAND,
) -> BaselineRun:
    """Run a target-exposure strategy over `step_ms` (the decision times, UTC ms; the replay's steps)."""
    if not bars:
        raise DomainError(f"{name} needs at least one symbol")
    steps = np.asarray(step_ms, dtype=np.int64)
    n = len(steps)
    if n < 2:
        raise DomainError(f"{name} needs at least two steps")
    fee, slip, mmr = cost.taker_fee_bps * BPS, cost.slippage_bps * BPS, cost.maintenance_margin_rate
    allocation = initial_equity / len(bars)
    equity = np.zeros(n)
    exposure = np.zeros(n, dtype=bool)
    trades: list[ClosedTrade] = []
    liquidations = 0
    for sym in bars:
        base = sym.base
        tf = base.timeframe_ms
        if base.index_of(int(steps[0])) is None:
            raise DomainError(f"{sym.symbol}: no base bar opens at {_dt(int(steps[0]))} for the {name} entry")
        weights = np.nan_to_num(np.asarray(target(sym, steps), dtype=np.float64))
        book = _Book(sym.symbol, name, allocation, fee, slip, mmr)
        open_ms, o_, h_, l_, c_ = (a.tolist() for a in (base.open_ms, base.open, base.high, base.low, base.close))
        index = {t: i for i, t in enumerate(open_ms)}
        f_ms = sym.funding_ms.tolist() if funding else []
        f_rate = sym.funding_rate.tolist() if funding else []
        f_next = int(np.searchsorted(sym.funding_ms, int(steps[0]), side="left")) if funding else 0
        mark = float(o_[index[int(steps[0])]])
        equity[0] += allocation
        last_close_ms = int(steps[-1]) - tf
        end_ms = int(steps[-1])
        hold_tail = band == math.inf  # once held, nothing but a side change or a liquidation trades again
        for k in range(1, n):
            bar_open = int(steps[k]) - tf
            i = index.get(bar_open)
            if i is not None and not book.wiped:
                price = o_[i]
                # settlements up to this bar's open were due on the quantity held before the fill
                while f_next < len(f_ms) and f_ms[f_next] <= bar_open:
                    if f_ms[f_next] < end_ms and f_ms[f_next] > book.entry_ms:
                        book.pay_funding(f_rate[f_next], sym.price_at(int(f_ms[f_next])) or price)
                    f_next += 1
                if liquidation and book.liquidate_if_due(price, price, price, bar_open):
                    liquidations += 1  # the funding just paid took the margin
                w = float(weights[k - 1]) if not book.wiped else 0.0
                eq = book.equity(price)
                ref = price * (1.0 + slip) if w > 0 else price * (1.0 - slip)  # what the fill will pay
                want = w * max(eq, 0.0) / ref if price > 0 else 0.0
                held = book.qty
                if (
                    (want == 0.0) != (held == 0.0)
                    or (want > 0) != (held > 0)
                    or (held and abs(want - held) > band * abs(held))
                ):
                    book.trade_to(want, price, bar_open, abs(w))
                while f_next < len(f_ms) and f_ms[f_next] < bar_open + tf:
                    if f_ms[f_next] < end_ms and f_ms[f_next] > book.entry_ms:
                        book.pay_funding(f_rate[f_next], sym.price_at(int(f_ms[f_next])) or price)
                    f_next += 1
                if liquidation and not book.wiped and book.liquidate_if_due(l_[i], h_[i], price, bar_open):
                    liquidations += 1
                mark = c_[i]
            exposure[k] |= book.qty != 0.0
            equity[k] += book.equity(mark) if k < n - 1 else 0.0
            if hold_tail and book.qty and k < n - 1:
                hold_tail = False
                tail = _held_tail(book, sym, steps[k + 1:], weights[k:n - 1], f_ms[f_next:], f_rate[f_next:],
                                  end_ms, liquidation, mark)
                if tail is not None:  # the rest of the steps at once, the same floats as the loop's
                    tail_equity, mark, consumed = tail
                    equity[k + 1:n - 1] += tail_equity[:-1]
                    exposure[k + 1:] = True
                    f_next += consumed
                    break
        if book.qty:
            price = float(mark)
            exit_fee = abs(book.qty) * price * fee
            book.cash -= exit_fee - book.qty * price
            book._leg(abs(book.qty), price, last_close_ms, "end", exit_fee)
            book.qty = 0.0
        equity[n - 1] += book.cash
        trades.extend(book.trades)
    return BaselineRun(name, equity, tuple(trades), exposure, liquidations)


def _held_tail(
    book: _Book, sym: SymbolBars, steps: np.ndarray, weights: np.ndarray, f_ms: list[int], f_rate: list[float],
    end_ms: int, liquidation: bool, mark: float,
) -> tuple[np.ndarray, float, int] | None:
    """simulate_targets' loop over `steps` for a book that holds and keeps holding (band ∞, every target on the
    held side), in numpy: the held quantity is fixed, so cash moves only by funding and equity is cash + qty ×
    mark. The same operations in the same order give the loop's floats exactly (np.add.accumulate adds in
    sequence). None — nothing changed — when a step would trade or liquidate: the loop then goes on itself.
    Returns (equity after each step, the last mark, settlements consumed) and moves the book's cash/funding."""
    qty, base, tf = book.qty, sym.base, sym.base.timeframe_ms
    if not bool(np.all(weights * (1.0 if qty > 0 else -1.0) > 0.0)):
        return None
    bar_open = steps - tf
    pos = np.searchsorted(base.open_ms, bar_open)
    present = pos < len(base)
    present[present] = base.open_ms[pos[present]] == bar_open[present]
    at = pos[present]  # the base bar of each step that has one
    o, worst, c = base.open[at], (base.low if qty > 0 else base.high)[at], base.close[at]
    if not len(at) or not bool(np.all(o > 0.0)):
        return None  # no bar left in the window (nothing to gain), or a price the loop treats on its own
    # each settlement is consumed at the first step with a bar whose close is after it: before the fill's
    # open (phase 0) when at or before that open, else inside the bar (phase 1); paid when after the entry
    times = np.asarray(f_ms, dtype=np.int64)
    bar_end = bar_open[present] + tf
    step_of = np.searchsorted(bar_end, times, side="right")
    consumed = int(np.count_nonzero(step_of < len(at)))
    times, step_of = times[:consumed], step_of[:consumed]
    paid = (times < end_ms) & (times > book.entry_ms)
    times, step_of = times[paid], step_of[paid]
    rates = np.asarray(f_rate[:consumed], dtype=np.float64)[paid]
    # the funding mark: price_at(time) — the open of the base bar starting then, else the last close — or the open
    j = np.searchsorted(base.open_ms, times)
    exact = j < len(base)
    exact[exact] = base.open_ms[j[exact]] == times[exact]
    last = np.searchsorted(base.open_ms, times - tf, side="right") - 1
    mark_at = np.where(exact, base.open[np.minimum(j, len(base) - 1)], base.close[np.maximum(last, 0)])
    mark_at = np.where(exact | (last >= 0), mark_at, 0.0)
    mark_at = np.where(mark_at == 0.0, o[step_of], mark_at)
    flows = -rates * qty * mark_at
    cash = np.add.accumulate(np.concatenate(([book.cash], flows)))
    key = step_of * 2 + (times > bar_open[present][step_of])  # phase 0 before phase 1 within a step
    steps_at = np.arange(len(at)) * 2
    cash_open = cash[np.searchsorted(key, steps_at, side="right")]
    cash_end = cash[np.searchsorted(key, steps_at + 1, side="right")]
    if not bool(np.all(cash_open + qty * o > 0.0)):
        return None  # no equity left at an open: the loop's target would be 0 (a trade)
    if liquidation:
        margin = book.mmr * abs(qty)
        if not (bool(np.all(cash_open + qty * o > margin * o)) and bool(np.all(cash_end + qty * worst > margin * worst))):
            return None
    # per step: the cash and mark of the last step with a bar (before any: the book as it is)
    last_bar = np.maximum.accumulate(np.where(present, np.cumsum(present) - 1, -1))
    had = last_bar >= 0
    ref = np.maximum(last_bar, 0)
    step_cash = np.where(had, cash_end[ref], book.cash)
    step_mark = np.where(had, c[ref], mark)
    for flow in flows.tolist():
        book.funding += flow
    book.cash = float(cash[-1])
    return step_cash + qty * step_mark, float(step_mark[-1]), consumed


def _always_long(sym: SymbolBars, steps: np.ndarray) -> np.ndarray:
    return np.ones(len(steps))


def buy_and_hold(bars: Sequence[SymbolBars], step_ms: np.ndarray, initial_equity: float, cost: CostModel) -> BaselineRun:
    """Equal weight, 1× long perps from the first bar: fees, slippage, funding and liquidation."""
    return simulate_targets("buy_and_hold", bars, step_ms, initial_equity, cost, _always_long, band=math.inf)


def buy_and_hold_spot(
    bars: Sequence[SymbolBars], step_ms: np.ndarray, initial_equity: float, cost: CostModel
) -> BaselineRun:
    """Equal weight, 1× long held like spot: fees and slippage, no funding, never liquidated."""
    return simulate_targets(
        "buy_and_hold_spot", bars, step_ms, initial_equity, cost, _always_long,
        funding=False, liquidation=False, band=math.inf,
    )


__all__ = ["BaselineRun", "TargetFunction", "buy_and_hold", "buy_and_hold_spot", "flat", "simulate_targets"]
