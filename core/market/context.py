"""Market context beyond candles (DESIGN §4.3, #17): funding average, open interest and its changes, spread
and top-of-book imbalance — the extra top-level snapshot keys, each None when there is no data for that time.

Pure functions on plain sequences so the live and the replay snapshot compute them the same way; each only
reads observations stamped at or before `as_of_ms`.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
BOOK_LEVELS = 5  # the depth CcxtMarketData fetches; imbalance is measured over these levels

FUNDING_KEY = "funding_avg_24h"
OI_KEYS = ("open_interest", "oi_change_1h_pct", "oi_change_24h_pct")
BOOK_KEYS = ("spread_pct", "book_imbalance")
CONTEXT_KEYS = (FUNDING_KEY, *OI_KEYS, *BOOK_KEYS)
# an OI reading older than this before the time asked for is not "the OI at that time"
OI_MAX_AGE_MS = 2 * HOUR_MS


def funding_avg_24h(times_ms: Sequence[int], rates: Sequence[float], as_of_ms: int) -> float | None:
    """Mean of the settled rates in (as_of − 24 h, as_of]; None when none settled in that window."""
    return _mean_finite(rates[bisect_right(times_ms, as_of_ms - DAY_MS):bisect_right(times_ms, as_of_ms)])


def _mean_finite(rates: Sequence[float]) -> float | None:
    window = [r for r in rates if math.isfinite(r)]
    return sum(window) / len(window) if window else None


class FundingWindow:
    """One symbol's settlements (ms ascending, rates): the last settled rate and `funding_avg_24h` at a time.
    Remembers the last 24 h window it averaged — consecutive hours of a replay mostly share it (a settlement
    every 8 h), so most reads are two bisects."""

    __slots__ = ("_last", "rates", "times_ms")

    def __init__(self, times_ms: Sequence[int], rates: Sequence[float]) -> None:
        self.times_ms, self.rates = times_ms, rates
        self._last: tuple[int, int, float | None] = (-1, -1, None)

    def at(self, as_of_ms: int) -> tuple[float | None, float | None]:
        """(the last rate settled at or before as_of, the mean of those settled in (as_of − 24 h, as_of])."""
        hi = bisect_right(self.times_ms, as_of_ms)
        lo = bisect_right(self.times_ms, as_of_ms - DAY_MS, 0, hi)
        last_lo, last_hi, mean = self._last
        if lo != last_lo or hi != last_hi:
            mean = _mean_finite(self.rates[lo:hi])
            self._last = (lo, hi, mean)
        return (self.rates[hi - 1] if hi else None), mean


def _oi_at(times_ms: Sequence[int], values: Sequence[float], at_ms: int) -> float | None:
    k = bisect_right(times_ms, at_ms) - 1
    if k < 0 or at_ms - times_ms[k] > OI_MAX_AGE_MS:
        return None
    v = values[k]
    return v if math.isfinite(v) and v > 0 else None


def _pct(now: float | None, before: float | None) -> float | None:
    return None if now is None or before is None else (now / before - 1.0) * 100.0


def oi_context(times_ms: Sequence[int], values: Sequence[float], as_of_ms: int) -> dict[str, float | None]:
    """Open interest at as_of (the last reading at or before it) and its change over 1 h and 24 h."""
    if not times_ms:
        return dict.fromkeys(OI_KEYS)
    now = _oi_at(times_ms, values, as_of_ms)
    return {
        "open_interest": now,
        "oi_change_1h_pct": _pct(now, _oi_at(times_ms, values, as_of_ms - HOUR_MS)),
        "oi_change_24h_pct": _pct(now, _oi_at(times_ms, values, as_of_ms - DAY_MS)),
    }


def book_context(bids: Sequence[Sequence[float]], asks: Sequence[Sequence[float]]) -> dict[str, float | None]:
    """Spread in % of the mid and bid depth ÷ (bid + ask depth) over the first BOOK_LEVELS levels."""
    out: dict[str, float | None] = dict.fromkeys(BOOK_KEYS)
    try:
        bid, ask = float(bids[0][0]), float(asks[0][0])
        bid_depth = sum(float(level[1]) for level in bids[:BOOK_LEVELS])
        ask_depth = sum(float(level[1]) for level in asks[:BOOK_LEVELS])
    except (IndexError, TypeError, ValueError):
        return out
    if math.isfinite(bid) and math.isfinite(ask) and 0 < bid <= ask:
        out["spread_pct"] = (ask - bid) / ((ask + bid) / 2) * 100.0
    total = bid_depth + ask_depth
    if math.isfinite(total) and total > 0 and bid_depth >= 0 and ask_depth >= 0:
        out["book_imbalance"] = bid_depth / total
    return out


def empty_context() -> dict[str, float | None]:
    return dict.fromkeys(CONTEXT_KEYS)


__all__ = [
    "BOOK_KEYS", "CONTEXT_KEYS", "FUNDING_KEY", "OI_KEYS", "FundingWindow", "book_context", "empty_context",
    "funding_avg_24h", "oi_context",
]
