"""Per-bar exit rules for one open position (DESIGN §5, §6): pure float logic shared by the paper broker
and replay — no pandas, no I/O, no logging.

Order inside a bar (the bar's path is unknown, so the pessimistic order is assumed):
1. liquidation or stop against the adverse extreme (a gap through the stop fills at the open, or at the
   liquidation price when it gapped past that too); when a bar touches both stop and target the stop
   wins;
2. TP1 closes `tp1_fraction` of the initial size and moves the stop to break-even; TP2 closes the rest
   (TP2 may follow TP1 in the same bar, the new break-even stop is only active from the next bar); with a
   third target TP2 and TP3 share the rest equally (`target_fractions`, also the live broker's split);
3. from the bar after TP1 a trailing stop follows the best price at the initial stop distance (1 R —
   with the guard's ATR stop that is `atr_stop_multiple` ATRs), or at `trail_after_tp1_pct` % of the best
   price when that is set; it only ever tightens the stop;
3a. the seed design's first trailing phase, off unless `lock_trigger_pct` is set: once the best price is
   `lock_trigger_pct` % in profit (before TP1), the stop moves to entry + `lock_offset_pct` %, from the next
   bar (docs/strategy.md measured it);
4. stale exit at the bar's close after `stale_ms` with less than `stale_min_profit_pct` profit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.execution.perp_math import funding_cash_flow, liquidation_price
from core.models import Position


@dataclass(frozen=True, slots=True)
class LifecycleRules:
    tp1_fraction: float = 0.5
    stale_ms: int = 48 * 3_600_000
    stale_min_profit_pct: float = 1.0
    mmr: float = 0.005
    slippage: float = 0.0002  # fraction, applied to market exits (stops, stale); targets fill at their price
    lock_trigger_pct: float = 0.0  # 0 = off; profit % of the best price that locks the stop beyond entry
    lock_offset_pct: float = 0.15  # where the lock puts the stop: entry + this % (in the position's favour)
    trail_after_tp1_pct: float = 0.0  # 0 = trail at the initial stop distance; else at this % of the best price


def target_fractions(n_targets: int, tp1_fraction: float) -> tuple[float, ...]:
    """The share of the initial size each target closes: TP1 `tp1_fraction`, the later ones the rest equally."""
    if n_targets <= 1:
        return (1.0,) * max(n_targets, 0)
    rest = (1.0 - tp1_fraction) / (n_targets - 1)
    return (tp1_fraction, *([rest] * (n_targets - 1)))


def stop_reason(pos: Position) -> str:
    if pos.targets_hit == 0:
        locked = pos.trailing_stop is not None and pos.stop_loss == pos.trailing_stop
        return "breakeven" if locked else "stop"
    if pos.trailing_stop is not None and pos.stop_loss == pos.trailing_stop:
        return "trailing"
    return "breakeven"


def _tighten(pos: Position, stop: float) -> None:
    """Move the stop to `stop` if that is nearer the price; `trailing_stop` marks a stop moved by a rule."""
    if pos.sign * (stop - pos.stop_loss) > 0.0:
        pos.stop_loss = stop
        pos.trailing_stop = stop


def apply_funding(pos: Position, rate: float, mark: float, mmr: float) -> float:
    """Book one funding settlement on the position; returns the cash flow (positive: received)."""
    flow = funding_cash_flow(pos.sign, rate, pos.qty, mark)
    pos.funding_paid += flow
    pos.liquidation_price = liquidation_price(pos.sign, pos.entry_price, pos.qty, pos.leverage, mmr, pos.funding_paid)
    return flow


def quiet_span(
    pos: Position, highs: Sequence[float], lows: Sequence[float], last_close_ms: int, entry_ms: int,
    rules: LifecycleRules,
) -> bool:
    """True when `apply_bar` over these bars (no funding settling among them) would exit nothing and move
    nothing but the best price: every bar strictly inside stop, liquidation and TP1, no trailing or profit
    lock running, the stale exit not yet due. The caller may then only set the best price (`carry_best`),
    the cursor and the mark — the same state the bar-by-bar walk leaves."""
    if pos.targets_hit or rules.lock_trigger_pct > 0.0 or last_close_ms - entry_ms >= rules.stale_ms:
        return False
    high, low = max(highs), min(lows)  # a NaN bar is passed over by both, as by apply_bar's comparisons
    stop, liq, tp1 = pos.stop_loss, pos.liquidation_price, pos.take_profit[0]
    if pos.side == "long":
        return low > stop and (liq <= 0.0 or low > liq) and high < tp1
    return high < stop and (liq <= 0.0 or high < liq) and low > tp1


def carry_best(pos: Position, highs: Sequence[float], lows: Sequence[float]) -> None:
    """The best price after bars `quiet_span` passed, as apply_bar moves it bar by bar."""
    if pos.side == "long":
        high = max(highs)
        if high > pos.best_price:
            pos.best_price = high
    else:
        low = min(lows)
        if low < pos.best_price:
            pos.best_price = low


def apply_bar(
    pos: Position,
    open_ms: int,
    close_ms: int,
    entry_ms: int,
    o: float,
    h: float,
    low: float,
    c: float,
    rules: LifecycleRules,
) -> list[tuple[str, float, float]]:
    """Exits (reason, price, qty) this bar causes, in order; updates stop, trailing and best price.

    Quantities are not deducted here: the caller books each exit leg and reduces `pos.qty`.
    """
    s = pos.sign
    adverse = low if s > 0 else h
    favourable = h if s > 0 else low
    stop = pos.stop_loss
    liq = pos.liquidation_price
    if liq > 0.0 and s * (liq - stop) >= 0.0:
        # funding has pulled liquidation inside the stop: the liquidation engine acts first
        if s * (adverse - liq) <= 0.0:
            return [("liquidation", liq, pos.qty)]
    elif s * (adverse - stop) <= 0.0:
        fill = o if s * (o - stop) <= 0.0 else stop
        fill = fill * (1.0 - s * rules.slippage)
        if liq > 0.0 and s * (fill - liq) < 0.0:
            # gapped past liquidation too: isolated margin loses the margin, never more
            return [("liquidation", liq, pos.qty)]
        return [(stop_reason(pos), fill, pos.qty)]

    exits: list[tuple[str, float, float]] = []
    targets = pos.take_profit
    remaining = pos.qty
    trail_active = pos.targets_hit >= 1  # trailing starts the bar after TP1: the TP1 bar leaves break-even
    if pos.targets_hit == 0 and s * (favourable - targets[0]) >= 0.0:
        if len(targets) == 1:
            return [("tp1", targets[0], remaining)]
        part = min(remaining, pos.initial_qty * rules.tp1_fraction)
        exits.append(("tp1", targets[0], part))
        remaining -= part
        pos.targets_hit = 1
        if s * (pos.entry_price - pos.stop_loss) > 0.0:  # to break-even, unless the profit lock is already beyond it
            pos.stop_loss = pos.entry_price
        if remaining <= 0.0:
            return exits
    fractions = target_fractions(len(targets), rules.tp1_fraction)
    first_later = pos.targets_hit if pos.targets_hit >= 1 else len(targets)  # TP2, TP3 only once TP1 was hit
    for n in range(first_later, len(targets)):
        if s * (favourable - targets[n]) < 0.0:
            break
        last = n == len(targets) - 1
        part = remaining if last else min(remaining, pos.initial_qty * fractions[n])
        exits.append((f"tp{n + 1}", targets[n], part))
        remaining -= part
        pos.targets_hit = n + 1
        if last or remaining <= 0.0:
            return exits

    if s * (favourable - pos.best_price) > 0.0:
        pos.best_price = favourable
    if trail_active:
        if rules.trail_after_tp1_pct > 0.0:
            trail = pos.best_price * (1.0 - s * rules.trail_after_tp1_pct / 100.0)
        else:
            trail = pos.best_price - s * abs(pos.entry_price - pos.initial_stop)
        _tighten(pos, trail)
    elif (rules.lock_trigger_pct > 0.0 and pos.targets_hit == 0
          and s * (pos.best_price - pos.entry_price) >= pos.entry_price * rules.lock_trigger_pct / 100.0):
        _tighten(pos, pos.entry_price * (1.0 + s * rules.lock_offset_pct / 100.0))
    if not exits and close_ms - entry_ms >= rules.stale_ms:
        profit_pct = s * (c - pos.entry_price) / pos.entry_price * 100.0
        if profit_pct < rules.stale_min_profit_pct:
            return [("stale", c * (1.0 - s * rules.slippage), remaining)]
    return exits
