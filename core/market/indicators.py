"""The one indicator function both snapshot sources share: a candles frame → numpy columns.

pandas-ta computes RSI 14 and ATR 14 (Wilder smoothing), MACD 12/26/9 and EMA 20/50/200. A few cheap
extras are computed here with numpy: `atr_pct` (ATR as % of close), `vol_ratio` (volume over the mean of
the 20 bars before it), `rv_20` (realized volatility: std of the last 20 log returns, in %),
`atr_ratio` (ATR over its 50-bar mean; the regime's volatility input), `change_24h_pct` and
`quote_volume_24h` (Σ close×volume over the bars of the last 24 h), plus the data-quality markers.
Every column is causal: the value at bar i depends only on bars ≤ i, so computing over a whole series
once and reading bar i gives what a computation stopped at bar i would give (EMA/RSI seeds aside: they
start at the first bar of whatever window was given, which is why replay warms up on earlier bars).
Values still warming up are NaN (→ None in the snapshot). pandas-ta seeds the RSI's Wilder average with
the first change rather than the mean of the first 14; the difference decays as (13/14)^n and is below
1e-9 relative after a few hundred bars (the tests compare against the textbook recursion).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandas_ta as ta

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
        )

    def last_closed_index(self, as_of_ms: int) -> int:
        """Index of the last bar with close time <= as_of (-1 when none has closed)."""
        return int(np.searchsorted(self.close_ms, as_of_ms, side="right")) - 1


def _array(series: pd.Series | None, n: int) -> np.ndarray:
    if series is None:  # pandas-ta returns None when the series is shorter than the indicator
        return np.full(n, np.nan)
    return np.array(series.to_numpy(dtype="float64", na_value=np.nan))  # own, writable copy


def _trailing_mean(values: np.ndarray, window: int, *, exclude_current: bool = False) -> np.ndarray:
    """Mean of the last `window` values (ending at i, or at i-1 with exclude_current); NaN until full."""
    n = len(values)
    out = np.full(n, np.nan)
    clean = np.nan_to_num(values, nan=0.0)
    valid = (~np.isnan(values)).astype(np.int64)
    sums = np.concatenate(([0.0], np.cumsum(clean)))
    counts = np.concatenate(([0], np.cumsum(valid)))
    shift = 1 if exclude_current else 0
    ends = np.arange(n) + 1 - shift
    starts = ends - window
    ok = starts >= 0
    cnt = counts[ends[ok]] - counts[starts[ok]]
    with np.errstate(invalid="ignore", divide="ignore"):
        out[ok] = np.where(cnt == window, (sums[ends[ok]] - sums[starts[ok]]) / window, np.nan)
    return out


def compute_indicators(frame: pd.DataFrame, timeframe: str) -> IndicatorFrame:
    """`frame`: UTC DatetimeIndex of open times, float columns open high low close volume."""
    n = len(frame)
    step = tf_ms(timeframe)
    open_times = index_ms(frame).astype(np.int64, copy=False)
    cols = {c: frame[c].to_numpy(dtype="float64") for c in ("open", "high", "low", "close", "volume")}
    close, high, low = frame["close"], frame["high"], frame["low"]

    rsi = _array(ta.rsi(close, length=RSI_LENGTH), n)
    rsi[: min(RSI_LENGTH, n)] = np.nan  # pandas-ta starts its RMA at the first change; wait for 14 changes
    ema_12 = ta.ema(close, length=12)
    ema_26 = ta.ema(close, length=26)
    if ema_12 is None or ema_26 is None:
        macd = macd_signal = macd_hist = np.full(n, np.nan)
    else:
        # ta.macd's own steps (EMA 12 − EMA 26, signal = EMA 9 from the first valid MACD), without its
        # DataFrame packaging, which costs more than the maths on 500 bars.
        macd_series = ema_12 - ema_26
        signal_series = ta.ema(macd_series.loc[macd_series.first_valid_index() :], length=9)
        macd = _array(macd_series, n)
        macd_signal = _array(None if signal_series is None else signal_series.reindex(macd_series.index), n)
        macd_hist = macd - macd_signal
    atr = _array(ta.atr(high, low, close, length=ATR_LENGTH), n)
    cols.update(
        rsi_14=rsi,
        macd=macd,
        macd_signal=macd_signal,
        macd_hist=macd_hist,
        ema_20=_array(ta.ema(close, length=20), n),
        ema_50=_array(ta.ema(close, length=50), n),
        ema_200=_array(ta.ema(close, length=200), n),
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
        day_bars = max(1, DAY_MS // step)
        cols["quote_volume_24h"] = _trailing_mean(c * cols["volume"], day_bars) * day_bars
        change = np.full(n, np.nan)
        if n > day_bars:
            change[day_bars:] = (c[day_bars:] / c[:-day_bars] - 1.0) * 100.0
        cols["change_24h_pct"] = change
        four_h_bars = max(1, DAY_MS // 6 // step)  # the BTC filter's window (#17)
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
    )
