"""Bars for replay as plain numpy arrays, and the BarFeed the paper broker reads them through.

Times are int64 milliseconds of bar **open** (UTC). The feed only ever answers for bars that have closed
at the time it is asked about, so the broker cannot see the future either.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from core.models import DomainError

MS_PER_HOUR = 3_600_000
Columns = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # open_ms, open, high, low, close


@dataclass(frozen=True, slots=True)
class Bars:
    """OHLC arrays of one timeframe of one symbol, sorted by open time, no duplicates."""

    timeframe_ms: int
    open_ms: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.open_ms)
        if any(len(a) != n for a in (self.open, self.high, self.low, self.close)):
            raise DomainError("bar arrays must all have the same length")
        if self.timeframe_ms <= 0:
            raise DomainError(f"timeframe_ms must be positive, got {self.timeframe_ms}")
        if n > 1 and not bool(np.all(np.diff(self.open_ms) > 0)):
            raise DomainError("bar open times must be strictly increasing")

    def __len__(self) -> int:
        return len(self.open_ms)

    def index_of(self, open_ms: int) -> int | None:
        i = int(np.searchsorted(self.open_ms, open_ms))
        return i if i < len(self.open_ms) and int(self.open_ms[i]) == open_ms else None

    @property
    def first_open_ms(self) -> int:
        return int(self.open_ms[0])

    @property
    def last_open_ms(self) -> int:
        return int(self.open_ms[-1])

    def rank(self, open_ms: int, side: Literal["left", "right"]) -> int:
        """Rows opening before `open_ms` ("left") or at or before it ("right")."""
        return int(self.open_ms.searchsorted(open_ms, side))

    def columns(self, lo: int, hi: int) -> Columns:
        """Open times and OHLC of rows lo..hi-1."""
        return self.open_ms[lo:hi], self.open[lo:hi], self.high[lo:hi], self.low[lo:hi], self.close[lo:hi]


class BarSeries(Protocol):
    """What the feed reads of a timeframe's bars: `Bars`, or `bar_spill.SpilledBars` (bars in a file)."""

    @property
    def timeframe_ms(self) -> int: ...

    @property
    def first_open_ms(self) -> int: ...

    @property
    def last_open_ms(self) -> int: ...

    def __len__(self) -> int: ...

    def rank(self, open_ms: int, side: Literal["left", "right"]) -> int: ...

    def columns(self, lo: int, hi: int) -> Columns: ...


@dataclass(frozen=True, slots=True)
class SymbolBars:
    """Everything replay needs about one symbol: the base bars, finer bars for intrabar order, funding."""

    symbol: str
    base: Bars
    finer: Mapping[str, BarSeries] = field(default_factory=dict)
    funding_ms: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    funding_rate: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))

    def __post_init__(self) -> None:
        if len(self.funding_ms) != len(self.funding_rate):
            raise DomainError(f"{self.symbol}: funding times and rates differ in length")

    def finest(self) -> BarSeries | None:
        """The finest timeframe below the base one, if any was on disk."""
        candidates = [b for b in self.finer.values() if b.timeframe_ms < self.base.timeframe_ms and len(b)]
        return min(candidates, key=lambda b: b.timeframe_ms) if candidates else None

    def price_at(self, moment_ms: int) -> float | None:
        """The traded price at an instant: the open of the base bar starting then, else the last close."""
        i = self.base.index_of(moment_ms)
        if i is not None:
            return float(self.base.open[i])
        j = int(np.searchsorted(self.base.open_ms, moment_ms - self.base.timeframe_ms, side="right")) - 1
        return float(self.base.close[j]) if j >= 0 else None


Bar = tuple[int, float, float, float, float]  # open_time_ms, open, high, low, close (PaperBroker's Bar)
MAX_MISSING_FINER_SHARE = 0.01  # finer bars missing beyond this share of the window: use the base bars


def covers(bars: BarSeries, start_ms: int, end_ms: int) -> bool:
    """The finer series spans the window (bars opening from start to the last close) with few holes."""
    if not len(bars):
        return False
    if bars.first_open_ms > start_ms or bars.last_open_ms + bars.timeframe_ms < end_ms:
        return False
    inside = bars.rank(end_ms - bars.timeframe_ms, "right") - bars.rank(start_ms, "left")
    expected = (end_ms - start_ms) // bars.timeframe_ms
    return inside >= expected * (1 - MAX_MISSING_FINER_SHARE)


class ReplayBarFeed:
    """The paper broker's BarFeed over numpy arrays (core.execution.paper_broker.BarFeed).

    Each symbol's stops and targets resolve on its own finest timeframe that covers the replay window (5m,
    else 15m, else the base bars): the order in which a stop and a target were touched inside an hour then
    comes from the data instead of the pessimistic stop-first assumption, for every symbol that has it —
    one symbol without 5m bars never sends the others back to 1h. `resolution` says which per symbol.
    Bars stay columnar (one int64 and four float64 arrays per symbol, or in a file: `bar_spill`); a call
    converts only its slice.
    """

    def __init__(self, bars: list[SymbolBars], *, base_timeframe_ms: int, window_ms: tuple[int, int]) -> None:
        start_ms, end_ms = window_ms
        self._series: dict[str, BarSeries] = {}
        self._funding: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.resolution: dict[str, int] = {}
        for s in bars:
            # the base bar that the first step's decision fills in starts at start_ms
            finer = sorted((b for b in s.finer.values() if b.timeframe_ms < base_timeframe_ms),
                           key=lambda b: b.timeframe_ms)
            chosen: BarSeries = next((b for b in finer if covers(b, start_ms - base_timeframe_ms, end_ms)), s.base)
            self.resolution[s.symbol] = chosen.timeframe_ms
            self._series[s.symbol] = chosen
            self._funding[s.symbol] = (s.funding_ms, s.funding_rate)
        # the protocol's one timeframe: the coarsest any symbol resolves on (timeframe_ms_for is per symbol)
        self.timeframe_ms = max(self.resolution.values(), default=base_timeframe_ms)

    def timeframe_ms_for(self, symbol: str) -> int:
        return self.resolution[symbol]

    async def bars(self, symbol: str, start_ms: int, until_ms: int) -> list[Bar]:
        """Bars with open_time ≥ start_ms and open_time + timeframe ≤ until_ms, oldest first."""
        series = self._series[symbol]
        lo, hi = series.rank(start_ms, "left"), series.rank(until_ms - self.resolution[symbol], "right")
        if hi <= lo:
            return []
        t, o, h, low, c = series.columns(lo, hi)
        return list(zip(t.tolist(), o.tolist(), h.tolist(), low.tolist(), c.tolist(), strict=True))

    async def funding(self, symbol: str, after_ms: int, until_ms: int) -> list[tuple[int, float]]:
        """Settlements with after_ms < time ≤ until_ms, oldest first."""
        times, rates = self._funding[symbol]
        lo = int(times.searchsorted(after_ms, "right"))
        hi = int(times.searchsorted(until_ms, "right"))
        if hi <= lo:
            return []
        return list(zip(times[lo:hi].tolist(), rates[lo:hi].tolist(), strict=True))
