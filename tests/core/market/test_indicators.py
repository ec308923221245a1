"""compute_indicators against independent, hand-written recursions (Wilder RSI/ATR, SMA-seeded EMA)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from core.market.indicators import compute_indicators
from core.market.offline import OfflineMarketData, sample_data_dir
from core.market.quality import flags_at, gap_counts, outlier_marks
from core.market.regime import classify_regime
from core.models import Regime

# ---- independent reference maths (plain Python loops, textbook definitions) ----------------------


def wilder_rsi(closes: Sequence[float], n: int = 14) -> float:
    """Wilder's RSI at the last bar: seed = mean of the first n gains/losses, then avg += (x - avg) / n."""
    gains = [max(b - a, 0.0) for a, b in itertools.pairwise(closes)]
    losses = [max(a - b, 0.0) for a, b in itertools.pairwise(closes)]
    avg_gain, avg_loss = sum(gains[:n]) / n, sum(losses[:n]) / n
    for gain, loss in zip(gains[n:], losses[n:], strict=True):
        avg_gain = (avg_gain * (n - 1) + gain) / n
        avg_loss = (avg_loss * (n - 1) + loss) / n
    return 100.0 * avg_gain / (avg_gain + avg_loss)


def wilder_atr(highs: Sequence[float], lows: Sequence[float], closes: Sequence[float], n: int = 14) -> float:
    """Wilder's ATR: true range (first bar: high - low), seed = mean of the first n, then (atr*(n-1)+tr)/n."""
    trs = [highs[0] - lows[0]]
    for i in range(1, len(closes)):
        trs.append(max(highs[i] - lows[i], abs(highs[i] - closes[i - 1]), abs(lows[i] - closes[i - 1])))
    atr = sum(trs[:n]) / n
    for tr in trs[n:]:
        atr = (atr * (n - 1) + tr) / n
    return atr


def ema_series(values: Sequence[float], n: int) -> list[float]:
    """EMA seeded with the SMA of the first n values (NaN before), alpha = 2 / (n + 1)."""
    out = [math.nan] * len(values)
    if len(values) < n:
        return out
    ema = sum(values[:n]) / n
    out[n - 1] = ema
    alpha = 2.0 / (n + 1)
    for i in range(n, len(values)):
        ema = alpha * values[i] + (1 - alpha) * ema
        out[i] = ema
    return out


def macd_last(closes: Sequence[float]) -> tuple[float, float, float]:
    fast, slow = ema_series(closes, 12), ema_series(closes, 26)
    line = [f - s for f, s in zip(fast, slow, strict=True)]
    valid = line[25:]
    signal = ema_series(valid, 9)[-1]
    return line[-1], signal, line[-1] - signal


def reference(frame: pd.DataFrame) -> dict[str, float]:
    c, h, lo = frame.close.tolist(), frame.high.tolist(), frame.low.tolist()
    macd, signal, hist = macd_last(c)
    return {
        "rsi_14": wilder_rsi(c),
        "atr_14": wilder_atr(h, lo, c),
        "ema_20": ema_series(c, 20)[-1],
        "ema_50": ema_series(c, 50)[-1],
        "ema_200": ema_series(c, 200)[-1],
        "macd": macd,
        "macd_signal": signal,
        "macd_hist": hist,
    }


# ---- tests -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hourly() -> pd.DataFrame:
    return OfflineMarketData(sample_data_dir()).frame("BTC/USDT:USDT", "1h").iloc[-500:]


def test_indicators_equal_the_independent_computation(hourly: pd.DataFrame) -> None:
    frame = compute_indicators(hourly, "1h")
    for key, expected in reference(hourly).items():
        assert frame.columns[key][-1] == pytest.approx(expected, rel=1e-9), key


def test_indicator_at_every_bar_equals_a_computation_stopped_there(hourly: pd.DataFrame) -> None:
    whole = compute_indicators(hourly, "1h")
    for end in (230, 311, 499):
        part = compute_indicators(hourly.iloc[: end + 1], "1h")
        for key, values in part.columns.items():
            assert values[-1] == pytest.approx(whole.columns[key][end], nan_ok=True), (key, end)


def test_warming_up_values_are_nan_and_short_series_do_not_crash(hourly: pd.DataFrame) -> None:
    frame = compute_indicators(hourly.iloc[:30], "1h")
    assert np.isnan(frame.columns["ema_200"]).all()
    assert np.isnan(frame.columns["rsi_14"][:14]).all() and not np.isnan(frame.columns["rsi_14"][14])
    assert np.isnan(frame.columns["atr_14"][:13]).all() and not np.isnan(frame.columns["atr_14"][13])
    tiny = compute_indicators(hourly.iloc[:3], "1h")
    assert len(tiny) == 3 and np.isnan(tiny.columns["macd"]).all()
    empty = compute_indicators(hourly.iloc[:0], "1h")
    assert len(empty) == 0


def test_extras(hourly: pd.DataFrame) -> None:
    frame = compute_indicators(hourly, "1h")
    c, v = hourly.close.to_numpy(), hourly.volume.to_numpy()
    assert frame.columns["vol_ratio"][-1] == pytest.approx(v[-1] / v[-21:-1].mean())
    assert frame.columns["quote_volume_24h"][-1] == pytest.approx((c[-24:] * v[-24:]).sum())
    assert frame.columns["change_24h_pct"][-1] == pytest.approx((c[-1] / c[-25] - 1) * 100)
    assert frame.columns["rv_20"][-1] == pytest.approx(np.std(np.diff(np.log(c[-21:])), ddof=1) * 100)
    assert frame.columns["atr_pct"][-1] == pytest.approx(frame.columns["atr_14"][-1] / c[-1] * 100)
    assert list(frame.close_ms - frame.open_ms) == [3_600_000] * 500


def test_quality_markers() -> None:
    open_ms = np.array([0, 1, 2, 4, 5, 6]) * 3_600_000
    gaps = gap_counts(open_ms, 3_600_000)
    assert gaps.tolist() == [0, 0, 0, 1, 1, 1]
    close = np.array([100.0, 101, 100, 101, 100, 100])
    high, low = close + 1, close - 1
    high[4] = 130.0  # a bad tick
    atr = np.full(6, 2.0)
    outliers = outlier_marks(high, low, close, atr)
    assert outliers.tolist() == [False, False, False, False, True, False]
    assert flags_at("1h", gaps, outliers, 4, 4 * 3_600_000, 4 * 3_600_000) == ["gap:1h", "outlier:1h"]
    assert flags_at("1h", gaps, outliers, 2, 2 * 3_600_000, 3 * 3_600_000) == ["stale:1h"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((110.0, 105.0, 100.0, 5.0, 1.0), Regime.TRENDING_UP),
        ((90.0, 95.0, 100.0, 5.0, 1.0), Regime.TRENDING_DOWN),
        ((101.0, 101.0, 100.0, 5.0, 1.0), Regime.RANGING),
        ((110.0, 105.0, 100.0, 5.0, 2.0), Regime.VOLATILE),
        ((110.0, None, None, None, None), Regime.RANGING),
        ((99.0, 105.0, 100.0, 5.0, 1.0), Regime.RANGING),  # EMAs say up, price below EMA 50
    ],
)
def test_regime(args: tuple, expected: Regime) -> None:
    assert classify_regime(*args) is expected


def test_the_snapshot_path_imports_neither_pandas_ta_nor_numba() -> None:
    import subprocess
    import sys

    code = "import sys, core.market.snapshot; print(sorted({'numba', 'pandas_ta'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
