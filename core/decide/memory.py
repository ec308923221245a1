"""What the trend engine remembers between snapshots, per symbol (docs/strategy.md, the TSMOM and funding
candidates).

- `FlipGate`: whether the momentum signal flipped since the last entry (one position per signal flip).
- `FundingHistory`: the 24 h mean funding rates seen so far (one sample per new value), and the share of
  them at or below the current one: its point-in-time percentile.

Both only ever see snapshots already decided on (or, in the warm-up, the mean a snapshot at that hour would
have had, from the settlements at or before it), so they are point in time by construction. A replay starts them
empty; the live bot keeps them across restarts (`TrendEngine.memory()` / `restore()`, saved in the state store by
`core.services.engine_memory` after each cycle), tops the funding history up with the hours it was down for, and on
a first start with nothing stored (or for a symbol added from chat) seeds it from the 90 days of settlements before
(`core.services.funding_warmup`), so the veto acts from the first cycle instead of a month later.

`encode_trend_memory` / `decode_trend_memory` are the stored form: plain JSON, versioned; anything else (damaged,
another engine's, another version) raises `CorruptMemory` and the engine keeps the memory it had (empty at start-up).
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

MEMORY_VERSION = 1


class CorruptMemory(ValueError):
    """A stored engine memory this engine cannot take: damaged, another engine's, or another version."""


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


def _rate(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise CorruptMemory(f"{where}: {value!r} is not a finite rate")
    return float(value)


def encode_trend_memory(engine: str, flips: Mapping[str, FlipGate], funding: Mapping[str, FundingHistory]) -> dict[str, object]:
    return {
        "version": MEMORY_VERSION,
        "engine": engine,
        "flips": {symbol: gate.entered_sign for symbol, gate in flips.items()},
        "funding": {symbol: {"values": list(h.values), "last": h.last} for symbol, h in funding.items()},
    }


def decode_trend_memory(
    engine: str, memory: Mapping[str, object]
) -> tuple[dict[str, FlipGate], dict[str, FundingHistory]]:
    """The engine's per-symbol memory from its stored form; CorruptMemory naming what is wrong."""
    if not isinstance(memory, Mapping):
        raise CorruptMemory(f"not an object but {type(memory).__name__}")
    if memory.get("engine") != engine or memory.get("version") != MEMORY_VERSION:
        raise CorruptMemory(f"engine {memory.get('engine')!r} version {memory.get('version')!r}, "
                            f"not {engine!r} version {MEMORY_VERSION}")
    flips_in, funding_in = memory.get("flips"), memory.get("funding")
    if not isinstance(flips_in, Mapping) or not isinstance(funding_in, Mapping):
        raise CorruptMemory("flips and funding must be objects")
    flips: dict[str, FlipGate] = {}
    for symbol, sign in flips_in.items():
        if isinstance(sign, bool) or sign not in (-1, 0, 1):
            raise CorruptMemory(f"flips[{symbol!r}]: {sign!r} is not -1, 0 or 1")
        flips[str(symbol)] = FlipGate(int(sign))
    funding: dict[str, FundingHistory] = {}
    for symbol, item in funding_in.items():
        if not isinstance(item, Mapping) or not isinstance(item.get("values"), list):
            raise CorruptMemory(f"funding[{symbol!r}] has no list of values")
        values = [_rate(v, f"funding[{symbol!r}]") for v in item["values"]]
        if any(a > b for a, b in itertools.pairwise(values)):
            raise CorruptMemory(f"funding[{symbol!r}]: values not sorted")
        last = item.get("last")
        if last is not None and _rate(last, f"funding[{symbol!r}].last") not in values:
            raise CorruptMemory(f"funding[{symbol!r}]: last {last!r} was never observed")
        funding[str(symbol)] = FundingHistory(values=values, last=None if last is None else float(last))
    return flips, funding
