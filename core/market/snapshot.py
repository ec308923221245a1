"""Point-in-time snapshots (DESIGN §4.3) from two sources that share one indicator function.

- `LiveSnapshotSource` asks a `MarketData` for the last `bars` closed bars per timeframe at `as_of`. The first
  time, and whenever a frame cannot be carried forward, it runs `compute_indicators` on them (off the event
  loop); after that each frame's `IndicatorState` takes the new bars in constant time each (inline: cheaper
  than a thread hop), and a frame whose next bar cannot have closed yet (4h and 1d, most hours) is not fetched.
  Carried forward, the values are those of one pass from the first window on — the very floats a replay
  started at that hour computes — not of each new 500-bar window (EMA 200's seed would move with it).
- `SeriesSnapshotSource` (replay) runs `compute_indicators` once per whole series; `snapshot(symbol,
  as_of)` is then a bisect on bar close times and a read of plain Python floats — no pandas per call.

Both only read bars with `open_time + timeframe <= as_of`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from operator import itemgetter
from typing import Any, cast

import numpy as np
import pandas as pd

from core.market.context import BOOK_KEYS, FUNDING_KEY, FundingWindow, book_context, oi_context
from core.market.indicator_state import IndicatorState
from core.market.indicators import VIEW_EXTRA_COLUMNS, IndicatorFrame, compute_indicators
from core.market.offline import OfflineMarketData, open_ms
from core.market.quality import GAP_WINDOW_BARS, bad_window_marks, gap_window_marks
from core.market.regime import classify_regime
from core.market.timeframes import from_ms, index_ms, is_timeframe, sort_timeframes, tf_ms, to_ms
from core.models import SNAPSHOT_INDICATOR_KEYS, Regime, Snapshot, TimeframeView, require_utc
from core.protocols import MarketData

SNAPSHOT_TIMEFRAMES = ("1h", "4h", "1d")
REGIME_TIMEFRAMES = ("4h", "1h", "1d")  # the first one present decides the regime
MOMENTUM_DAYS = 30  # `change_30d_pct`: the last closed daily bar against the one 30 daily bars before (#14)
FUNDING_LOOKBACK = timedelta(days=3)
OI_LOOKBACK = timedelta(hours=26)  # the 24 h change needs a reading from a day before as_of
BOOK_MAX_LAG = timedelta(minutes=15)  # an order book read this long after as_of still describes it

log = logging.getLogger(__name__)


def _series_lists(series: pd.Series | None, as_of: datetime | None = None) -> tuple[list[int], list[float]]:
    """A time-indexed series as sorted (ms, value) lists, only entries at or before `as_of`."""
    if series is None or len(series) == 0:
        return [], []
    series = series.sort_index()
    if as_of is not None:
        series = series[series.index <= as_of]
    return index_ms(series).tolist(), series.to_numpy(dtype="float64").tolist()


class SnapshotUnavailable(LookupError):
    """No bar of the finest timeframe has closed at as_of (before the data, or nothing fetched)."""


# ------------------------------------------------------------------------------------------------
# The one place a Snapshot is assembled from indicator rows
# ------------------------------------------------------------------------------------------------


# TimeframeView's positional fields after bar_time: OHLCV as stored, then the indicators (None while warming up).
_VIEW_OHLCV = ("open", "high", "low", "close", "volume")
_VIEW_INDICATORS = SNAPSHOT_INDICATOR_KEYS
_N_OHLCV = len(_VIEW_OHLCV)
_N_FIELDS = _N_OHLCV + len(_VIEW_INDICATORS)
_SNAPSHOT_EXTRA = ("change_24h_pct", "change_4h_pct", "quote_volume_24h")  # top-level keys from the finest frame
_GAP, _OUTLIER, _BAD = 1, 2, 4  # _Rows.marks bits (a gap mark is the bool itself)
_NO_BOOK = dict.fromkeys(BOOK_KEYS)


class _Rows:
    """One timeframe's bars and indicators as one float64 matrix (a row per bar), built from an IndicatorFrame.

    Columnar, so a long replay holds 8 bytes per value instead of Python lists of floats (#18: ~24 MiB per
    symbol-year before); a row becomes Python floats only when a snapshot reads it, once per bar (the last
    row and view read are kept: replay asks for the same 4h/1d bar on several consecutive hours). Indicator
    values that are NaN/±inf read as None, OHLCV as stored. The quality marks (a hole in the gap window, an
    outlier, a bad bar in the window) are one small int per bar, so a clean bar costs one list read.
    """

    __slots__ = (
        "_columns", "_cursor", "_finite", "_momentum_cache", "_read", "_regime_cache", "_row_cache", "_snapshot_at",
        "_view_cache", "close_ms", "marks", "matrix", "open_ms", "plain_timeframe", "timeframe", "timeframe_ms",
    )

    def __init__(self, frame: IndicatorFrame, last: int | None = None) -> None:
        """`last`: keep only the last bars (a live snapshot reads the newest); the marks are computed first,
        over the whole frame, so the flags read the same."""
        gap_window = gap_window_marks(frame.gaps_cum)
        # a bad bar among the last GAP_WINDOW_BARS: the indicators (ATR above all) still carry it
        bad_window = bad_window_marks(frame.bad_cum)
        if last is not None and last < len(frame):
            frame, gap_window, bad_window = frame.tail(last), gap_window[-last:], bad_window[-last:]
        self.timeframe = frame.timeframe
        self.timeframe_ms = frame.timeframe_ms
        # tf_ms also reads " 1h"-like strings, which Snapshot's look-ahead check refuses: those take its path.
        self.plain_timeframe = is_timeframe(frame.timeframe)
        self.open_ms: np.ndarray = frame.open_ms
        self.close_ms: list[int] = frame.close_ms.tolist()  # bisected every step: a list is 5× faster
        names = tuple(frame.columns)
        self._columns, self._read, self._snapshot_at = _layout(names)
        self.matrix = np.empty((len(frame.open_ms), len(names)), dtype=np.float64)
        for k, name in enumerate(names):
            self.matrix[:, k] = frame.columns[name]
        # a row whose values are all finite (every row after the warm-up) is read without a None check
        self._finite: list[bool] = np.isfinite(self.matrix).all(axis=1).tolist()  # type: ignore[assignment, unused-ignore]  # numpy < 2.5 types tolist() loosely
        self.marks: list[int] = (gap_window + _OUTLIER * frame.outliers + _BAD * bad_window).tolist()
        self._cursor = -1  # the last index last_closed returned
        self._row_cache: tuple[int, list[float]] = (-1, [])
        self._view_cache: tuple[int, TimeframeView] = (-1, None)  # type: ignore[assignment]
        self._regime_cache: tuple[int, Regime] = (-1, Regime.RANGING)
        self._momentum_cache: tuple[int, float | None] = (-1, None)

    def last_closed(self, as_of_ms: int) -> int:
        """The index of the last bar closed at as_of_ms (-1: none). A replay asks for the same bar or the next
        one each step: those are checked first (two list reads, not a bisect over the whole series)."""
        close_ms, c = self.close_ms, self._cursor
        if c >= 0 and close_ms[c] <= as_of_ms:
            n = len(close_ms)
            if c + 1 == n or as_of_ms < close_ms[c + 1]:
                return c
            if c + 2 == n or as_of_ms < close_ms[c + 2]:
                self._cursor = c + 1
                return c + 1
        i = bisect_right(close_ms, as_of_ms) - 1
        self._cursor = i
        return i

    def _row(self, i: int) -> list[float]:
        cached_i, cached = self._row_cache
        if cached_i != i:
            cached = self.matrix[i].tolist()
            self._row_cache = (i, cached)
        return cached

    def raw(self, name: str, i: int) -> float:
        """The value as stored (OHLCV); another row than the one being read is not cached."""
        cached_i, cached = self._row_cache
        k = self._columns[name]
        return cached[k] if cached_i == i else float(self.matrix[i, k])

    def value(self, name: str, i: int) -> float | None:
        """An indicator value, None while warming up (NaN) or when not finite."""
        v = self._row(i)[self._columns[name]]
        return v if v - v == 0.0 else None

    def snapshot_extra(self, i: int) -> tuple[float | None, float | None, float | None]:
        """The finest frame's values for the snapshot's top level (_SNAPSHOT_EXTRA), None when not finite."""
        a, b, c = self._snapshot_at(self._row(i))
        return (a if a - a == 0.0 else None), (b if b - b == 0.0 else None), (c if c - c == 0.0 else None)

    def view(self, i: int) -> TimeframeView:
        cached_i, cached = self._view_cache
        if cached_i == i:
            return cached
        values = self._read(self._row(i))
        if not self._finite[i]:  # v - v == 0 is False for NaN and ±inf; OHLCV stay as stored
            values = (*values[:_N_OHLCV], *(v if v - v == 0.0 else None for v in values[_N_OHLCV:]))
        view = TimeframeView.from_fields(
            (from_ms(self.close_ms[i] - self.timeframe_ms), *values[:_N_FIELDS]),
            dict(zip(VIEW_EXTRA_COLUMNS, values[_N_FIELDS:], strict=True)),
        )
        self._view_cache = (i, view)
        return view

    def flags(self, i: int, as_of_ms: int) -> list[str]:
        """data_quality.flags_at's rules on the marks prepared per series: holes in the window, stale, outlier,
        a bad bar in the window — in that order."""
        marks, tf, step = self.marks[i], self.timeframe, self.timeframe_ms
        out = [f"gap:{tf}"] if marks & _GAP else []
        if self.close_ms[i] - step < (as_of_ms // step) * step - step:  # its open time
            out.append(f"stale:{tf}")
        if marks & _OUTLIER:
            out.append(f"outlier:{tf}")
        if marks & _BAD:
            out.append(f"bad:{tf}")
        return out

    def momentum(self, j: int) -> float | None:
        """% change of the close of bar j over the MOMENTUM_DAYS bars before it (kept for the last j asked)."""
        cached_j, cached = self._momentum_cache
        if cached_j != j:
            then = self.raw("close", j - MOMENTUM_DAYS)
            cached = (self.raw("close", j) / then - 1.0) * 100.0 if then > 0.0 else None
            self._momentum_cache = (j, cached)
        return cached

    def regime(self, i: int) -> Regime:
        cached_i, cached = self._regime_cache
        if cached_i == i:
            return cached
        v = self.value
        regime = classify_regime(self.raw("close", i), v("ema_20", i), v("ema_50", i), v("atr_14", i), v("atr_ratio", i))
        self._regime_cache = (i, regime)
        return regime


@cache
def _layout(names: tuple[str, ...]) -> tuple[dict[str, int], itemgetter[Any], itemgetter[Any]]:
    """For an IndicatorFrame's column order: name → column, the view's fields in order, _SNAPSHOT_EXTRA."""
    columns = {name: k for k, name in enumerate(names)}
    view_fields = itemgetter(*(columns[k] for k in (*_VIEW_OHLCV, *_VIEW_INDICATORS, *VIEW_EXTRA_COLUMNS)))
    return columns, view_fields, itemgetter(*(columns[k] for k in _SNAPSHOT_EXTRA))


def assemble_snapshot(
    symbol: str,
    as_of: datetime,
    frames: Sequence[_Rows],
    funding_window: FundingWindow,
    oi_ms: Sequence[int] = (),
    oi_values: Sequence[float] = (),
    book: Mapping[str, float | None] | None = None,
) -> Snapshot:
    """`frames` finest first. Raises SnapshotUnavailable when the finest has no bar closed at as_of."""
    as_of_ms = to_ms(as_of)
    views: dict[str, TimeframeView] = {}
    quality: list[str] = []
    read: dict[str, tuple[_Rows, int]] = {}  # timeframe -> (rows, index of its last closed bar)
    plain = True
    for rows in frames:
        i = rows.last_closed(as_of_ms)
        if i < 0:
            quality.append(f"missing:{rows.timeframe}")
            continue
        views[rows.timeframe] = rows.view(i)
        plain = plain and rows.plain_timeframe
        step = rows.timeframe_ms
        if rows.marks[i] or rows.close_ms[i] - step < (as_of_ms // step) * step - step:  # marked, or stale
            quality.extend(rows.flags(i, as_of_ms))
        read[rows.timeframe] = (rows, i)
    finest = read.get(frames[0].timeframe) if frames else None
    if finest is None or finest[0] is not frames[0]:
        tf = frames[0].timeframe if frames else "any"
        raise SnapshotUnavailable(f"no {tf} bar of {symbol} has closed by {as_of.isoformat()}")
    rows, i = finest
    price = rows.raw("close", i)
    regime_at = finest
    for tf in REGIME_TIMEFRAMES:
        if tf in read:
            regime_at = read[tf]
            break
    regime = regime_at[0].regime(regime_at[1])

    funding, funding_avg = funding_window.at(as_of_ms)
    change_24h, change_4h, volume_24h = rows.snapshot_extra(i)
    extra = {
        "change_24h_pct": change_24h,
        "change_4h_pct": change_4h,
        "quote_volume_24h": volume_24h,
        FUNDING_KEY: funding_avg,
        **oi_context(oi_ms, oi_values, as_of_ms),
        **({key: book.get(key) for key in BOOK_KEYS} if book else _NO_BOOK),
        "change_30d_pct": _change_30d_pct(read.get("1d")),
    }
    # Every view above is of a bar with close_ms <= as_of_ms, so no look-ahead; with a whole-millisecond UTC
    # as_of that holds exactly and only the price is left for Snapshot's checks.
    if plain and as_of.tzinfo is UTC and as_of.microsecond % 1000 == 0 and 0.0 < price < math.inf:
        return Snapshot.trusted(symbol, as_of, price, views, funding, regime, tuple(quality), extra)
    return Snapshot(
        symbol=symbol,
        as_of=as_of,
        price=price,
        timeframes=views,
        funding_rate=funding,
        regime=regime,
        quality=tuple(quality),
        extra=extra,
    )


def _change_30d_pct(daily: tuple[_Rows, int] | None) -> float | None:
    """Time-series momentum's input: % change of the daily close over MOMENTUM_DAYS closed daily bars."""
    return None if daily is None or daily[1] < MOMENTUM_DAYS else daily[0].momentum(daily[1])


# ------------------------------------------------------------------------------------------------
# Live: from MarketData
# ------------------------------------------------------------------------------------------------


# A live frame keeps the last LIVE_TAIL bars of its indicators (the flags look back GAP_WINDOW_BARS) and reads
# the last LIVE_ROWS (the newest closed bar and the MOMENTUM_DAYS before it, which change_30d_pct compares).
LIVE_TAIL = GAP_WINDOW_BARS + 14
LIVE_ROWS = MOMENTUM_DAYS + 1
MAX_CARRIED_BARS = 48  # more new bars than this at once (an outage): the window is computed again


@dataclass(frozen=True, slots=True)
class _CacheKey:
    length: int
    first_open_ms: int
    last_open_ms: int
    last_close: float
    last_volume: float


class LiveSnapshotSource:
    """Snapshots from a `MarketData` (ccxt live, or offline files for `aitrader snapshot`)."""

    def __init__(
        self, market_data: MarketData, timeframes: Sequence[str] = SNAPSHOT_TIMEFRAMES, bars: int = 500,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),  # when the order book is read
    ):
        self._now = now
        if bars < 2:
            raise ValueError(f"bars must be >= 2, got {bars}")
        self._md = market_data
        self._timeframes = sort_timeframes(list(timeframes))
        for tf in self._timeframes:
            tf_ms(tf)
        self._bars = bars
        self._cache: dict[tuple[str, str], _Cached] = {}
        # a frame's state is read and moved on both in the event loop and in a build thread: one at a time
        self._cache_lock = threading.Lock()
        # One CPU job at a time: parallel threads only fight over the GIL (measured: 10 concurrent builds
        # took longer than the same builds in a row), while the event loop stays free either way.
        self._cpu: asyncio.Semaphore | None = None

    async def snapshot(self, symbol: str, as_of: datetime) -> Snapshot:
        as_of = require_utc(as_of, "as_of")
        as_of_ms = to_ms(as_of)
        # a frame whose next bar cannot have closed yet (the 4h and 1d frames, most hours) is not fetched again
        held = [self._still_current(symbol, tf, as_of_ms) for tf in self._timeframes]
        fetched = iter(await asyncio.gather(*(
            self._md.candles(symbol, tf, until=as_of, limit=self._bars)
            for tf, rows in zip(self._timeframes, held, strict=True) if rows is None
        )))
        funding = await self._md.funding_rates(symbol, since=as_of - FUNDING_LOOKBACK, until=as_of)
        oi, book = await self._context(symbol, as_of)
        frames = [self._cache[(symbol, tf)].frame if rows is not None else next(fetched)
                  for tf, rows in zip(self._timeframes, held, strict=True)]
        quick = [rows or self._quick_rows(symbol, tf, frame)
                 for tf, rows, frame in zip(self._timeframes, held, frames, strict=True)]
        if all(rows is not None for rows in quick):
            # every frame unchanged or carried forward by its new bars: far less than a thread hop costs
            return self._assemble(symbol, as_of, cast(list[_Rows], quick), funding, oi, book)
        if self._cpu is None:
            self._cpu = asyncio.Semaphore(1)
        async with self._cpu:
            return await asyncio.to_thread(self.build, symbol, as_of, frames, funding, oi, book)

    async def _context(self, symbol: str, as_of: datetime) -> tuple[pd.Series | None, dict | None]:
        """Open interest history and the order book, when the MarketData offers them (ccxt does; offline
        files do not). A failure is "no context", never a failed snapshot. The book is read now, so it only
        counts for an as_of that is now (a live cycle), never for a past one."""
        oi = book = None
        history = getattr(self._md, "open_interest_history", None)
        if history is not None:
            try:
                oi = await history(symbol, since=as_of - OI_LOOKBACK, until=as_of)
            except Exception as error:
                log.info("no open interest for %s: %s", symbol, error)
        order_book = getattr(self._md, "order_book", None)
        if order_book is not None and abs(self._now() - as_of) <= BOOK_MAX_LAG:
            try:
                book = book_context(*await order_book(symbol))
            except Exception as error:
                log.info("no order book for %s: %s", symbol, error)
        return oi, book

    def build(
        self, symbol: str, as_of: datetime, frames: list[pd.DataFrame], funding: pd.Series,
        oi: pd.Series | None = None, book: Mapping[str, float | None] | None = None,
    ) -> Snapshot:
        """The CPU part: indicators per frame (cached while a frame is unchanged), then assembly."""
        rows = [self._rows(symbol, tf, frame) for tf, frame in zip(self._timeframes, frames, strict=True)]
        return self._assemble(symbol, as_of, rows, funding, oi, book)

    def _assemble(
        self, symbol: str, as_of: datetime, rows: list[_Rows], funding: pd.Series,
        oi: pd.Series | None, book: Mapping[str, float | None] | None,
    ) -> Snapshot:
        funding_ms: list[int] = []
        rates: list[float] = []
        if len(funding):
            times = index_ms(funding)
            settled = times <= to_ms(as_of)
            funding_ms, rates = times[settled].tolist(), funding.to_numpy(dtype="float64")[settled].tolist()
        oi_ms, oi_values = _series_lists(oi, as_of)
        return assemble_snapshot(symbol, as_of, rows, FundingWindow(funding_ms, rates), oi_ms, oi_values, book)

    def _still_current(self, symbol: str, timeframe: str, as_of_ms: int) -> _Rows | None:
        """The cached rows of a frame whose last bar is closed at as_of and whose next bar is not yet."""
        cached = self._cache.get((symbol, timeframe))
        if cached is None or not cached.key.length:
            return None
        step = tf_ms(timeframe)
        last_open = cached.key.last_open_ms
        return cached.rows if last_open + step <= as_of_ms < last_open + 2 * step else None

    def _rows(self, symbol: str, timeframe: str, frame: pd.DataFrame) -> _Rows:
        with self._cache_lock:
            rows = self._quick_rows_locked(symbol, timeframe, frame)
            if rows is not None:
                return rows
            whole = compute_indicators(frame, timeframe)
            state = IndicatorState.start(whole, LIVE_TAIL)
            rows = _Rows(whole.tail(LIVE_TAIL), last=LIVE_ROWS)
            self._cache[(symbol, timeframe)] = _Cached(_key(*_ohlcv(frame)), frame, rows, state)
            return rows

    def _quick_rows(self, symbol: str, timeframe: str, frame: pd.DataFrame) -> _Rows | None:
        """The rows of a frame unchanged since the last call, or carried forward by its new bars; None when
        the window must be computed again."""
        with self._cache_lock:
            return self._quick_rows_locked(symbol, timeframe, frame)

    def _quick_rows_locked(self, symbol: str, timeframe: str, frame: pd.DataFrame) -> _Rows | None:
        times, values = _ohlcv(frame)
        key = _key(times, values)
        cached = self._cache.get((symbol, timeframe))
        if cached is None:
            return None
        if cached.key == key:
            return cached.rows
        if cached.state is None:
            return None
        indicators = _carried_forward(cached.state, times, values)
        if indicators is None:
            self._cache[(symbol, timeframe)] = _Cached(cached.key, cached.frame, cached.rows, None)  # state spent
            return None
        rows = _Rows(indicators, last=LIVE_ROWS)
        self._cache[(symbol, timeframe)] = _Cached(key, frame, rows, cached.state)
        return rows


def _ohlcv(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Open times (ms) and the OHLCV values as one (bars × 5) float array."""
    columns = list(_VIEW_OHLCV)
    table = frame if list(frame.columns) == columns else frame[columns]
    return open_ms(frame), table.to_numpy(dtype="float64")


def _key(times: np.ndarray, values: np.ndarray) -> _CacheKey:
    if not len(times):
        return _CacheKey(0, 0, 0, 0.0, 0.0)
    return _CacheKey(len(times), int(times[0]), int(times[-1]), float(values[-1, 3]), float(values[-1, 4]))


@dataclass(frozen=True, slots=True)
class _Cached:
    key: _CacheKey
    frame: pd.DataFrame  # the bars the rows were built from
    rows: _Rows
    state: IndicatorState | None  # None: the frame is recomputed whenever it changes


def _carried_forward(state: IndicatorState, times: np.ndarray, values: np.ndarray) -> IndicatorFrame | None:
    """The state moved on by the bars after the last one it knows — when that bar is among `times` unchanged
    and at most MAX_CARRIED_BARS follow it; else None (compute the window again)."""
    known = state.frame
    last = int(known.open_ms[-1])
    k = int(np.searchsorted(times, last))
    new = len(times) - k - 1
    if k >= len(times) or int(times[k]) != last or not 0 < new <= MAX_CARRIED_BARS:
        return None
    if any(float(values[k, j]) != known.columns[c][-1] for j, c in enumerate(_VIEW_OHLCV)):
        return None  # the bar was revised: what was computed on it no longer holds
    return state.extend(list(zip(times[k + 1:].tolist(), *values[k + 1:].T.tolist(), strict=True)))


# ------------------------------------------------------------------------------------------------
# Replay: whole series, computed once
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BarArrays:
    """One timeframe's bars as read-only numpy arrays (open_time_ms int64, the rest float64)."""

    timeframe: str
    timeframe_ms: int
    open_time_ms: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    @property
    def close_time_ms(self) -> np.ndarray:
        return self.open_time_ms + self.timeframe_ms

    def __len__(self) -> int:
        return len(self.open_time_ms)


@dataclass(frozen=True, slots=True)
class FundingArrays:
    """Settlement times (int64 ms, ascending) and the rate settled at each (fraction per interval)."""

    time_ms: np.ndarray
    rate: np.ndarray


def _readonly(values: np.ndarray, dtype: str) -> np.ndarray:
    out = np.array(values, dtype=dtype)
    out.flags.writeable = False
    return out


def _bar_views(rows: _Rows) -> BarArrays:
    """A snapshot timeframe's bars as read-only views of its rows: no second copy of the OHLCV (#18)."""

    def view(values: np.ndarray) -> np.ndarray:
        out = values.view()
        out.flags.writeable = False
        return out

    return BarArrays(timeframe=rows.timeframe, timeframe_ms=rows.timeframe_ms, open_time_ms=view(rows.open_ms),
                     **{c: view(rows.matrix[:, rows._columns[c]]) for c in _VIEW_OHLCV})


def _bar_arrays(frame: pd.DataFrame, timeframe: str) -> BarArrays:
    return BarArrays(
        timeframe=timeframe,
        timeframe_ms=tf_ms(timeframe),
        open_time_ms=_readonly(open_ms(frame), "int64"),
        **{c: _readonly(frame[c].to_numpy(), "float64") for c in ("open", "high", "low", "close", "volume")},
    )


class SeriesSnapshotSource:
    """Replay's snapshot source: indicators once per series, then O(log n) lookups.

    `frames_by_symbol[symbol][timeframe]` are candle frames (UTC open-time index, OHLCV). Timeframes in
    `snapshot_timeframes` get indicators and make up snapshots; any other frame given (5m, 15m for intrabar
    fills) is only served by `bars()`.
    """

    def __init__(
        self,
        frames_by_symbol: Mapping[str, Mapping[str, pd.DataFrame]],
        funding_by_symbol: Mapping[str, pd.Series] | None = None,
        *,
        snapshot_timeframes: Sequence[str] = SNAPSHOT_TIMEFRAMES,
        oi_by_symbol: Mapping[str, pd.Series] | None = None,
    ) -> None:
        funding_by_symbol = funding_by_symbol or {}
        self._oi_lists = {symbol: _series_lists(series) for symbol, series in (oi_by_symbol or {}).items()}
        self._rows: dict[str, list[_Rows]] = {}
        self._bars: dict[tuple[str, str], BarArrays] = {}
        self._funding: dict[str, FundingArrays] = {}
        self._funding_windows: dict[str, FundingWindow] = {}
        for symbol, frames in frames_by_symbol.items():
            wanted = sort_timeframes([tf for tf in frames if tf in snapshot_timeframes])
            if not wanted:
                raise ValueError(f"{symbol}: none of the snapshot timeframes {list(snapshot_timeframes)} given")
            self._rows[symbol] = [_Rows(compute_indicators(frames[tf], tf)) for tf in wanted]
            for rows in self._rows[symbol]:
                self._bars[(symbol, rows.timeframe)] = _bar_views(rows)
            for tf, frame in frames.items():
                if tf not in wanted:  # bars only (5m, 15m)
                    self._bars[(symbol, tf)] = _bar_arrays(frame, tf)
            series = funding_by_symbol.get(symbol)
            if series is None or len(series) == 0:
                times, rates = np.array([], dtype="int64"), np.array([], dtype="float64")
            else:
                series = series.sort_index()
                times, rates = index_ms(series), series.to_numpy(dtype="float64")
            self._funding[symbol] = FundingArrays(_readonly(times, "int64"), _readonly(rates, "float64"))
            self._funding_windows[symbol] = FundingWindow(times.tolist(), rates.tolist())

    @classmethod
    def from_offline(
        cls,
        data: OfflineMarketData,
        symbols: Iterable[str],
        start: datetime,
        end: datetime,
        *,
        warmup_bars: int = 500,
        timeframes: Sequence[str] = SNAPSHOT_TIMEFRAMES,
        bar_timeframes: Sequence[str] = ("5m", "15m"),
    ) -> SeriesSnapshotSource:
        """Bars from `warmup_bars` bars before `start` (per timeframe, as far as the data goes) up to those
        opening at or before `end`. `bar_timeframes` are loaded (no indicators) when stored on disk."""
        start_ms, end_ms = to_ms(start), to_ms(end)
        frames_by_symbol: dict[str, dict[str, pd.DataFrame]] = {}
        funding_by_symbol: dict[str, pd.Series] = {}
        oi_by_symbol: dict[str, pd.Series] = {}
        for symbol in symbols:
            native = data.native_timeframes(symbol)
            frames: dict[str, pd.DataFrame] = {}
            extra = [tf for tf in bar_timeframes if tf in native and tf not in timeframes]
            for tf in (*timeframes, *extra):
                frame = data.frame(symbol, tf)
                times = open_ms(frame)
                lo = int(np.searchsorted(times, start_ms - warmup_bars * tf_ms(tf), side="left"))
                hi = int(np.searchsorted(times, end_ms, side="right"))
                frames[tf] = frame.iloc[lo:hi]
            frames_by_symbol[symbol] = frames
            funding = data.funding_series(symbol)
            funding_by_symbol[symbol] = funding[funding.index <= end]
            oi = data.open_interest_series(symbol)
            oi_by_symbol[symbol] = oi[oi.index <= end]
        return cls(frames_by_symbol, funding_by_symbol, snapshot_timeframes=timeframes, oi_by_symbol=oi_by_symbol)

    @property
    def symbols(self) -> list[str]:
        return list(self._rows)

    def timeframes(self, symbol: str) -> list[str]:
        """Snapshot timeframes of `symbol`, finest first (the first is the base bar of replay)."""
        return [r.timeframe for r in self._rows[symbol]]

    def bar_timeframes(self, symbol: str) -> list[str]:
        return sort_timeframes([tf for (s, tf) in self._bars if s == symbol])

    def bars(self, symbol: str, timeframe: str) -> BarArrays:
        try:
            return self._bars[(symbol, timeframe)]
        except KeyError:
            raise KeyError(f"no {timeframe} bars for {symbol} (have: {', '.join(self.bar_timeframes(symbol))})") from None

    def funding(self, symbol: str) -> FundingArrays:
        return self._funding[symbol]

    def snapshot_sync(self, symbol: str, as_of: datetime) -> Snapshot:
        rows = self._rows.get(symbol)
        if rows is None:
            raise KeyError(f"no series for {symbol} (have: {', '.join(self._rows)})")
        oi_ms, oi_values = self._oi_lists.get(symbol, ((), ()))
        return assemble_snapshot(symbol, as_of, rows, self._funding_windows[symbol], oi_ms, oi_values)

    async def snapshot(self, symbol: str, as_of: datetime) -> Snapshot:
        return self.snapshot_sync(symbol, as_of)


__all__ = [
    "SNAPSHOT_TIMEFRAMES",
    "BarArrays",
    "FundingArrays",
    "LiveSnapshotSource",
    "SeriesSnapshotSource",
    "SnapshotUnavailable",
    "assemble_snapshot",
]
