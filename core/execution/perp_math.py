"""Perpetual-futures arithmetic (DESIGN §6): pure float functions shared by the guard, broker and replay.

Conventions: `sign` is +1 for long, -1 for short; prices and quantities are positive floats; fee and
slippage rates are fractions (5 bps = 0.0005); a cash flow is positive when it pays the trader.
"""

from __future__ import annotations

BPS = 1e-4
MIN_NOTIONAL = 5.0  # exchange-like minimum order value in quote currency (the guard's and the broker's)


def isolated_margin(qty: float, entry: float, leverage: float) -> float:
    return qty * entry / leverage


def liquidation_price(
    sign: int, entry: float, qty: float, leverage: float, mmr: float, funding: float = 0.0
) -> float:
    """Mark price at which the position's equity equals its maintenance margin.

    Position equity = margin + sign·(p − entry)·qty + funding; maintenance = mmr·qty·p (notional at mark),
    margin = qty·entry/leverage. Solving margin + sign·(p − entry)·qty + funding = mmr·qty·p for p:
        p = (qty·entry − sign·(margin + funding)) / (qty·(1 − sign·mmr))
    Long 10x, mmr 0.5 %, entry 100: p = (100 − 10)/(0.995) = 90.4523; short: (100 + 10)/1.005 = 109.4527.
    Never negative: a long that cannot be liquidated above zero returns 0.
    """
    margin = qty * entry / leverage
    price = (qty * entry - sign * (margin + funding)) / (qty * (1.0 - sign * mmr))
    return price if price > 0.0 else 0.0


def funding_cash_flow(sign: int, rate: float, qty: float, mark: float) -> float:
    """Cash the trader receives at one settlement: −side × rate × |qty| × mark (longs pay positive rates)."""
    return -sign * rate * qty * mark


def slipped_price(price: float, sign: int, slippage_rate: float, *, opening: bool) -> float:
    """A market fill moved against the trader: buying (open long / close short) pays more."""
    buying = (sign > 0) == opening
    return price * (1.0 + slippage_rate) if buying else price * (1.0 - slippage_rate)


def taker_fee(qty: float, price: float, fee_rate: float) -> float:
    return qty * price * fee_rate


def loss_per_unit_at_stop(entry: float, stop: float, fee_rate: float, slippage_rate: float) -> float:
    """Worst-case loss of one unit stopped out: price distance plus fees and slippage on both fills."""
    return abs(entry - stop) + (fee_rate + slippage_rate) * (entry + stop)


def size_for_risk(
    equity: float,
    risk_pct: float,
    entry: float,
    stop: float,
    leverage: float,
    available: float,
    fee_rate: float,
    slippage_rate: float,
) -> float:
    """Quantity whose loss at the stop (fees included) is risk_pct of equity, capped so that the margin
    plus the entry fee fit in the available balance. Returns 0 when nothing fits."""
    per_unit = loss_per_unit_at_stop(entry, stop, fee_rate, slippage_rate)
    if per_unit <= 0.0 or equity <= 0.0 or available <= 0.0:
        return 0.0
    by_risk = equity * risk_pct / 100.0 / per_unit
    by_margin = available / (entry * (1.0 / leverage + fee_rate + slippage_rate))
    return max(0.0, min(by_risk, by_margin))


def pnl(sign: int, entry: float, exit_price: float, qty: float) -> float:
    return sign * (exit_price - entry) * qty
