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

CHUNK_BARS = 8192  # 28 days of 5m bars: ~13 reads per symbol-year, 320 KiB in memory per symbol
_ROW = np.dtype([("t", "<i8"), ("o", "<f8"), ("h", "<f8"), ("l", "<f8"), ("c", "<f8")])

log = logging.getLogger(__name__)


class SpilledBars:
    """One timeframe of one symbol in a BarSpill's file (feed.BarSeries, as `Bars` is)."""

    __slots__ = ("_held", "_offset", "_rows", "_spill", "_starts", "first_open_ms", "last_open_ms", "timeframe_ms")

    def __init__(self, bars: Bars, spill: BarSpill, offset: int) -> None:
        self.timeframe_ms = bars.timeframe_ms
        self.first_open_ms, self.last_open_ms = int(bars.open_ms[0]), int(bars.open_ms[-1])
        self._starts = bars.open_ms[:: spill.chunk_bars].copy()  # open time of each chunk's first row
        self._rows = len(bars)
        self._spill = spill  # the file stays open while any of its series is alive
        self._offset = offset
        self._held: tuple[int, int, np.ndarray] = (0, 0, np.empty(0, dtype=_ROW))  # rows [first, end) and their values

    def __len__(self) -> int:
        return self._rows

    def rank(self, open_ms: int, side: Literal["left", "right"]) -> int:
        # every row of an earlier chunk opens before the chunk holding open_ms starts, every row of a later one after
        k = int(self._starts.searchsorted(open_ms, "right")) - 1
        if k < 0:
            return 0
        first, _, rows = self._hold(k, k)
        size = self._spill.chunk_bars
        lo = k * size - first
        return k * size + int(rows["t"][lo : lo + size].searchsorted(open_ms, side))

    def columns(self, lo: int, hi: int) -> Columns:
        first, _, rows = self._hold(lo // self._spill.chunk_bars, (hi - 1) // self._spill.chunk_bars)
        part = rows[lo - first : hi - first]
        return part["t"], part["o"], part["h"], part["l"], part["c"]

    def _hold(self, k0: int, k1: int) -> tuple[int, int, np.ndarray]:
        """Chunks k0..k1 in memory (read from the file unless already held)."""
        size = self._spill.chunk_bars
        first, end = k0 * size, min(self._rows, (k1 + 1) * size)
        if not (self._held[0] <= first and end <= self._held[1]):
            raw = self._spill.read(self._offset + first * _ROW.itemsize, (end - first) * _ROW.itemsize)
            self._held = (first, end, np.frombuffer(raw, dtype=_ROW))
        return self._held


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
        rows = np.empty(len(bars), dtype=_ROW)
        rows["t"], rows["o"], rows["h"], rows["l"], rows["c"] = bars.open_ms, bars.open, bars.high, bars.low, bars.close
        try:
            if self._file is None:
                self._file = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the replay, closed below
                self._close = weakref.finalize(self, self._file.close)
            offset = self._file.seek(0, 2)
            self._file.write(rows.tobytes())
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
