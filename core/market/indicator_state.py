"""IndicatorState: `compute_indicators` carried forward one new bar at a time, in constant time per bar.

Built from one whole pass over a frame, `extend(bars)` appends bars and returns the last `keep` bars as an
IndicatorFrame equal, float for float, to `compute_indicators(frame + bars).tail(keep)`: each recursion takes one
step of pandas' EWM kernel from its last value (with every input observed the kernel's old weight is 1 again
after each bar, so the last value is the whole state), the trailing means take differences of the same running
sums, the quality checks look at the same bars, and numpy does the one transcendental (log) so its rounding is
the same. Where a new bar would change a whole-frame pass's past — a zero high − low range, after which pandas-ta
adds float epsilon to every range, or a value that is not finite — or while an indicator is still seeding,
`extend` returns None and the caller computes the window again.
"""

from __future__ import annotations

import math
import sys
from collections import deque
from collections.abc import Sequence

import numpy as np

from core.market.ewm import alpha_com, span_com
from core.market.indicators import (
    ATR_LENGTH,
    ATR_MEAN_WINDOW,
    RECURSIONS,
    RSI_LENGTH,
    RV_WINDOW,
    VOLUME_WINDOW,
    IndicatorFrame,
    day_bars,
    four_hour_bars,
    prefix_sums,
)
from core.market.quality import OUTLIER_ATR_MULTIPLE, SPIKE_LOOKBACK, next_bar_is_bad, usable_close

# centres of mass of indicators.RECURSIONS, in that order
_EWM_COMS = (*(span_com(n) for n in (12, 26, 20, 50, 200, 9)), *(alpha_com(1.0 / RSI_LENGTH),) * 2,
             alpha_com(1.0 / ATR_LENGTH))
_VIEW_PRICES = ("open", "high", "low", "close")
MIN_BARS = 200 + 1  # every recursion past its seed (EMA 200 seeds at bar 199)
_EPSILON = sys.float_info.epsilon

Bar = tuple[int, float, float, float, float, float]  # open time ms, open, high, low, close, volume


def _div(a: float, b: float) -> float:
    """a / b as numpy divides: ±inf or NaN for a zero divisor, no exception."""
    if b:
        return a / b
    if a != a or a == 0 or b != b:
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


def _step(weighted: float, cur: float, com: float) -> float:
    """One step of pandas' EWM kernel (adjust=False, the previous bar observed, `cur` observed)."""
    if weighted == cur:  # the kernel leaves a constant series alone ("avoid numerical errors")
        return weighted
    alpha = 1.0 / (1.0 + com)
    old_wt = 1.0 - alpha
    return (old_wt * weighted + alpha * cur) / (old_wt + alpha)


class IndicatorState:
    """The running state of one timeframe's indicators and the last `keep` bars of every column."""

    def __init__(self, frame: IndicatorFrame, keep: int, *, zero_range: bool, sums: dict[str, list[float]],
                 ewm: list[float], closes: list[float]) -> None:
        self.frame = frame.tail(keep)
        self._names = list(frame.columns)
        self._matrix = np.vstack([self.frame.columns[k] for k in self._names])  # columns × the last `keep` bars
        self._zero_range = zero_range  # a bar of the frame had high == low: every range carries epsilon
        self._sums = sums
        self._ewm = ewm
        self._closes = deque(closes, maxlen=len(closes))

    @classmethod
    def start(cls, frame: IndicatorFrame, keep: int) -> IndicatorState | None:
        """The state at the end of `frame` (a whole `compute_indicators` pass), or None when it cannot be
        carried forward exactly (too short, or a value that is not finite)."""
        n = len(frame)
        col = frame.columns
        step = frame.timeframe_ms
        longest = max(VOLUME_WINDOW, RV_WINDOW, ATR_MEAN_WINDOW, day_bars(step), four_hour_bars(step))
        if n < max(MIN_BARS, longest + 2) or n < keep or len(frame.recursions) != len(RECURSIONS):
            return None
        if not all(math.isfinite(x) for x in frame.recursions) or not math.isfinite(col["macd"][-1]):
            return None
        c, v, atr = col["close"], col["volume"], col["atr_14"]
        with np.errstate(invalid="ignore", divide="ignore"):
            log_ret = np.full(n, np.nan)
            log_ret[1:] = np.log(c[1:] / c[:-1])
            windows = {"volume": (v, VOLUME_WINDOW), "log_ret": (log_ret, RV_WINDOW),
                       "log_ret_sq": (log_ret * log_ret, RV_WINDOW), "atr": (atr, ATR_MEAN_WINDOW),
                       "quote_volume": (c * v, day_bars(step))}
        sums = {}
        for name, (values, window) in windows.items():
            if not np.isfinite(values[-window - 1:]).all():
                return None
            sums[name] = prefix_sums(values)[-window - 2:].tolist()
        high_low = col["high"] - col["low"]
        return cls(frame, keep, zero_range=bool((high_low == 0).any()), sums=sums,
                   ewm=list(frame.recursions), closes=c[-max(day_bars(step), four_hour_bars(step)) - 1:].tolist())

    def extend(self, bars: Sequence[Bar]) -> IndicatorFrame | None:
        """Append `bars` (open times after the last bar's) and return the last `keep` bars; None when the
        bars cannot be appended exactly — the state is then spent, and the caller recomputes its window."""
        for bar in bars:
            row = self._advance(bar)
            if row is None:
                return None
            self._push(row)
        return self.frame

    def _push(self, row: dict[str, float]) -> None:
        """The kept bars with `row` appended and the oldest dropped (new arrays: frames handed out stay)."""
        frame = self.frame
        matrix = np.empty_like(self._matrix)
        matrix[:, :-1] = self._matrix[:, 1:]
        matrix[:, -1] = [row[k] for k in self._names]
        self._matrix = matrix
        t = int(row["open_ms"])

        def pushed(values: np.ndarray, value: object) -> np.ndarray:
            out = np.empty_like(values)
            out[:-1] = values[1:]
            out[-1] = value
            return out

        self.frame = IndicatorFrame(
            frame.timeframe,
            frame.timeframe_ms,
            pushed(frame.open_ms, t),
            pushed(frame.close_ms, t + frame.timeframe_ms),
            dict(zip(self._names, matrix, strict=True)),
            pushed(frame.gaps_cum, frame.gaps_cum[-1] + int(row["gap"])),
            pushed(frame.outliers, bool(row["outlier"])),
            pushed(frame.bad_cum, frame.bad_cum[-1] + int(row["bad"])),
            tuple(self._ewm),
        )

    def _advance(self, bar: Bar) -> dict[str, float] | None:
        t, o, h, lo, c, v = bar
        frame = self.frame
        if not all(math.isfinite(x) for x in (o, h, lo, c, v)) or t <= int(frame.open_ms[-1]):
            return None
        high_low = h - lo
        if high_low == 0 and not self._zero_range:
            return None  # a whole-frame pass would now add epsilon to every past range
        if self._zero_range:
            high_low = high_low + _EPSILON
        prev_close = self._closes[-1]
        ema_12, ema_26, ema_20, ema_50, ema_200, signal, gain, loss, atr = self._ewm
        prev_atr = atr
        change = c - prev_close
        true_range = max(abs(high_low), abs(h - prev_close), abs(prev_close - lo))
        ema_12, ema_26 = _step(ema_12, c, _EWM_COMS[0]), _step(ema_26, c, _EWM_COMS[1])
        line = ema_12 - ema_26
        ewm = [ema_12, ema_26, _step(ema_20, c, _EWM_COMS[2]), _step(ema_50, c, _EWM_COMS[3]),
               _step(ema_200, c, _EWM_COMS[4]), _step(signal, line, _EWM_COMS[5]),
               _step(gain, 0.0 if change < 0 else change, _EWM_COMS[6]),
               _step(loss, 0.0 if change > 0 else change, _EWM_COMS[7]), _step(atr, true_range, _EWM_COMS[8])]
        gain, loss, atr = ewm[6], ewm[7], ewm[8]
        denominator = gain + abs(loss)
        log_ret = float(np.log(np.float64(c / prev_close)))  # numpy's log, as the whole pass takes it
        means = {}
        for name, value, window, current in (
            ("volume", v, VOLUME_WINDOW, False), ("log_ret", log_ret, RV_WINDOW, True),
            ("log_ret_sq", log_ret * log_ret, RV_WINDOW, True), ("atr", atr, ATR_MEAN_WINDOW, True),
            ("quote_volume", c * v, day_bars(frame.timeframe_ms), True),
        ):
            sums = self._sums[name]
            if not math.isfinite(value):
                return None
            sums.append(sums[-1] + value)
            del sums[0]
            end = -1 if current else -2
            means[name] = (sums[end] - sums[end - window]) / window
        variance = max(means["log_ret_sq"] - means["log_ret"] * means["log_ret"], 0.0) * RV_WINDOW / (RV_WINDOW - 1)
        day, four_h = day_bars(frame.timeframe_ms), four_hour_bars(frame.timeframe_ms)
        closes = self._closes
        closes.append(c)
        # the new bar judged with the SPIKE_LOOKBACK bars before it, as the whole pass judges it
        col = frame.columns
        recent = (col[k][-SPIKE_LOOKBACK:].tolist() for k in _VIEW_PRICES)
        before = [usable_close(*x) for x in zip(*recent, strict=True)]
        self._ewm = ewm
        return {
            "open_ms": t, "open": o, "high": h, "low": lo, "close": c, "volume": v,
            "rsi_14": _div(100 * gain, denominator),
            "macd": line, "macd_signal": ewm[5], "macd_hist": line - ewm[5],
            "ema_20": ewm[2], "ema_50": ewm[3], "ema_200": ewm[4], "atr_14": atr,
            "atr_pct": _div(atr, c) * 100.0,
            "vol_ratio": _div(v, means["volume"]),
            "rv_20": math.sqrt(variance) * 100.0,
            "atr_ratio": _div(atr, means["atr"]),
            "quote_volume_24h": means["quote_volume"] * day,
            "change_24h_pct": (_div(c, closes[-1 - day]) - 1.0) * 100.0,
            "change_4h_pct": (_div(c, closes[-1 - four_h]) - 1.0) * 100.0,
            "gap": float(t - int(frame.open_ms[-1]) > frame.timeframe_ms),
            "outlier": float(max(h, prev_close) - min(lo, prev_close) > OUTLIER_ATR_MULTIPLE * prev_atr),
            "bad": float(next_bar_is_bad(o, h, lo, c, before)),
        }


__all__ = ["MIN_BARS", "Bar", "IndicatorState"]
