"""What the trend engine remembers between snapshots, per symbol: the inputs that need more history than one
snapshot carries (docs/strategy.md, the TSMOM and funding candidates).

- `DailyCloses`: the daily closes seen so far (one per closed daily bar), for the time-series-momentum
  direction — the sign of the return over the last `lookback` daily closes, as the lab's `baseline:tsmom`
  computes it — and whether that sign flipped since the last entry (one position per signal flip).
- `FundingHistory`: the 24 h mean funding rates seen so far (one sample per new value), and the share of
  them at or below the current one: its point-in-time percentile.

Both only ever see snapshots already decided on, so they are point in time by construction; they start empty
(after a restart the engine needs `lookback` days before its first momentum entry).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(slots=True)
class DailyCloses:
    lookback: int
    closes: list[float] = field(default_factory=list)
    last_bar: datetime | None = None
    entered_sign: int = 0  # the signal of the last entry; a new entry needs the signal to differ from it

    def observe(self, bar_time: datetime, close: float) -> None:
        if self.last_bar is None or bar_time > self.last_bar:
            self.closes.append(close)
            self.last_bar = bar_time
            del self.closes[: max(0, len(self.closes) - self.lookback - 1)]

    def sign(self) -> int | None:
        """+1 / -1 / 0 for the return over `lookback` daily closes; None until that many have been seen."""
        if len(self.closes) <= self.lookback:
            return None
        change = self.closes[-1] - self.closes[-1 - self.lookback]
        return (change > 0.0) - (change < 0.0)

    def armed(self, sign: int) -> bool:
        """True when `sign` may open a position: it is not the signal the last entry was taken on."""
        if sign != self.entered_sign:
            self.entered_sign = 0  # the signal flipped (or went flat) since the last entry: re-armed
        return self.entered_sign == 0


@dataclass(slots=True)
class FundingHistory:
    min_samples: int = 90  # about a month of 8 h settlements before the percentile is trusted
    values: list[float] = field(default_factory=list)  # sorted
    last: float | None = None

    def observe(self, rate: float | None) -> None:
        if rate is not None and rate != self.last:
            bisect.insort(self.values, rate)
            self.last = rate

    def percentile(self, rate: float) -> float | None:
        """Share of the samples seen at or below `rate` (0–1); None while there are too few."""
        if len(self.values) < self.min_samples:
            return None
        return bisect.bisect_right(self.values, rate) / len(self.values)
