"""The one indicator function both snapshot sources share: a candles frame → numpy columns.

RSI 14 and ATR 14 (Wilder smoothing), MACD 12/26/9 and EMA 20/50/200 are pandas-ta's definitions, step for
step (its seeds, its true range, its float epsilon), on numpy arrays: the recursions run in pandas' EWM kernel
(`core.market.ewm`), all of a frame's Wilder averages in one call, so the values are pandas-ta's to the last bit
(tests compare against recorded pandas-ta output on the shared data) at a fraction of the cost, and neither
pandas-ta nor numba is imported. A few cheap extras are computed here with numpy: `atr_pct` (ATR as % of
close), `vol_ratio` (volume over the mean of the 20 bars before it), `rv_20` (realized volatility: std of the
last 20 log returns, in %), `atr_ratio` (ATR over its 50-bar mean; the regime's volatility input),
`change_24h_pct` and `quote_volume_24h` (Σ close×volume over the bars of the last 24 h), plus the
data-quality markers.
Every column is causal: the value at bar i depends only on bars ≤ i, so computing over a whole series
once and reading bar i gives what a computation stopped at bar i would give (EMA/RSI seeds aside: they
start at the first bar of whatever window was given, which is why replay warms up on earlier bars).
Values still warming up are NaN (→ None in the snapshot). pandas-ta seeds the RSI's Wilder average with
the first change rather than the mean of the first 14; the difference decays as (13/14)^n and is below
1e-9 relative after a few hundred bars (the tests compare against the textbook recursion).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.market.ewm import alpha_com, ewm_mean, ewm_means, span_com
from core.market.quality import bad_counts, bar_problems, gap_counts, outlier_marks
from core.market.timeframes import DAY_MS, index_ms, tf_ms

RSI_LENGTH = 14
ATR_LENGTH = 14
VOLUME_WINDOW = 20
RV_WINDOW = 20
ATR_MEAN_WINDOW = 50

INDICATOR_COLUMNS = ("rsi_14", "macd", "macd_signal", "macd_hist", "ema_20", "ema_50", "ema_200", "atr_14")
EXTRA_COLUMNS = (
    "atr_pct", "vol_ratio", "rv_20", "atr_ratio", "change_24h_pct", "quote_volume_24h", "change_4h_pct",
)
# The recursions behind the columns: EMA 12/26 (MACD's legs), EMA 20/50/200, MACD's signal, RSI's two Wilder
# averages (gains, losses) and ATR's.
RECURSIONS = ("ema_12", "ema_26", "ema_20", "ema_50", "ema_200", "macd_signal", "rsi_gain", "rsi_loss", "atr_14")
# What a TimeframeView carries in `extra` (in the JSON every hour, so only what helps a reader decide).
VIEW_EXTRA_COLUMNS = ("atr_pct", "vol_ratio", "rv_20")


@dataclass(frozen=True, slots=True)
class IndicatorFrame:
    """One timeframe of one symbol: bar times and OHLCV plus every indicator, as aligned numpy arrays."""

    timeframe: str
    timeframe_ms: int
    open_ms: np.ndarray
    close_ms: np.ndarray
    columns: dict[str, np.ndarray]
    gaps_cum: np.ndarray
    outliers: np.ndarray
    bad_cum: np.ndarray  # cumulative count of bars failing quality.bar_problems
    # the last value of each recursion (RECURSIONS order), where IndicatorState carries them on from
    recursions: tuple[float, ...] = ()

    def __len__(self) -> int:
        return len(self.open_ms)

    def tail(self, n: int) -> IndicatorFrame:
        """The last `n` bars. Indicators were computed on the whole frame, so the values are unchanged;
        gaps_cum stays cumulative, so gap windows ending in the tail read the same."""
        if n >= len(self):
            return self
        return IndicatorFrame(
            self.timeframe,
            self.timeframe_ms,
            self.open_ms[-n:],
            self.close_ms[-n:],
            {k: v[-n:] for k, v in self.columns.items()},
            self.gaps_cum[-n:],
            self.outliers[-n:],
            self.bad_cum[-n:],
            self.recursions,
        )

    def last_closed_index(self, as_of_ms: int) -> int:
        """Index of the last bar with close time <= as_of (-1 when none has closed)."""
        return int(np.searchsorted(self.close_ms, as_of_ms, side="right")) - 1


def _nanmean(values: np.ndarray) -> float:
    """`pd.Series.mean()`: NaNs skipped, NaN when none is left (numpy's pairwise sum, as pandas uses)."""
    mask = np.isnan(values)
    if not mask.any():
        return float(values.sum() / len(values)) if len(values) else math.nan
    count = len(values) - int(mask.sum())
    return float(np.where(mask, 0.0, values).sum() / count) if count else math.nan


def _presma(values: np.ndarray, length: int) -> np.ndarray:
    """pandas-ta's `presma` seeding: NaN before bar length-1, the mean of the first `length` values at it."""
    seeded = values.copy()
    seeded[length - 1] = _nanmean(values[:length])
    seeded[: length - 1] = np.nan
    return seeded


def ema(close: np.ndarray, length: int) -> np.ndarray:
    """pandas-ta `ema(close, length)`: SMA-seeded, alpha = 2 / (length + 1); all NaN when too short."""
    if len(close) < length:
        return np.full(len(close), np.nan)
    return ewm_mean(_presma(close, length), span_com(length))


def _rma_all(series: list[np.ndarray], length: int) -> list[np.ndarray]:
    """pandas-ta `rma` (Wilder's smoothing, alpha = 1 / length) of several series in one pass."""
    return ewm_means(series, alpha_com(1.0 / length))


def _true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """pandas-ta `true_range`: max(|high − low|, |high − prev close|, |prev close − low|), NaNs skipped (the
    first bar is its high − low); pandas-ta adds float epsilon to every high − low when one of them is 0."""
    hl_range = high - low
    if (hl_range == 0).any():
        hl_range = hl_range + sys.float_info.epsilon
    out = np.abs(hl_range)
    if len(close) > 1:
        prev = close[:-1]
        with np.errstate(invalid="ignore"):
            out[1:] = np.fmax(np.fmax(out[1:], np.abs(high[1:] - prev)), np.abs(prev - low[1:]))
    return out


def _rsi_and_atr(close: np.ndarray, high: np.ndarray, low: np.ndarray) -> tuple[np.ndarray, ...]:
    """pandas-ta `rsi(close, 14)` and `atr(high, low, close, 14)`, their three Wilder averages in one pass:
    RSI, ATR, and RSI's averages of gains and of losses."""
    n = len(close)
    nan = np.full(n, np.nan)
    if n < RSI_LENGTH + 1:  # both need length + 1 bars
        return nan, nan.copy(), nan, nan
    change = np.empty(n)
    change[0] = np.nan
    np.subtract(close[1:], close[:-1], out=change[1:])
    with np.errstate(invalid="ignore"):
        gain = np.where(change < 0, 0.0, change)
        loss = np.where(change > 0, 0.0, change)
    true_range = _true_range(high, low, close)
    series = [gain, loss]
    atr_ok = not np.isnan(true_range).all()
    if atr_ok:
        series.append(_presma(true_range, ATR_LENGTH))
    averages = _rma_all(series, RSI_LENGTH)
    avg_gain, avg_loss = averages[0], averages[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        rsi = 100 * avg_gain / (avg_gain + np.abs(avg_loss))
    return rsi, averages[2] if atr_ok else nan, avg_gain, avg_loss


def _macd(close: np.ndarray) -> tuple[np.ndarray, ...]:
    """pandas-ta `macd(close, 12, 26, 9)`'s steps: EMA 12 − EMA 26, signal = EMA 9 from the first valid MACD.
    Returns the line, signal, histogram and the two EMAs."""
    n = len(close)
    fast, slow = ema(close, 12), ema(close, 26)
    line = fast - slow if n >= 26 else np.full(n, np.nan)
    signal = np.full(n, np.nan)
    valid = np.flatnonzero(~np.isnan(line))
    first = int(valid[0]) if len(valid) else 0
    signal[first:] = ema(line[first:], 9)
    return line, signal, line - signal, fast, slow


def day_bars(timeframe_ms: int) -> int:
    """Bars in 24 h (the change and quote-volume window; 1 for timeframes of a day or more)."""
    return max(1, DAY_MS // timeframe_ms)


def four_hour_bars(timeframe_ms: int) -> int:
    """Bars in 4 h (the BTC filter's window, #17)."""
    return max(1, DAY_MS // 6 // timeframe_ms)


def prefix_sums(values: np.ndarray) -> np.ndarray:
    """0, then the running sum of `values` (NaN and ±inf as numpy's nan_to_num reads them when any is there):
    the sums the trailing means take differences of."""
    clean = values if np.isfinite(values).all() else np.nan_to_num(values, nan=0.0)
    sums = np.empty(len(values) + 1)
    sums[0] = 0.0
    np.cumsum(clean, out=sums[1:])
    return sums


def _trailing_mean(values: np.ndarray, window: int, *, exclude_current: bool = False) -> np.ndarray:
    """Mean of the last `window` values (ending at i, or at i-1 with exclude_current); NaN until full, and
    NaN where a NaN is in the window. A difference of running sums (the floats replay reports depend on)."""
    n = len(values)
    shift = 1 if exclude_current else 0
    out = np.full(n, np.nan)
    first = window - 1 + shift  # the first bar with a full window
    if n <= first:
        return out
    sums = prefix_sums(values)
    last = n - shift  # one past the last window's end
    with np.errstate(invalid="ignore", divide="ignore"):
        out[first:] = (sums[window: last + 1] - sums[: last + 1 - window]) / window
    if not np.isfinite(values).all():
        counts = np.concatenate(([0], np.cumsum(~np.isnan(values), dtype=np.int64)))
        out[first:][(counts[window: last + 1] - counts[: last + 1 - window]) != window] = np.nan
    return out


def compute_indicators(frame: pd.DataFrame, timeframe: str) -> IndicatorFrame:
    """`frame`: UTC DatetimeIndex of open times, float columns open high low close volume."""
    n = len(frame)
    step = tf_ms(timeframe)
    open_times = index_ms(frame).astype(np.int64, copy=False)
    cols = {c: frame[c].to_numpy(dtype="float64") for c in ("open", "high", "low", "close", "volume")}
    rsi, atr, avg_gain, avg_loss = _rsi_and_atr(cols["close"], cols["high"], cols["low"])
    rsi[: min(RSI_LENGTH, n)] = np.nan  # pandas-ta starts its RMA at the first change; wait for 14 changes
    macd, macd_signal, macd_hist, ema_12, ema_26 = _macd(cols["close"])
    cols.update(
        rsi_14=rsi,
        macd=macd,
        macd_signal=macd_signal,
        macd_hist=macd_hist,
        ema_20=ema(cols["close"], 20),
        ema_50=ema(cols["close"], 50),
        ema_200=ema(cols["close"], 200),
        atr_14=atr,
    )

    c = cols["close"]
    with np.errstate(invalid="ignore", divide="ignore"):
        cols["atr_pct"] = atr / c * 100.0
        cols["vol_ratio"] = cols["volume"] / _trailing_mean(cols["volume"], VOLUME_WINDOW, exclude_current=True)
        log_ret = np.full(n, np.nan)
        if n > 1:
            log_ret[1:] = np.log(c[1:] / c[:-1])
        mean = _trailing_mean(log_ret, RV_WINDOW)
        mean_sq = _trailing_mean(log_ret * log_ret, RV_WINDOW)
        variance = np.maximum(mean_sq - mean * mean, 0.0) * RV_WINDOW / (RV_WINDOW - 1)
        cols["rv_20"] = np.sqrt(variance) * 100.0
        cols["atr_ratio"] = atr / _trailing_mean(atr, ATR_MEAN_WINDOW)
        day = day_bars(step)
        cols["quote_volume_24h"] = _trailing_mean(c * cols["volume"], day) * day
        change = np.full(n, np.nan)
        if n > day:
            change[day:] = (c[day:] / c[:-day] - 1.0) * 100.0
        cols["change_24h_pct"] = change
        four_h_bars = four_hour_bars(step)
        change_4h = np.full(n, np.nan)
        if n > four_h_bars:
            change_4h[four_h_bars:] = (c[four_h_bars:] / c[:-four_h_bars] - 1.0) * 100.0
        cols["change_4h_pct"] = change_4h

    return IndicatorFrame(
        timeframe=timeframe,
        timeframe_ms=step,
        open_ms=open_times,
        close_ms=open_times + step,
        columns=cols,
        gaps_cum=gap_counts(open_times, step),
        outliers=outlier_marks(cols["high"], cols["low"], c, atr),
        bad_cum=bad_counts(bar_problems(cols["open"], cols["high"], cols["low"], c), n),
        recursions=tuple(float(x[-1]) for x in (
            ema_12, ema_26, cols["ema_20"], cols["ema_50"], cols["ema_200"], macd_signal, avg_gain, avg_loss, atr,
        )) if n else (),
    )
