"""The deterministic rules engine: the engine with no key, the ensemble's voter and the replay baseline.

Each timeframe gets a score in [-1, 1] from trend (price against EMA 20/50/200 and the EMA stack's slope,
read through the MACD line), momentum (RSI read by regime: high RSI is strength inside a trend and
overbought inside a range), the MACD histogram, and volume when the snapshot carries a volume ratio.
Scores are weighted 1h 30 % / 4h 50 % / 1d 20 %, a daily trend against the signal vetoes it, and funding
extremes lean against the crowded side. Replay calls `decide_sync` for every symbol-bar, so this is plain
Python on floats: no pandas, no pydantic, no allocation beyond the returned record.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.models import (
    AccountView,
    Action,
    Decision,
    DecisionRecord,
    Snapshot,
    TimeframeView,
)

TIMEFRAME_WEIGHTS: tuple[tuple[str, float], ...] = (("1h", 0.30), ("4h", 0.50), ("1d", 0.20))


@dataclass(frozen=True, slots=True)
class RulesParams:
    entry_threshold: float = 0.45
    daily_veto_trend: float = 0.5  # a 1d trend at least this strong against the signal vetoes it
    min_4h_trend: float = 0.5  # entries only with the 4h trend (the heaviest frame) at least this aligned
    funding_extreme: float = 0.0005  # per 8h; beyond it the crowded side is leaned against
    funding_penalty: float = 0.15
    atr_stop_multiple: float = 3.0
    stop_timeframe: str = "1h"
    min_stop_pct: float = 1.5
    max_stop_pct: float = 5.0
    target_r: tuple[float, float] = (1.5, 2.5)
    max_leverage: int = 5
    # leverage such that the stop distance is about this share of margin: 10 % / 2 % stop -> 5x
    margin_at_stop: float = 0.10


def _clip(value: float) -> float:
    return -1.0 if value < -1.0 else 1.0 if value > 1.0 else value


def _timeframe_score(view: TimeframeView) -> tuple[float, float] | None:
    """(score, trend) of one timeframe, or None while its indicators are warming up.

    Trend is the average of price vs EMA20, EMA20 vs EMA50, EMA50 vs EMA200 (price vs EMA200 while EMA50
    warms up) and the slope of the short EMAs read from the MACD line (EMA12 - EMA26). Written out flat:
    replay calls this for every symbol-bar.
    """
    close, e20, e50, e200, macd = view.close, view.ema_20, view.ema_50, view.ema_200, view.macd
    total = 0.0
    n = 0
    if e20 is not None:
        total += 1.0 if close > e20 else -1.0 if close < e20 else 0.0
        n += 1
        if e50 is not None:
            total += 1.0 if e20 > e50 else -1.0 if e20 < e50 else 0.0
            n += 1
    if e200 is not None:
        ref = e50 if e50 is not None else close
        total += 1.0 if ref > e200 else -1.0 if ref < e200 else 0.0
        n += 1
    if macd is not None:
        total += 1.0 if macd > 0.0 else -1.0 if macd < 0.0 else 0.0
        n += 1
    if n == 0:
        return None
    trend = total / n
    score = 0.55 * trend
    rsi = view.rsi_14
    if rsi is not None:
        strength = _clip((rsi - 50.0) / 20.0)
        if trend >= 0.5 or trend <= -0.5:
            # Inside a trend RSI confirms it; past 80 / below 20 the move is stretched: count it half.
            if rsi > 80.0 or rsi < 20.0:
                strength *= 0.5
            score += 0.25 * strength
        elif rsi > 60.0 or rsi < 40.0:
            # Inside a range RSI reads as overbought / oversold, and only beyond 60 / 40.
            score -= 0.25 * strength
    hist, atr = view.macd_hist, view.atr_14
    if hist is not None and atr is not None and 0.1 * atr > 0.0:  # not `atr > 0`: 0.1 x a denormal is 0
        score += 0.20 * _clip(hist / (0.1 * atr))
    extra = view.extra
    ratio = (extra.get("vol_ratio") or extra.get("volume_ratio")) if extra else None
    if ratio is not None and ratio > 0:
        # Volume confirms: above-average volume strengthens the bar's score, thin volume weakens it.
        score *= 0.8 + 0.2 * (ratio if ratio < 2.0 else 2.0)
    score = _clip(score)
    if score != score:  # a NaN indicator (a hand-built view; snapshot builders give None): no opinion
        return None
    return score, trend


def atr_stop(
    price: float, atr: float | None, action: Action, *, multiple: float, min_pct: float, max_pct: float
) -> tuple[float, float, float]:
    """The stop `multiple` ATRs from price, bounded to [min_pct, max_pct] % of price (min_pct without a usable
    ATR), rounded away from price unless that would pass the cap: (stop, distance, stop_pct)."""
    stop_pct = multiple * atr / price * 100.0 if atr is not None and atr > 0 else min_pct
    if not math.isfinite(stop_pct) or stop_pct < min_pct:
        stop_pct = min_pct
    elif stop_pct > max_pct:
        stop_pct = max_pct
    distance = price * stop_pct / 100.0
    sign = 1.0 if action is Action.LONG else -1.0
    stop = _round_away(price - sign * distance, -sign)
    if abs(price - stop) > price * max_pct / 100.0:  # rounding away pushed it past the cap
        stop = _round_away(price - sign * distance, sign)
    return stop, distance, stop_pct


def _round_away(value: float, direction: float) -> float:
    """Six significant digits, rounded in `direction` (-1 down, +1 up) so a bounded stop stays bounded."""
    if value <= 0:
        return value
    scale = 10.0 ** (5 - math.floor(math.log10(value)))
    rounded = (math.floor if direction < 0 else math.ceil)(value * scale - 1e-9 * direction) / scale
    return float(f"{rounded:.6g}")


class RulesEngine:
    name = "rules"

    def __init__(self, params: RulesParams | None = None) -> None:
        self.params = params or RulesParams()
        # Replay hands the same 4h / 1d view object to consecutive hours: score it once. Holding the view
        # keeps identity meaningful (no id reuse).
        self._memo: dict[str, dict[str, tuple[TimeframeView, tuple[float, float] | None]]] = {}
        # Hold records are few distinct values (reason text, score to 2 decimals): build each once.
        self._holds: dict[tuple[str, float, object], DecisionRecord] = {}

    async def decide(self, snapshot: Snapshot, account: AccountView) -> DecisionRecord:
        return self.decide_sync(snapshot, account)

    def score(self, snapshot: Snapshot) -> tuple[float, float | None, float | None]:
        """(weighted score in [-1, 1], the 1d trend, the 4h trend) before vetoes; trends None if unknown."""
        weighted = 0.0
        weights = 0.0
        daily_trend: float | None = None
        h4_trend: float | None = None
        frames = snapshot.timeframes
        memo = self._memo.get(snapshot.symbol)
        if memo is None:
            memo = self._memo[snapshot.symbol] = {}
        for tf, weight in TIMEFRAME_WEIGHTS:
            view = frames.get(tf)
            if view is None:
                continue
            seen = memo.get(tf)
            if seen is not None and seen[0] is view:
                result = seen[1]
            else:
                result = _timeframe_score(view)
                memo[tf] = (view, result)
            if result is None:
                continue
            weighted += weight * result[0]
            weights += weight
            if tf == "1d":
                daily_trend = result[1]
            elif tf == "4h":
                h4_trend = result[1]
        if weights == 0.0:
            return 0.0, None, None
        score = weighted / weights
        funding = snapshot.funding_rate
        p = self.params
        if funding is not None:
            if funding > p.funding_extreme:
                score -= p.funding_penalty
            elif funding < -p.funding_extreme:
                score += p.funding_penalty
        return _clip(score), daily_trend, h4_trend

    def decide_sync(self, snapshot: Snapshot, account: AccountView) -> DecisionRecord:
        p = self.params
        score, daily_trend, h4_trend = self.score(snapshot)
        confidence = abs(score)
        if score >= p.entry_threshold:
            action = Action.LONG
        elif score <= -p.entry_threshold:
            action = Action.SHORT
        else:
            return self._hold("inside", score, None)
        if daily_trend is not None and (
            (action is Action.LONG and daily_trend <= -p.daily_veto_trend)
            or (action is Action.SHORT and daily_trend >= p.daily_veto_trend)
        ):
            return self._hold("veto_1d", score, daily_trend)
        if h4_trend is not None and (
            (action is Action.LONG and h4_trend < p.min_4h_trend)
            or (action is Action.SHORT and h4_trend > -p.min_4h_trend)
        ):
            return self._hold("no_4h", score, h4_trend)
        position = account.position(snapshot.symbol) if account.positions else None
        if position is not None:
            if position.side != action.value:
                return self._record(
                    Decision(Action.CLOSE, confidence, reasoning=f"score {score:+.2f} against open {position.side}")
                )
            return self._hold("already", score, position.side)
        entry = self._entry(snapshot, action, score, confidence)
        if entry is None:
            return self._hold("price", score, None)
        return self._record(entry)

    def _hold(self, kind: str, score: float, detail: float | str | None) -> DecisionRecord:
        score = round(score, 2)
        key = (kind, score, detail)
        record = self._holds.get(key)
        if record is None:
            if kind == "inside":
                text, confidence = f"score {score:+.2f} inside ±{self.params.entry_threshold}", abs(score)
            elif kind == "veto_1d":
                text, confidence = f"score {score:+.2f} vetoed by 1d trend {detail:+.2f}", 0.0
            elif kind == "price":
                text, confidence = f"score {score:+.2f}, but no sound stop at this price", 0.0
            elif kind == "no_4h":
                text, confidence = f"score {score:+.2f} without a 4h trend ({detail:+.2f})", 0.0
            else:
                text, confidence = f"score {score:+.2f}, already {detail}", abs(score)
            record = self._record(Decision.hold(text, min(confidence, 1.0)))
            self._holds[key] = record
        return record

    def _entry(self, snapshot: Snapshot, action: Action, score: float, confidence: float) -> Decision | None:
        """The entry with its ATR stop and targets, or None where float range makes them unsound (prices
        near the denormal or overflow limits)."""
        try:
            decision = self._levels(snapshot, action, score, confidence)
            decision.check_prices(snapshot.price)
        except (ArithmeticError, ValueError):  # DomainError included
            return None
        stop = decision.stop_loss
        if stop is None or not math.isfinite(stop) or not all(math.isfinite(t) for t in decision.take_profit):
            return None
        return decision

    def _levels(self, snapshot: Snapshot, action: Action, score: float, confidence: float) -> Decision:
        p = self.params
        price = snapshot.price
        view = snapshot.timeframes.get(p.stop_timeframe)
        atr = view.atr_14 if view is not None else None
        stop, distance, stop_pct = atr_stop(
            price, atr, action, multiple=p.atr_stop_multiple, min_pct=p.min_stop_pct, max_pct=p.max_stop_pct
        )
        sign = 1.0 if action is Action.LONG else -1.0
        targets = tuple(float(f"{price + sign * r * distance:.6g}") for r in p.target_r)
        leverage = max(1, min(p.max_leverage, int(p.margin_at_stop * 100.0 / stop_pct)))
        return Decision(
            action,
            confidence,
            stop,
            targets,
            leverage,
            invalidation=f"1h close {'below' if sign > 0 else 'above'} {stop:.6g}",
            reasoning=f"rules score {score:+.2f}, {snapshot.regime}, stop {stop_pct:.2f}% from ATR",
        )

    def _record(self, decision: Decision) -> DecisionRecord:
        return DecisionRecord(status="ok", engine="rules", model="rules", attempts=1, decision=decision)
