"""pandas-ta's indicator code paths (0.4.71b0, no TA-Lib) written with public pandas calls: the independent
reference the replay equality test swaps in for core.market.indicators' numpy/kernel version.

Each function is pandas-ta's body with its argument checks and packaging left out: `ema` (SMA-seeded,
`ewm(span, adjust=False)`), `rma` (`ewm(alpha=1/length, adjust=False)`), `true_range` (|high − low| plus float
epsilon when any range is 0, |high − prev close|, |prev close − low|, NaNs skipped), `rsi`, `atr` (SMA-seeded rma
of the true range) and MACD's steps as core/market/indicators.py took them from pandas-ta.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd


def ema(close: pd.Series, length: int) -> pd.Series | None:
    if close.size < length:
        return None
    seeded = close.copy()
    sma = seeded.iloc[0:length].mean()
    seeded.iloc[: length - 1] = np.nan
    seeded.iloc[length - 1] = sma
    return seeded.ewm(span=length, adjust=False).mean()


def rma(values: pd.Series, length: int) -> pd.Series:
    return values.ewm(alpha=1.0 / length, adjust=False).mean()


def true_range(high: pd.Series, low: pd.Series, close: pd.Series) -> pd.Series:
    high_low = high - low
    if high_low.eq(0).any():
        high_low += sys.float_info.epsilon
    previous = close.shift(1)
    return pd.concat([high_low, high - previous, previous - low], axis=1).abs().max(axis=1)


def rsi(close: pd.Series, length: int = 14) -> pd.Series | None:
    if close.size < length + 1:
        return None
    negative = close.diff(1)
    positive = negative.copy()
    positive[positive < 0] = 0
    negative[negative > 0] = 0
    return 100 * rma(positive, length) / (rma(positive, length) + rma(negative, length).abs())


def atr(high: pd.Series, low: pd.Series, close: pd.Series, length: int = 14) -> pd.Series | None:
    if close.size < length + 1:
        return None
    tr = true_range(high, low, close)
    if tr.isna().all():
        return None
    sma = tr.iloc[0:length].mean()
    tr.iloc[: length - 1] = np.nan
    tr.iloc[length - 1] = sma
    out = rma(tr, length)
    return None if out.isna().all() else out


def indicator_columns(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The 8 indicator columns of a candles frame, as core/market/indicators.py defines them."""
    n = len(frame)

    def arr(series: pd.Series | None) -> np.ndarray:
        return np.full(n, np.nan) if series is None else series.to_numpy(dtype="float64", na_value=np.nan)

    close, high, low = frame["close"], frame["high"], frame["low"]
    rsi_14 = arr(rsi(close)).copy()
    rsi_14[: min(14, n)] = np.nan
    fast, slow = ema(close, 12), ema(close, 26)
    if fast is None or slow is None:
        macd = signal = np.full(n, np.nan)
    else:
        line = fast - slow
        sig = ema(line.loc[line.first_valid_index():], 9)
        macd, signal = arr(line), arr(None if sig is None else sig.reindex(line.index))
    return {"rsi_14": rsi_14, "macd": macd, "macd_signal": signal, "macd_hist": macd - signal,
            "ema_20": arr(ema(close, 20)), "ema_50": arr(ema(close, 50)), "ema_200": arr(ema(close, 200)),
            "atr_14": arr(atr(high, low, close))}
