"""Intrabar bars kept in a temporary file and read a chunk at a time (#18).

A year of 5m bars is ~4 MiB of arrays per symbol (~260 MiB at 64 symbols), but the paper broker only reads
the bars after each open position's cursor, moving forward in time. So the bars (open time and OHLC) go to one
anonymous temporary file per replay, and each series keeps in memory the open time of every chunk's first bar
and the `chunk_bars` rows it last read: a search or a read outside them reads the chunks it needs from the file.
Values are stored and read as raw int64/float64 bytes, so what comes back is bit for bit what the arrays held.
"""

from __future__ import annotations

import logging
import tempfile
import weakref
from typing import BinaryIO, Literal

import numpy as np

from core.evaluation.feed import Bars, Columns

CHUNK_BARS = 2048  # 7 days of 5m bars: ~52 reads per symbol-year, 80 KiB in memory per symbol (8192: +14 MiB at 64)
# the file holds each series chunk by chunk, each chunk column by column: open times, open, high, low, close
_DTYPES = (np.dtype("<i8"), *(np.dtype("<f8"),) * 4)
_ROW_BYTES = 8 * len(_DTYPES)

log = logging.getLogger(__name__)


class SpilledBars:
    """One timeframe of one symbol in a BarSpill's file (feed.BarSeries, as `Bars` is)."""

    __slots__ = ("_columns", "_end", "_first", "_next_ms", "_offset", "_rows", "_spill", "_start_ms", "_starts",
                 "first_open_ms", "last_open_ms", "timeframe_ms")

    def __init__(self, bars: Bars, spill: BarSpill, offset: int) -> None:
        self.timeframe_ms = bars.timeframe_ms
        self.first_open_ms, self.last_open_ms = int(bars.open_ms[0]), int(bars.open_ms[-1])
        self._starts = bars.open_ms[:: spill.chunk_bars].copy()  # open time of each chunk's first row
        self._rows = len(bars)
        self._spill = spill  # the file stays open while any of its series is alive
        self._offset = offset
        # rows [_first, _end) of the series in memory, contiguous per column; the open time of the first of them
        # and of the row after them (None past the last), so a search inside them needs no chunk lookup
        self._first = self._end = 0
        self._start_ms: int | None = None
        self._next_ms: int | None = None
        empty = np.empty(0)
        self._columns: Columns = (empty.astype(np.int64), empty, empty, empty, empty)

    def __len__(self) -> int:
        return self._rows

    def rank(self, open_ms: int, side: Literal["left", "right"]) -> int:
        start, after = self._start_ms, self._next_ms
        if start is None or open_ms < start or (after is not None and open_ms >= after):
            # every row of an earlier chunk opens before the chunk holding open_ms starts, every row of a later one after
            k = int(self._starts.searchsorted(open_ms, "right")) - 1
            if k < 0:
                return 0
            self._hold(k, k)
        return self._first + int(self._columns[0].searchsorted(open_ms, side))

    def columns(self, lo: int, hi: int) -> Columns:
        if lo < self._first or hi > self._end:
            self._hold(lo // self._spill.chunk_bars, (hi - 1) // self._spill.chunk_bars)
        a, b = lo - self._first, hi - self._first
        t, o, h, low, c = self._columns
        return t[a:b], o[a:b], h[a:b], low[a:b], c[a:b]

    def _hold(self, k0: int, k1: int) -> None:
        """Chunks k0..k1 in memory, read from the file (one read; one chunk's columns are views of it)."""
        size = self._spill.chunk_bars
        first, end = k0 * size, min(self._rows, (k1 + 1) * size)
        raw = self._spill.read(self._offset + first * _ROW_BYTES, (end - first) * _ROW_BYTES)
        parts = []
        for k in range(k0, k1 + 1):
            start, rows = (k * size - first) * _ROW_BYTES, min(size, self._rows - k * size)
            parts.append([np.frombuffer(raw, dtype, rows, start + j * rows * 8) for j, dtype in enumerate(_DTYPES)])
        self._columns = tuple(parts[0] if len(parts) == 1 else map(np.concatenate, zip(*parts, strict=True)))  # type: ignore[assignment]
        self._first, self._end = first, end
        self._start_ms = int(self._columns[0][0])
        self._next_ms = int(self._starts[k1 + 1]) if k1 + 1 < len(self._starts) else None


class BarSpill:
    """The temporary file of one replay's intrabar bars; removed when closed (or collected with the last of its
    series). Where no temporary file can be written, `put` keeps the bars in memory and says so once in the log."""

    def __init__(self, chunk_bars: int = CHUNK_BARS) -> None:
        if chunk_bars <= 0:
            raise ValueError(f"chunk_bars must be positive, got {chunk_bars}")
        self.chunk_bars = chunk_bars
        self._file: BinaryIO | None = None
        self._failed = False
        self._close = lambda: None

    def put(self, bars: Bars) -> SpilledBars | Bars:
        if self._failed or not len(bars):
            return bars
        columns = (bars.open_ms, bars.open, bars.high, bars.low, bars.close)
        try:
            if self._file is None:
                self._file = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the replay, closed below
                self._close = weakref.finalize(self, self._file.close)
            offset = self._file.seek(0, 2)
            for a in range(0, len(bars), self.chunk_bars):
                for values, dtype in zip(columns, _DTYPES, strict=True):
                    self._file.write(np.ascontiguousarray(values[a : a + self.chunk_bars], dtype=dtype).data)
            self._file.flush()
        except OSError as error:
            self._failed = True
            log.warning("intrabar bars stay in memory: no temporary file could be written (%s)", error)
            return bars
        return SpilledBars(bars, self, offset)

    def read(self, offset: int, size: int) -> bytes:
        assert self._file is not None, "read before any put"
        self._file.seek(offset)
        return self._file.read(size)

    def close(self) -> None:
        self._close()


__all__ = ["CHUNK_BARS", "BarSpill", "SpilledBars"]
