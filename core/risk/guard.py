"""RiskGuard (DESIGN §5): the last line of defence between a decision and an order.

Repair vs. reject, consistently: the guard repairs only what the engine left *absent* (no stop → an
ATR stop bounded to [min_stop_pct, max_stop_pct]) and what is its own to choose (leverage is capped by
the decision, the admin cap, the hard cap and volatility; size comes from risk at the stop). Anything
the engine *stated* but is unacceptable (stop on the wrong side, too tight, too wide, beyond the
liquidation price, targets out of order, poor reward/risk) rejects with a reason code — the guard never
silently rewrites a trade thesis. Each review is a handful of float comparisons (~10 µs).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from core.config import CostModel, RiskLimits
from core.execution.perp_math import BPS, MIN_NOTIONAL, liquidation_price, loss_per_unit_at_stop, size_for_risk
from core.market.quality import bad_flags, stale_flags
from core.market.sentiment import critical_events, news_regime
from core.models import (
    HARD_MAX_LEVERAGE,
    AccountView,
    GuardVerdict,
    OrderIntent,
    RuntimeState,
    Snapshot,
)
from core.protocols import Ticker

# Leverage ceiling from volatility: leverage × ATR%(1h) ≤ this budget, so 1 % hourly ATR allows 10x
# and 2 % allows 5x. Hourly ATR rather than daily so the cap reacts within the day.
VOLATILITY_LEVERAGE_BUDGET_PCT = 10.0
STOP_OUT_REASONS = frozenset({"stop", "liquidation"})
# News regimes (#17, NEWS_REGIME): (leverage factor, stop distance factor); the wider stop is capped at
# max_stop_pct and, at the same risk per trade, means a smaller position
NEWS_REGIME_FACTORS = {"panic": (0.5, 1.5), "digesting": (0.75, 1.25)}


class Reason(StrEnum):
    PAUSED = "paused"
    NOT_ENTRY = "not_entry"
    INVALID_DECISION = "invalid_decision"
    STALE_DATA = "stale_data"
    BAD_DATA = "bad_data"
    LOW_CONFIDENCE = "low_confidence"
    DAILY_LOSS_BREAKER = "daily_loss_breaker"
    DRAWDOWN_KILL_SWITCH = "drawdown_kill_switch"
    POSITION_EXISTS = "position_exists"
    MAX_POSITIONS = "max_positions"
    CORRELATED_EXPOSURE = "correlated_exposure"
    COOLDOWN = "cooldown"
    EXTREME_FUNDING = "extreme_funding"
    VOLUME_TOO_LOW = "volume_too_low"
    SPREAD_TOO_WIDE = "spread_too_wide"
    NO_STOP = "no_stop"
    STOP_WRONG_SIDE = "stop_wrong_side"
    STOP_TOO_TIGHT = "stop_too_tight"
    STOP_TOO_WIDE = "stop_too_wide"
    TARGETS_NOT_ORDERED = "targets_not_ordered"
    REWARD_RISK_TOO_LOW = "reward_risk_too_low"
    STOP_BEYOND_LIQUIDATION = "stop_beyond_liquidation"
    SIZE_TOO_SMALL = "size_too_small"
    BTC_FILTER = "btc_filter"
    NEWS_VETO = "news_veto"


class _Reject(Exception):
    __slots__ = ("detail", "reason")

    def __init__(self, reason: Reason, detail: str) -> None:
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class ReviewContext:
    """What the guard needs besides the decision: runtime state, time and ids, optional live ticker."""

    state: RuntimeState
    now: datetime
    cycle_id: str
    signal_id: str
    ticker: Ticker | None = None
    # the BTC filter's reference: its % change over the last 4 h at `now` (None: unknown, the rule is skipped)
    btc_change_4h_pct: float | None = None


def _num(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def data_problem(snap: Snapshot) -> tuple[Reason, str] | None:
    """Why `snap` is unfit to enter on — its bars are older than the bar being decided (`stale_data`), or
    a bar in its window failed the sanity checks, is an outlier or follows a hole (`bad_data`) — else None."""
    stale = stale_flags(snap.quality)
    if stale:
        ends = []
        for flag in stale:
            view = snap.timeframes.get(flag.partition(":")[2])
            if view is not None:
                ends.append(f"{flag.partition(':')[2]} {view.bar_time:%Y-%m-%d %H:%M} UTC")
        last = f"last bars {', '.join(ends)}" if ends else "flags " + ", ".join(stale)
        return Reason.STALE_DATA, f"{snap.symbol} data is stale at {snap.as_of:%Y-%m-%d %H:%M} UTC ({last})"
    # the timeframe whose ATR sizes the stop and leverage (as in _review)
    base = "1h" if "1h" in snap.timeframes else next(iter(snap.timeframes), None)
    bad = bad_flags(snap.quality, base)
    if bad:
        return Reason.BAD_DATA, f"{snap.symbol} bars fail the data checks ({', '.join(bad)})"
    return None


def atr_stop(sign: int, price: float, atr: float | None, limits: RiskLimits) -> float:
    """ATR-multiple stop, bounded to [min_stop_pct, max_stop_pct] of price (min bound when ATR unknown)."""
    pct = limits.min_stop_pct if atr is None or atr <= 0 else atr * limits.atr_stop_multiple / price * 100.0
    pct = min(max(pct, limits.min_stop_pct), limits.max_stop_pct)
    return price * (1.0 - sign * pct / 100.0)


def volatility_leverage_cap(price: float, atr: float | None) -> int:
    if atr is None or atr <= 0:
        return HARD_MAX_LEVERAGE
    return max(1, int(VOLATILITY_LEVERAGE_BUDGET_PCT / (atr / price * 100.0)))


class RiskGuard:
    def __init__(self, limits: RiskLimits, costs: CostModel | None = None) -> None:
        self.limits = limits
        self.costs = costs or CostModel()
        self.counts: Counter[str] = Counter()
        self._fee = self.costs.taker_fee_bps * BPS
        self._slip = self.costs.slippage_bps * BPS
        self._groups: dict[str, tuple[frozenset[str], ...]] = {}
        self._breaker_day: date | None = None  # UTC day on which the daily-loss breaker tripped
        for group in limits.correlation_groups:
            members = frozenset(group)
            for symbol in group:
                self._groups.setdefault(symbol, ())
                self._groups[symbol] += (members,)

    @property
    def breaker_day(self) -> date | None:
        """The UTC day the daily-loss breaker tripped on (None: not tripped since start)."""
        return self._breaker_day

    def remember_breaker(self, day: date) -> None:
        """A breaker tripped before a restart still holds for the rest of its day."""
        if self._breaker_day is None or day > self._breaker_day:
            self._breaker_day = day

    def news_closes(self, snapshot: Snapshot, side: str) -> bool:
        """NEWS_VETO_CLOSE: an open long goes when a critical negative headline is fresh (within news_veto_hours)."""
        lim = self.limits
        return (lim.news_veto_close and lim.news_veto_hours > 0 and side == "long"
                and bool(critical_events(snapshot.sentiment, snapshot.as_of, timedelta(hours=lim.news_veto_hours))))

    def review(self, decision: Any, account: AccountView, snapshot: Snapshot, ctx: ReviewContext) -> GuardVerdict:
        """Approve a sized OrderIntent or reject with a reason code; counts every outcome."""
        checks: list[str] = []
        try:
            intent = self._review(decision, account, snapshot, ctx, checks)
        except _Reject as rejection:
            self.counts[rejection.reason.value] += 1
            return GuardVerdict(False, None, rejection.reason.value, rejection.detail, tuple(checks))
        self.counts["approved"] += 1
        return GuardVerdict(True, intent, None, "", tuple(checks))

    def reject_counts(self) -> dict[str, int]:
        return {k: v for k, v in self.counts.items() if k != "approved"}

    def _review(
        self, decision: Any, account: AccountView, snap: Snapshot, ctx: ReviewContext, checks: list[str]
    ) -> OrderIntent:
        lim = self.limits
        if ctx.state.paused:
            raise _Reject(Reason.PAUSED, ctx.state.pause_reason or "trading is paused")
        action = str(getattr(decision, "action", ""))
        if action not in ("long", "short"):
            raise _Reject(Reason.NOT_ENTRY, f"action {action!r} opens nothing")
        sign = 1 if action == "long" else -1
        confidence = _num(getattr(decision, "confidence", None))
        asked_leverage = _num(getattr(decision, "leverage", 1))
        if confidence is None or not 0.0 <= confidence <= 1.0 or asked_leverage is None or asked_leverage < 1:
            raise _Reject(
                Reason.INVALID_DECISION,
                f"confidence {getattr(decision, 'confidence', None)!r} must be in [0, 1] and leverage "
                f"{getattr(decision, 'leverage', None)!r} >= 1",
            )
        checks.append("valid_decision")
        problem = data_problem(snap)
        if problem is not None:
            raise _Reject(*problem)
        checks.append("fresh_data")
        if confidence < lim.min_confidence:
            raise _Reject(Reason.LOW_CONFIDENCE, f"confidence {confidence:.2f} < {lim.min_confidence}")
        checks.append("confidence")
        equity = account.equity
        today = (ctx.now.astimezone(UTC) if ctx.now.tzinfo is not None else ctx.now).date()
        if account.day_start_equity > 0 and equity <= account.day_start_equity * (1 - lim.daily_loss_limit_pct / 100):
            self._breaker_day = today
            raise _Reject(
                Reason.DAILY_LOSS_BREAKER,
                f"equity {equity:.2f} is {lim.daily_loss_limit_pct}% below the day's start "
                f"{account.day_start_equity:.2f}; no entries until the next UTC day",
            )
        if self._breaker_day == today:  # tripped earlier today: a bounce back does not re-open entries
            raise _Reject(
                Reason.DAILY_LOSS_BREAKER,
                f"the daily loss breaker tripped earlier on {today}; no entries until the next UTC day",
            )
        checks.append("daily_loss")
        if account.peak_equity > 0 and equity <= account.peak_equity * (1 - lim.max_drawdown_pct / 100):
            raise _Reject(
                Reason.DRAWDOWN_KILL_SWITCH,
                f"equity {equity:.2f} is {lim.max_drawdown_pct}% below the peak {account.peak_equity:.2f}",
            )
        checks.append("drawdown")
        if sign > 0 and lim.btc_filter_drop_pct > 0:
            btc = _num(ctx.btc_change_4h_pct)
            if btc is not None and btc < -lim.btc_filter_drop_pct:
                raise _Reject(
                    Reason.BTC_FILTER,
                    f"{lim.btc_filter_symbol} fell {-btc:.2f}% over 4 h (> {lim.btc_filter_drop_pct:g}%): no new longs",
                )
            checks.append("btc_filter" if btc is not None else "btc_filter_unknown")
        if lim.news_veto_hours > 0:
            critical = critical_events(snap.sentiment, snap.as_of, timedelta(hours=lim.news_veto_hours))
            if critical:
                raise _Reject(
                    Reason.NEWS_VETO,
                    f"critical news seen {critical[0].time:%Y-%m-%d %H:%M} UTC: {critical[0].title[:120]} — no new "
                    f"entries for {lim.news_veto_hours:g} h after it",
                )
            checks.append("news_veto" if snap.sentiment is not None else "news_unknown")
        symbol = snap.symbol
        if account.position(symbol) is not None:
            raise _Reject(Reason.POSITION_EXISTS, f"a {symbol} position is already open")
        checks.append("one_per_symbol")
        if len(account.positions) >= lim.max_open_positions:
            raise _Reject(Reason.MAX_POSITIONS, f"{len(account.positions)} positions open, max {lim.max_open_positions}")
        checks.append("max_positions")
        for group in self._groups.get(symbol, ()):
            for p in account.positions:
                if p.symbol in group and p.sign == sign:
                    raise _Reject(
                        Reason.CORRELATED_EXPOSURE, f"{p.symbol} is already {p.side} in {symbol}'s group"
                    )
        checks.append("correlation")
        cooldown = timedelta(hours=lim.cooldown_after_stop_h)
        for trade in account.recent_trades:
            if trade.symbol == symbol and trade.exit_reason in STOP_OUT_REASONS and ctx.now - trade.exit_time < cooldown:
                raise _Reject(
                    Reason.COOLDOWN, f"{symbol} stopped out at {trade.exit_time:%Y-%m-%d %H:%M}; cooling down {cooldown}"
                )
        checks.append("cooldown")
        rate = snap.funding_rate
        if rate is not None and -sign * rate < 0 and abs(rate) > lim.extreme_funding_rate:
            raise _Reject(Reason.EXTREME_FUNDING, f"a {action} pays funding {rate:+.5f} per interval")
        checks.append("funding")
        volume = ctx.ticker.quote_volume_24h if ctx.ticker is not None else None
        if volume is None:
            volume = snap.extra.get("quote_volume_24h")
        if volume is not None and volume < lim.min_quote_volume_24h:
            raise _Reject(Reason.VOLUME_TOO_LOW, f"24h quote volume {volume:,.0f} < {lim.min_quote_volume_24h:,.0f}")
        checks.append("volume" if volume is not None else "volume_unknown")
        spread = ctx.ticker.spread_bps if ctx.ticker is not None else None
        if spread is not None and spread > lim.max_spread_bps:
            raise _Reject(Reason.SPREAD_TOO_WIDE, f"spread {spread:.1f} bps > {lim.max_spread_bps}")
        if spread is not None:
            checks.append("spread")

        price = snap.price
        base = snap.timeframes.get("1h") or next(iter(snap.timeframes.values()), None)
        atr = base.atr_14 if base is not None else None
        raw_stop = getattr(decision, "stop_loss", None)
        stop = _num(raw_stop)
        if raw_stop is None or stop is None or stop <= 0:
            if raw_stop is not None and stop is None:
                raise _Reject(Reason.NO_STOP, f"stop {raw_stop!r} is not a number")
            stop = atr_stop(sign, price, atr, lim)
            checks.append("atr_stop_repaired")
        elif sign * (price - stop) <= 0:
            raise _Reject(
                Reason.STOP_WRONG_SIDE, f"{action} stop {stop} must be {'below' if sign > 0 else 'above'} price {price}"
            )
        distance_pct = abs(price - stop) / price * 100.0
        if distance_pct < lim.min_stop_pct - 1e-9:
            raise _Reject(Reason.STOP_TOO_TIGHT, f"stop {distance_pct:.2f}% away, min {lim.min_stop_pct}%")
        if distance_pct > lim.max_stop_pct + 1e-9:
            raise _Reject(Reason.STOP_TOO_WIDE, f"stop {distance_pct:.2f}% away, max {lim.max_stop_pct}%")
        checks.append("stop")
        regime = news_regime(snap.sentiment, snap.as_of) if lim.news_regime else None
        leverage_factor = 1.0
        if regime is not None:
            leverage_factor, stop_factor = NEWS_REGIME_FACTORS[regime]
            wider_pct = min(distance_pct * stop_factor, lim.max_stop_pct)
            stop = price * (1.0 - sign * wider_pct / 100.0)
            checks.append(f"news_{regime}")

        targets = tuple(_num(t) for t in (getattr(decision, "take_profit", ()) or ()))
        if not targets or len(targets) > 3 or any(t is None for t in targets):
            raise _Reject(Reason.TARGETS_NOT_ORDERED, f"need 1-3 numeric targets, got {list(targets)}")
        previous = price
        for target in targets:
            assert target is not None
            if sign * (target - previous) <= 0:
                raise _Reject(
                    Reason.TARGETS_NOT_ORDERED,
                    f"targets {list(targets)} must move {'up' if sign > 0 else 'down'} from price {price}",
                )
            previous = target
        checks.append("targets")
        # per unit and net of costs, as the broker books them: the stop loses its distance plus fees and
        # slippage on both fills; a target earns its distance less the slipped entry's costs and the
        # taker fee on the (limit-priced) exit
        risk_dist = loss_per_unit_at_stop(price, stop, self._fee, self._slip)
        entry_cost = (self._fee + self._slip) * price
        first = abs(targets[0] - price) - entry_cost - self._fee * targets[0]  # type: ignore[operator]
        second = targets[min(1, len(targets) - 1)]
        last = abs(second - price) - entry_cost - self._fee * second  # type: ignore[operator]
        # the plan's reward: TP1 closes a fraction at target 1, TP2 the rest at target 2
        reward = lim.tp1_close_fraction * first + (1 - lim.tp1_close_fraction) * last
        if len(targets) == 1:
            reward = first
        if reward / risk_dist < lim.min_reward_risk:
            raise _Reject(
                Reason.REWARD_RISK_TOO_LOW, f"reward/risk {reward / risk_dist:.2f} < {lim.min_reward_risk}"
            )
        checks.append("reward_risk")

        symbol_cap = dict(lim.symbol_leverage).get(symbol, HARD_MAX_LEVERAGE)
        leverage = int(min(asked_leverage, ctx.state.max_leverage, lim.hard_max_leverage, HARD_MAX_LEVERAGE,
                           volatility_leverage_cap(price, atr), symbol_cap))
        leverage = max(1, int(leverage * leverage_factor))
        checks.append(f"leverage_{leverage}x")
        liq = liquidation_price(sign, price, 1.0, leverage, self.costs.maintenance_margin_rate)
        if sign * (liq - stop) >= 0:
            raise _Reject(
                Reason.STOP_BEYOND_LIQUIDATION,
                f"at {leverage}x the liquidation price {liq:.6g} is not beyond the stop {stop:.6g}",
            )
        checks.append("liquidation")
        qty = size_for_risk(
            equity, lim.risk_per_trade_pct, price, stop, leverage, account.available, self._fee, self._slip
        )
        if qty * price < MIN_NOTIONAL:
            raise _Reject(Reason.SIZE_TOO_SMALL, f"size {qty:.6g} ({qty * price:.2f} quote) below {MIN_NOTIONAL}")
        checks.append("size")
        return OrderIntent(
            symbol=symbol,
            side="long" if sign > 0 else "short",
            qty=qty,
            leverage=leverage,
            stop_loss=stop,
            take_profit=targets,  # type: ignore[arg-type]
            reference_price=price,
            est_liquidation=liq,
            risk_amount=qty * loss_per_unit_at_stop(price, stop, self._fee, self._slip),
            confidence=confidence,
            signal_id=ctx.signal_id,
            cycle_id=ctx.cycle_id,
            created_at=ctx.now,
        )
