"""Intrabar bars kept in a temporary file and read a chunk at a time (#18).

A year of 5m bars is ~4 MiB of OHLC arrays per symbol (~260 MiB at 64 symbols), but the paper broker only
reads the bars after each open position's cursor, moving forward in time. So the OHLC values go to one
anonymous temporary file per replay and each series keeps `chunk_bars` rows of them in memory: the chunk that
holds the rows asked for, read again from the file when a request leaves it. The open times stay in memory
(8 bytes a bar) so that searches and coverage checks work as on `Bars`. Values are stored and read as raw
float64 bytes, so a window read back is bit for bit the window the arrays held.
"""

from __future__ import annotations

import logging
import tempfile
import weakref
from typing import BinaryIO

import numpy as np

from core.evaluation.feed import Bars

CHUNK_BARS = 8192  # 28 days of 5m bars: ~13 reads per symbol-year, 256 KiB in memory per symbol
_ROW = np.dtype(np.float64).itemsize * 4  # open, high, low, close

log = logging.getLogger(__name__)

Columns = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


class SpilledBars:
    """One timeframe of one symbol: open times in memory, OHLC in a BarSpill's file.

    Has what `feed.covers` and `ReplayBarFeed` read of a `Bars` (timeframe_ms, open_ms, closed_count, len,
    columns); `columns(lo, hi)` reads from the file only when rows lo..hi are not in the chunk held.
    """

    __slots__ = ("_chunk", "_held", "_offset", "_spill", "open_ms", "timeframe_ms")

    def __init__(self, timeframe_ms: int, open_ms: np.ndarray, spill: BarSpill, offset: int) -> None:
        self.timeframe_ms = timeframe_ms
        self.open_ms = open_ms
        self._spill = spill  # the file stays open while any of its series is alive
        self._offset = offset
        self._held = (0, 0)  # rows [first, end) of the series that _chunk holds
        self._chunk = np.empty((0, 4), dtype=np.float64)

    def __len__(self) -> int:
        return len(self.open_ms)

    def closed_count(self, as_of_ms: int) -> int:
        return int(np.searchsorted(self.open_ms, as_of_ms - self.timeframe_ms, side="right"))

    def columns(self, lo: int, hi: int) -> Columns:
        """Open times and OHLC of rows lo..hi-1 (0 <= lo < hi <= len)."""
        first, end = self._held
        if lo < first or hi > end:
            size = self._spill.chunk_bars
            first, end = lo // size * size, min(len(self.open_ms), -(-hi // size) * size)
            raw = self._spill.read(self._offset + first * _ROW, (end - first) * _ROW)
            self._chunk = np.frombuffer(raw, dtype=np.float64).reshape(-1, 4)
            self._held = (first, end)
        rows = self._chunk[lo - first : hi - first]
        return self.open_ms[lo:hi], rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3]


class BarSpill:
    """The temporary file of one replay's intrabar bars; removed when closed (or collected). Where no
    temporary file can be written, `put` keeps the bars in memory and says so once in the log."""

    def __init__(self, chunk_bars: int = CHUNK_BARS) -> None:
        if chunk_bars <= 0:
            raise ValueError(f"chunk_bars must be positive, got {chunk_bars}")
        self.chunk_bars = chunk_bars
        self._file: BinaryIO | None = None
        self._failed = False
        self._close = lambda: None

    def put(self, bars: Bars) -> SpilledBars | Bars:
        if self._failed:
            return bars
        try:
            if self._file is None:
                self._file = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the replay, closed below
                self._close = weakref.finalize(self, self._file.close)
            offset = self._file.seek(0, 2)
            self._file.write(np.column_stack((bars.open, bars.high, bars.low, bars.close)).tobytes())
            self._file.flush()
        except OSError as error:
            self._failed = True
            log.warning("intrabar bars stay in memory: no temporary file could be written (%s)", error)
            return bars
        return SpilledBars(bars.timeframe_ms, bars.open_ms, self, offset)

    def read(self, offset: int, size: int) -> bytes:
        assert self._file is not None, "read before any put"
        self._file.seek(offset)
        return self._file.read(size)

    def close(self) -> None:
        self._close()


__all__ = ["CHUNK_BARS", "BarSpill", "SpilledBars"]
