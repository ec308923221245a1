"""Data-quality markers per bar (computed once per series) and the flags a snapshot carries.

Flags are short strings, e.g. `gap:1h` (a hole among the last bars), `stale:4h` (the last bar on hand is
older than the last bar that should have closed at as_of), `outlier:1d` (the last bar's true range is
more than `OUTLIER_ATR_MULTIPLE` times the ATR before it — a bad tick or an event the reader should know
about), `missing:1d` (no closed bar at all on that timeframe yet), `bad:1h` (a bar among the last
GAP_WINDOW_BARS fails the sanity checks of `bar_problems`: NaN or non-positive prices, high below low, open or
close outside the bar's range, a spike).

What each flag does (the guard's `data_problem`): `stale:*` → `stale_data`; `bad:*`, `outlier:<base>` and
`gap:<base>` (the finest timeframe, whose ATR sizes the stop and leverage) → `bad_data`. Files on disk are
checked further up: `core.market.data_file` refuses a file with a bad bar, naming file, row and problem.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

GAP_WINDOW_BARS = 50
OUTLIER_ATR_MULTIPLE = 6.0
# A bar whose high (or close) is over SPIKE_FACTOR times, or whose low under 1/SPIKE_FACTOR of, the median
# close of the SPIKE_LOOKBACK bars before it is a bad tick. Measured on every *-futures.feather of
# ../shared/data/binance-perps-train/main (15 perps, 1h/4h, up to 4½ years) and freqtrade-userdata-cyft_trader
# (1h/5m/15m): the largest such ratio there is 3.03 (ETH 1h), the next 2.73.
SPIKE_FACTOR = 5.0
SPIKE_LOOKBACK = 5
BLOCKING_KINDS = ("bad",)  # on any timeframe
BASE_BLOCKING_KINDS = ("gap", "outlier")  # on the base (finest) timeframe


def bar_problems(open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray) -> dict[int, str]:
    """What is wrong with each bad bar, by index (sane bars are absent). Causal: a bar is judged on itself
    and the bars before it."""
    out: dict[int, str] = {}
    if len(close) == 0:
        return out
    prices = np.vstack([open_, high, low, close])
    with np.errstate(invalid="ignore", divide="ignore"):
        nan = np.isnan(prices).any(axis=0) | np.isinf(prices).any(axis=0)
        nonpositive = (prices <= 0).any(axis=0) & ~nan
        inverted = (high < low) & ~nan & ~nonpositive
        outside = ((high < np.maximum(open_, close)) | (low > np.minimum(open_, close))) & ~nan & ~nonpositive & ~inverted
        ref = _median_before(np.where(nan | nonpositive | inverted, np.nan, close), SPIKE_LOOKBACK)
        spike = ((np.maximum(high, close) > SPIKE_FACTOR * ref) | (np.minimum(low, close) * SPIKE_FACTOR < ref))
        spike &= ~nan & ~nonpositive & ~inverted & ~outside & ~np.isnan(ref)
    for k in np.flatnonzero(nan | nonpositive | inverted | outside | spike).tolist():
        o, h, lo, c = (float(x[k]) for x in (open_, high, low, close))
        if nan[k]:
            out[k] = f"a price is not a number (open {o}, high {h}, low {lo}, close {c})"
        elif nonpositive[k]:
            out[k] = f"a price is zero or negative (open {o:g}, high {h:g}, low {lo:g}, close {c:g})"
        elif inverted[k]:
            out[k] = f"high {h:g} is below low {lo:g}"
        elif outside[k]:
            out[k] = f"open {o:g} or close {c:g} is outside the bar's range {lo:g}–{h:g}"
        else:
            out[k] = (f"a spike: high {h:g} / low {lo:g} / close {c:g} against a median close of {ref[k]:g} "
                      f"over the {SPIKE_LOOKBACK} bars before (more than {SPIKE_FACTOR:g}× away)")
    return out


def _median_before(values: np.ndarray, window: int) -> np.ndarray:
    """Per bar, the median of the (non-NaN) values among the `window` bars before it; NaN when there are none
    (pandas' `rolling(window, min_periods=1).median().shift(1)`, the mean of the middle two for an even count)."""
    out = np.full(len(values), np.nan)
    if len(values) < 2:
        return out
    padded = np.concatenate((np.full(window - 1, np.nan), values[:-1]))
    windows = np.lib.stride_tricks.sliding_window_view(padded, window)
    if window != 5:
        out[1:] = _sorted_median(windows)
        return out
    # the usual case (#18: 3× faster on a 5m file): a selection network over the five shifted columns, then the
    # windows holding a NaN (the first four, holes) sorted as above
    columns = [padded[k : k + len(values) - 1] for k in range(window)]
    out[1:] = _median_of_five(columns)
    rest = np.flatnonzero(np.isnan(windows).any(axis=1))
    out[1:][rest] = _sorted_median(windows[rest])
    return out


def _sorted_median(windows: np.ndarray) -> np.ndarray:
    """The median of each row's non-NaN values (NaN when none)."""
    ordered = np.sort(windows, axis=1)  # NaNs sort last
    count = windows.shape[1] - np.isnan(ordered).sum(axis=1)
    rows = np.arange(len(ordered))
    high = ordered[rows, count // 2]
    low = ordered[rows, np.maximum(count - 1, 0) // 2]
    median = np.where(count % 2 == 1, high, (high + low) / 2)
    median[count == 0] = np.nan
    return median


def _median_of_five(columns: list[np.ndarray]) -> np.ndarray:
    """Per row, the middle one of five numbers (rows without NaN): seven compare-exchanges (N. Devillard, "Fast
    median search", 1998, opt_med5) over whole columns — a selection, so exactly the sorted middle value."""
    p = list(columns)

    def order(i: int, j: int) -> None:
        p[i], p[j] = np.minimum(p[i], p[j]), np.maximum(p[i], p[j])

    for i, j in ((0, 1), (3, 4), (0, 3), (1, 4), (1, 2), (2, 3), (1, 2)):
        order(i, j)
    return p[2]


def usable_close(open_: float, high: float, low: float, close: float) -> float:
    """The close a later bar's spike check compares against: NaN when this bar's prices are unusable."""
    prices = (open_, high, low, close)
    if not all(math.isfinite(x) and x > 0 for x in prices) or high < low:
        return math.nan
    return close


def next_bar_is_bad(open_: float, high: float, low: float, close: float, before: Sequence[float]) -> bool:
    """`bar_problems`' verdict on one bar given the `usable_close`s of the SPIKE_LOOKBACK bars before it — what
    carrying a series forward bar by bar needs without a pass over arrays."""
    if math.isnan(usable_close(open_, high, low, close)):
        return True
    if high < max(open_, close) or low > min(open_, close):
        return True
    ordered = sorted(x for x in before[-SPIKE_LOOKBACK:] if not math.isnan(x))
    if not ordered:
        return False
    mid = len(ordered) // 2
    ref = ordered[mid] if len(ordered) % 2 else (ordered[mid] + ordered[mid - 1]) / 2
    return max(high, close) > SPIKE_FACTOR * ref or min(low, close) * SPIKE_FACTOR < ref


def bad_counts(problems: dict[int, str], n: int) -> np.ndarray:
    """Cumulative count of bad bars up to each of `n` bars (as `gap_counts`)."""
    marks = np.zeros(n, dtype=np.int64)
    marks[list(problems)] = 1
    return np.cumsum(marks)


def flag_kind(flag: str) -> str:
    return flag.split(":", 1)[0]


def stale_flags(quality: Sequence[str]) -> list[str]:
    """The staleness flags among a snapshot's quality flags (`stale:1h`, …; a bare `stale` counts too)."""
    return [f for f in quality if flag_kind(f) == "stale"]


def bad_flags(quality: Sequence[str], base_timeframe: str | None) -> list[str]:
    """The flags that make a snapshot unfit to size a trade on (see the module's table)."""
    out = []
    for flag in quality:
        kind, _, timeframe = flag.partition(":")
        if kind in BLOCKING_KINDS or (kind in BASE_BLOCKING_KINDS and timeframe == base_timeframe):
            out.append(flag)
    return out


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


def bad_window_marks(bad_cum: np.ndarray) -> np.ndarray:
    """Per bar, whether a bad bar is among the GAP_WINDOW_BARS bars ending there (itself included)."""
    index = np.arange(len(bad_cum))
    start = np.maximum(index - GAP_WINDOW_BARS + 1, 0)
    before = np.concatenate(([0], bad_cum))[start]  # bad bars strictly before the window
    return (bad_cum - before) > 0


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
