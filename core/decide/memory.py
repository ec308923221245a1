"""What the trend engine remembers between snapshots, per symbol (docs/strategy.md, the TSMOM and funding
candidates).

- `FlipGate`: whether the momentum signal flipped since the last entry (one position per signal flip).
- `FundingHistory`: the 24 h mean funding rates seen so far (one sample per new value), and the share of
  them at or below the current one: its point-in-time percentile.

Both only ever see snapshots already decided on, so they are point in time by construction; they start empty
(after a restart the funding veto needs a month of samples before it acts).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field


@dataclass(slots=True)
class FlipGate:
    """One position per signal: `entered_sign` is the signal the last position was taken on."""

    entered_sign: int = 0

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
