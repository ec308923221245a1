"""Data-quality markers per bar (computed once per series) and the flags a snapshot carries.

Flags are short strings, e.g. `gap:1h` (a hole among the last bars), `stale:4h` (the last bar on hand is
older than the last bar that should have closed at as_of), `outlier:1d` (the last bar's true range is
more than `OUTLIER_ATR_MULTIPLE` times the ATR before it — a bad tick or an event the reader should know
about), `missing:1d` (no closed bar at all on that timeframe yet).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

GAP_WINDOW_BARS = 50
OUTLIER_ATR_MULTIPLE = 6.0


def gap_counts(open_ms: np.ndarray, timeframe_ms: int) -> np.ndarray:
    """Cumulative count of holes up to each bar: `out[i] - out[i - k]` holes among the last k bars."""
    holes = np.zeros(len(open_ms), dtype=np.int64)
    if len(open_ms) > 1:
        holes[1:] = np.diff(open_ms) > timeframe_ms
    return np.cumsum(holes)


def outlier_marks(high: np.ndarray, low: np.ndarray, close: np.ndarray, atr: np.ndarray) -> np.ndarray:
    """True where a bar's true range exceeds OUTLIER_ATR_MULTIPLE × the previous bar's ATR."""
    marks = np.zeros(len(close), dtype=bool)
    if len(close) > 1:
        prev_close = close[:-1]
        true_range = np.maximum(high[1:], prev_close) - np.minimum(low[1:], prev_close)
        prev_atr = atr[:-1]
        with np.errstate(invalid="ignore"):
            marks[1:] = np.nan_to_num(true_range > OUTLIER_ATR_MULTIPLE * prev_atr, nan=False)
    return marks


def gap_window_marks(gaps_cum: np.ndarray) -> np.ndarray:
    """Per bar, whether `flags_at` reports a gap for it: a hole among the GAP_WINDOW_BARS bars ending there."""
    index = np.arange(len(gaps_cum))
    start = np.maximum(index - GAP_WINDOW_BARS + 1, 0)
    return (gaps_cum - gaps_cum[start]) > 0


def flags_at(
    timeframe: str,
    gaps_cum: Sequence[int],
    outliers: Sequence[bool],
    index: int,
    last_open_ms: int,
    expected_open_ms: int,
) -> list[str]:
    """Flags for the bar at `index` (the last closed one): holes in the window, staleness, outlier."""
    flags: list[str] = []
    start = max(0, index - GAP_WINDOW_BARS + 1)
    if gaps_cum[index] - gaps_cum[start] > 0:
        flags.append(f"gap:{timeframe}")
    if last_open_ms < expected_open_ms:
        flags.append(f"stale:{timeframe}")
    if outliers[index]:
        flags.append(f"outlier:{timeframe}")
    return flags
