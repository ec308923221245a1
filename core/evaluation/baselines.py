"""Baselines a strategy must beat, under the replay's own accounting (DESIGN §6).

buy_and_hold: equal weight across the symbols, 1× long, entered at the open of the first bar after the
first decision time (as the strategy's entries are), paying taker fee and slippage on entry, the fee on exit,
funding at every settlement strictly after entry and before the end (cash flow −rate × qty × price),
closed at the last price with exit_reason "end". flat: never trades.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from core.config import CostModel
from core.evaluation.feed import SymbolBars
from core.execution.perp_math import BPS, funding_cash_flow, slipped_price, taker_fee
from core.execution.perp_math import pnl as pnl_of
from core.models import ClosedTrade, DomainError


@dataclass(frozen=True, slots=True)
class BaselineRun:
    name: str
    equity: np.ndarray  # marked equity after each step, aligned with the replay's step times
    trades: tuple[ClosedTrade, ...]
    exposure: np.ndarray  # bool per step: a position was open during the bar that ended then


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def flat(step_ms: np.ndarray, initial_equity: float) -> BaselineRun:
    n = len(step_ms)
    return BaselineRun("flat", np.full(n, float(initial_equity)), (), np.zeros(n, dtype=bool))


def buy_and_hold(
    bars: Sequence[SymbolBars], step_ms: np.ndarray, initial_equity: float, cost: CostModel
) -> BaselineRun:
    """`step_ms` are the decision times (as_of, ms); the first one is when the buy is decided."""
    if not bars:
        raise DomainError("buy_and_hold needs at least one symbol")
    steps = np.asarray(step_ms, dtype=np.int64)
    n = len(steps)
    if n < 2:
        raise DomainError("buy_and_hold needs at least two steps")
    fee_rate = cost.taker_fee_bps * BPS
    slip = cost.slippage_bps * BPS
    allocation = initial_equity / len(bars)
    equity = np.full(n, float(initial_equity))
    trades: list[ClosedTrade] = []
    entry_ms = int(steps[0])
    exit_ms = int(steps[-1])

    for sym in bars:
        base = sym.base
        tf = base.timeframe_ms
        entry_index = base.index_of(entry_ms)
        if entry_index is None:
            raise DomainError(f"{sym.symbol}: no base bar opens at {_dt(entry_ms)} for the buy-and-hold entry")
        entry_price = slipped_price(float(base.open[entry_index]), 1, slip, opening=True)
        qty = allocation / entry_price
        entry_fee = taker_fee(qty, entry_price, fee_rate)

        # Mark at each step: the close of the base bar that ended then (the step's own bar for step 0 is
        # not held yet: the buy fills at the open of the bar starting at step 0).
        # A gap in the data carries the last close forward, as the broker's mark does.
        held = steps > entry_ms
        mark_index = np.searchsorted(base.open_ms, steps - tf, side="right") - 1
        if np.any(mark_index[held] < entry_index):
            raise DomainError(f"{sym.symbol}: no closed base bar to mark the buy-and-hold position")
        marks = base.close[np.maximum(mark_index, 0)]

        # Funding settled strictly after the entry fill; like the paper broker, a settlement at T is booked
        # with the bar opening at T, so it shows from the step after T, and one at the end is not paid.
        settle_mask = (sym.funding_ms > entry_ms) & (sym.funding_ms < exit_ms)
        settle_ms = sym.funding_ms[settle_mask]
        settle_rate = sym.funding_rate[settle_mask]
        flows = np.array(
            [
                funding_cash_flow(1, float(rate), qty, sym.price_at(int(s)) or entry_price)
                for s, rate in zip(settle_ms, settle_rate, strict=True)
            ],
            dtype=np.float64,
        )
        cumulative = np.concatenate(([0.0], np.cumsum(flows)))
        funding_to_step = cumulative[np.searchsorted(settle_ms, steps, side="left")]

        pnl = np.where(held, qty * (marks - entry_price) - entry_fee + funding_to_step, 0.0)

        exit_price = float(marks[-1])  # the paper broker's "end" close: the last price, taker fee, no slippage
        exit_fee = taker_fee(qty, exit_price, fee_rate)
        gross = pnl_of(1, entry_price, exit_price, qty)
        funding = math.fsum(flows.tolist())  # cash received (negative: paid), as the paper broker books it
        fees = entry_fee + exit_fee
        net = gross - fees + funding
        pnl[-1] = net
        equity += pnl
        trades.append(
            ClosedTrade(
                position_id=f"buy_and_hold:{sym.symbol}",
                symbol=sym.symbol,
                side="long",
                entry_time=_dt(entry_ms),
                entry_price=entry_price,
                exit_time=_dt(exit_ms - tf),
                exit_price=exit_price,
                qty=qty,
                leverage=1,
                stop_loss=0.0,
                exit_reason="end",
                gross_pnl=gross,
                fees=fees,
                funding=funding,
                net_pnl=net,
            )
        )
    exposure = steps > entry_ms
    return BaselineRun("buy_and_hold", equity, tuple(trades), exposure)
