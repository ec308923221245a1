"""The trend engine: time-series momentum on the daily and 4-hour bars (docs/strategy.md).

Direction comes from the daily EMA stack — long while the daily close and EMA 20 sit above EMA 50, short
while both sit below — and only when the stack is spread by at least `min_spread_atr` daily ATRs, so a
flat, tangled stack (chop) stands aside. The 4h close must agree with the 4h EMA 50 before an entry.
The stop is `atr_stop_multiple` daily ATRs (bounded to [min_stop_pct, max_stop_pct]), so the guard's fixed risk at the stop
makes the position size inversely proportional to volatility: volatility-targeted sizing. TP1 takes part
of the profit at `target_r[0]` R, TP2 sits far away so the broker's trailing stop lets the rest run, and
a daily close back through EMA 50 closes the position. No calendar dates, no symbols' prices: only the
snapshot's closed bars. Plain floats: replay calls `decide_sync` for every symbol-bar.

Variants (settings; docs/strategy.md has their results — the bot ships `signal="tsmom"`, shorts, the regime
filter and the funding veto at 0.9 on, through bot.settings; these dataclass defaults are the round-1 engine): `signal="tsmom"` takes the
direction from the sign of the snapshot's `change_30d_pct` instead (the 30-day return: the lab's
`baseline:tsmom` direction, each position with the same ATR stop, closed when the sign flips, one position per flip);
`funding_veto_quantile` skips entries on the side paying funding while `funding_avg_24h` is in that top
share of its own history; `regime_filter` enters only while the snapshot's regime trends the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from core.decide.memory import FlipGate, FundingHistory, decode_trend_memory, encode_trend_memory
from core.decide.rules import atr_stop
from core.models import AccountView, Action, Decision, DecisionRecord, Regime, Snapshot, TimeframeView

MAX_SHORT_REACH = 0.9  # a short's farthest target: 90 % below the entry


@dataclass(frozen=True, slots=True)
class TrendParams:
    min_spread_atr: float = 0.5  # |EMA20 - EMA50| on 1d, in 1d ATRs, below which the trend is chop
    atr_stop_multiple: float = 2.0  # stop distance in ATRs of `stop_timeframe`
    stop_timeframe: str = "1d"
    target_r: tuple[float, float] = (6.0, 20.0)
    allow_shorts: bool = False  # shorts: research variant, lower Sharpe on the selection folds
    exit_ema: int = 50  # a daily close back through this EMA (20, 50 or 200) closes the position
    slow_trend: bool = False  # direction from the 1d EMA50 / EMA200 pair (research variant, not kept)
    long_term_filter: bool = False  # longs only above the 1d EMA200, shorts only below it
    crowded_funding: float | None = None  # per 8h; no entry on the side paying at least this (contrarian)
    signal: str = "ema"  # "ema": the daily EMA stack; "tsmom": the sign of the snapshot's change_30d_pct
    funding_veto_quantile: float | None = None  # e.g. 0.9: no long while funding_avg_24h is in its top decile
    regime_filter: bool = False  # enter only while the snapshot's regime trends in the trade's direction
    confidence: float = 0.7
    min_stop_pct: float = 1.5
    max_stop_pct: float = 15.0  # the guard's MAX_STOP_PCT must allow it
    max_leverage: int = 5
    margin_at_stop: float = 0.10  # leverage such that the stop is about this share of margin


def _direction(view: TimeframeView | None, min_spread_atr: float, slow: bool = False) -> int | None:
    """+1 / -1 for a daily up / down trend, 0 for none or chop, None while the indicators warm up.
    `slow`: the EMA 50 / EMA 200 pair instead of EMA 20 / EMA 50 (a research variant)."""
    if view is None:
        return None
    e20, e50, atr = (view.ema_50, view.ema_200, view.atr_14) if slow else (view.ema_20, view.ema_50, view.atr_14)
    if e20 is None or e50 is None or atr is None or not atr > 0.0:
        return None
    close = view.close
    if abs(e20 - e50) < min_spread_atr * atr:
        return 0
    if close > e50 and e20 > e50:
        return 1
    if close < e50 and e20 < e50:
        return -1
    return 0


def _sign(value: float | None) -> int | None:
    if value is None or not math.isfinite(value):
        return None
    return (value > 0.0) - (value < 0.0)


class TrendEngine:
    name = "trend"

    def __init__(self, params: TrendParams | None = None) -> None:
        self.params = params or TrendParams()
        if self.params.signal not in ("ema", "tsmom"):
            raise ValueError(f"trend signal must be ema or tsmom, got {self.params.signal!r}")
        self._holds: dict[str, DecisionRecord] = {}
        self._flips: dict[str, FlipGate] = {}
        self._funding: dict[str, FundingHistory] = {}

    async def decide(self, snapshot: Snapshot, account: AccountView) -> DecisionRecord:
        return self.decide_sync(snapshot, account)

    # ---- memory across restarts (core.decide.memory) ------------------------------------------

    def memory(self) -> dict[str, object]:
        """What this engine remembers per symbol, JSON-safe and versioned (the live bot stores it)."""
        return encode_trend_memory(self.name, self._flips, self._funding)

    def restore(self, memory: Mapping[str, object]) -> None:
        """Take a stored `memory()`; CorruptMemory (and this engine's memory unchanged) when it is not one."""
        self._flips, self._funding = decode_trend_memory(self.name, memory)

    def observe_funding(self, symbol: str, rate: float | None) -> None:
        """One funding_avg_24h a snapshot of `symbol` had (the warm-up feeds the hours before a first start);
        nothing while the veto is off, as in `decide`."""
        if self.params.funding_veto_quantile is not None:
            self._funding.setdefault(symbol, FundingHistory()).observe(rate)

    def knows_funding(self, symbol: str) -> bool:
        return symbol in self._funding

    def memory_summary(self) -> str:
        """How many funding samples each symbol has and whether its veto acts yet (/status, the start-up log)."""
        if self.params.funding_veto_quantile is None:
            return "funding veto off"
        if not self._funding:
            return "no funding samples yet (the veto acts after 90 per symbol)"
        parts = []
        for symbol, history in sorted(self._funding.items()):
            n, needed = len(history.values), history.min_samples
            parts.append(f"{symbol.split(':')[0]} {n} (veto active)" if n >= needed
                         else f"{symbol.split(':')[0]} {n} of {needed} (veto not yet)")
        return "funding samples: " + ", ".join(parts)

    def decide_sync(self, snapshot: Snapshot, account: AccountView) -> DecisionRecord:
        p = self.params
        frames = snapshot.timeframes
        daily = frames.get("1d")
        momentum = self._flips.setdefault(snapshot.symbol, FlipGate()) if p.signal == "tsmom" else None
        direction = _sign(snapshot.extra.get("change_30d_pct")) if momentum is not None else _direction(
            daily, p.min_spread_atr, p.slow_trend)
        # every signal seen counts for the flip, also one this engine does not trade (a short while long-only)
        armed = momentum is None or direction is None or momentum.armed(direction)
        funding_pct = self._funding_percentile(snapshot)
        position = account.position(snapshot.symbol) if account.positions else None
        if position is not None:
            sign = 1 if position.side == "long" else -1
            if momentum is not None:
                momentum.entered_sign = sign  # this signal has had its position
                if direction is not None and direction != sign:
                    return self._record(Decision(
                        Action.CLOSE, p.confidence, reasoning=f"30-day momentum no longer {position.side}"
                    ))
                return self._hold(f"holding {position.side} with the momentum")
            ema = ({20: daily.ema_20, 200: daily.ema_200}.get(p.exit_ema, daily.ema_50)) if daily is not None else None
            if ema is not None and daily is not None and sign * (daily.close - ema) < 0.0:
                return self._record(Decision(
                    Action.CLOSE, p.confidence, reasoning=f"1d close back through EMA{p.exit_ema} against {position.side}"
                ))
            return self._hold(f"holding {position.side} with the trend")
        if direction is None:
            return self._hold("1d indicators warming up")
        if direction == 0:
            return self._hold("no 1d trend (chop): standing aside")
        if direction < 0 and not p.allow_shorts:
            return self._hold("1d downtrend: long-only, standing aside")
        if not armed:
            return self._hold("this momentum signal has had its position: waiting for a flip")
        if p.long_term_filter and daily is not None:
            e200 = daily.ema_200
            if e200 is None or direction * (daily.close - e200) <= 0.0:
                return self._hold("against the 1d EMA200: standing aside")
        funding = snapshot.funding_rate
        if p.crowded_funding is not None and funding is not None and direction * funding >= p.crowded_funding:
            return self._hold("funding: the trend's side is crowded")
        if funding_pct is not None and p.funding_veto_quantile is not None:
            crowded = funding_pct >= p.funding_veto_quantile if direction > 0 else funding_pct <= 1.0 - p.funding_veto_quantile
            if crowded:
                return self._hold("funding_avg_24h at an extreme of its history on the trade's side: standing aside")
        if p.regime_filter and snapshot.regime is not (Regime.TRENDING_UP if direction > 0 else Regime.TRENDING_DOWN):
            return self._hold(f"regime {snapshot.regime.value}: not trending the trade's way")
        h4 = frames.get("4h")
        if momentum is None and (h4 is None or h4.ema_50 is None or direction * (h4.close - h4.ema_50) <= 0.0):
            return self._hold("4h close not with the 1d trend")
        stop_view = frames.get(p.stop_timeframe)
        atr = stop_view.atr_14 if stop_view is not None else None
        entry = self._entry(snapshot, Action.LONG if direction > 0 else Action.SHORT, atr)
        if entry is None:
            return self._hold("no sound stop at this price")
        return self._record(entry)

    def _funding_percentile(self, snapshot: Snapshot) -> float | None:
        if self.params.funding_veto_quantile is None:
            return None
        rate = snapshot.extra.get("funding_avg_24h")
        history = self._funding.get(snapshot.symbol)
        if history is None:
            history = self._funding[snapshot.symbol] = FundingHistory()
        history.observe(rate)
        return history.percentile(rate) if rate is not None else None

    def _entry(self, snapshot: Snapshot, action: Action, atr: float | None) -> Decision | None:
        p = self.params
        price = snapshot.price
        try:
            stop, _, stop_pct = atr_stop(
                price, atr, action, multiple=p.atr_stop_multiple, min_pct=p.min_stop_pct, max_pct=p.max_stop_pct
            )
            sign = 1.0 if action is Action.LONG else -1.0
            # A short's far target would pass zero (8R of a 15 % stop is -120 %): at most 90 % down, and
            # a nearer target at most its share of that, so they stay ordered.
            reach = [r * stop_pct / 100.0 for r in p.target_r]
            if sign < 0:
                n = len(reach)
                reach = [min(x, MAX_SHORT_REACH * (i + 1) / n) for i, x in enumerate(reach)]
            targets = tuple(float(f"{price * (1.0 + sign * x):.6g}") for x in reach)
            leverage = max(1, min(p.max_leverage, int(p.margin_at_stop * 100.0 / stop_pct)))
            if p.signal == "tsmom":
                why, invalidation = "30-day return", f"30-day return turns {'down' if sign > 0 else 'up'}"
            else:
                why, invalidation = "1d EMA stack and 4h close", f"1d close {'below' if sign > 0 else 'above'} EMA50"
            decision = Decision(
                action,
                p.confidence,
                stop,
                targets,
                leverage,
                invalidation=invalidation,
                reasoning=f"trend: {why} {'up' if sign > 0 else 'down'}, stop {stop_pct:.2f}% "
                f"({p.atr_stop_multiple:g}x {p.stop_timeframe} ATR), TP1 {reach[0] * 100.0 / stop_pct:.3g}R, rest trails",
            )
            decision.check_prices(price)
        except (ArithmeticError, ValueError):  # DomainError included
            return None
        if not all(math.isfinite(v) for v in (decision.stop_loss or math.nan, *decision.take_profit)):
            return None
        return decision

    def _hold(self, text: str) -> DecisionRecord:
        record = self._holds.get(text)
        if record is None:
            record = self._holds[text] = self._record(Decision.hold(text, 0.0))
        return record

    def _record(self, decision: Decision) -> DecisionRecord:
        return DecisionRecord(status="ok", engine="trend", model="trend", attempts=1, decision=decision)
