"""The funding history an engine would have seen had it run before the bot started (core.decide.memory).

The trend engine's funding veto compares `funding_avg_24h` with that symbol's own history and acts only after 90
samples (about a month). A first start has no stored memory, and a restart after downtime has a hole: both are
filled from the settlements the market data serves (the exchange's funding-rate history, or the offline files in
the demo) — the 24 h mean at every hour on the hour in the window, computed by the snapshot's own
`FundingWindow` from the settlements at or before that hour, so the engine holds what it would have observed had
its cycle run every hour (`observe` keeps one sample per new value, so an hour seen twice counts once).
Point in time: nothing settled after `now` is asked for. A symbol whose history cannot be read is one log line
and no samples; it never holds up the start for longer than `timeout_s`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from core.market.context import DAY_MS, HOUR_MS, FundingWindow
from core.market.timeframes import index_ms, to_ms
from core.protocols import MarketData

log = logging.getLogger(__name__)

FUNDING_WARMUP = timedelta(days=90)  # about 270 samples of 8 h settlements: the veto acts from the first cycle
TIMEOUT_S = 60.0
CHUNK = timedelta(days=7)  # funding history per request: 168 rows at hourly funding, 21 at 8 h


@runtime_checkable
class LearnsFunding(Protocol):
    def observe_funding(self, symbol: str, rate: float | None) -> None: ...

    def knows_funding(self, symbol: str) -> bool:
        """Whether it has observed any funding of `symbol` (a symbol added from chat has not)."""
        ...


def _first_hour(ms: int) -> int:
    return -(-ms // HOUR_MS) * HOUR_MS


def hourly_means(times_ms: Sequence[int], rates: Sequence[float], since_ms: int, now_ms: int) -> list[float | None]:
    """`funding_avg_24h` at every hour on the hour in [since, now], as a snapshot at that hour computes it."""
    window = FundingWindow(times_ms, rates)
    return [window.at(hour)[1] for hour in range(_first_hour(since_ms), now_ms + 1, HOUR_MS)]


async def _means(market: MarketData, symbol: str, since: datetime, now: datetime) -> list[float | None]:
    # A week at a time: one page of any venue's funding history even at hourly funding (Bybit serves 200 rows a
    # request, Hyperliquid 500), where one 90-day request got the oldest page and stopped short of now.
    settled: dict[int, float] = {}
    start = since - timedelta(milliseconds=DAY_MS)
    while start <= now:
        end = min(start + CHUNK, now)
        series = await market.funding_rates(symbol, since=start, until=end)
        for t, r in zip(index_ms(series).tolist(), series.to_numpy(dtype="float64").tolist(), strict=True):
            if t <= to_ms(end):
                settled[t] = r
        start = end + timedelta(milliseconds=1)
    times = sorted(settled)
    return hourly_means(times, [settled[t] for t in times], to_ms(since), to_ms(now))


async def warm_up_funding(
    learners: Sequence[tuple[object, datetime]], market: MarketData, symbols: Sequence[str], now: datetime,
    *, timeout_s: float = TIMEOUT_S,
) -> int:
    """Feed each (engine, since) the hourly funding means of `symbols` from `since` to `now`; engines that do not
    learn funding are left alone. The history is read once per symbol. Returns how many symbols were read."""
    wanted: list[tuple[LearnsFunding, datetime]] = []
    for engine, own_since in learners:
        if isinstance(engine, LearnsFunding):
            wanted.append((engine, own_since))
    if not wanted or not symbols:
        return 0
    since = min(s for _, s in wanted)
    tasks = [asyncio.ensure_future(_means(market, s, since, now)) for s in symbols]
    await asyncio.wait(tasks, timeout=timeout_s)
    read = 0
    first = _first_hour(to_ms(since))
    for symbol, task in zip(symbols, tasks, strict=True):
        if not task.done():
            task.cancel()
            log.warning("funding history of %s not read within %.0f s: its veto waits for its own samples", symbol,
                        timeout_s)
            continue
        if task.exception() is not None:
            error = task.exception()
            log.warning("funding history of %s not read (%s: %s): its veto waits for its own samples", symbol,
                        type(error).__name__, str(error)[:200])
            continue
        means = task.result()
        read += 1
        for engine, own_since in wanted:
            skip = (_first_hour(to_ms(own_since)) - first) // HOUR_MS  # the hours before this engine's own since
            for mean in means[skip:]:
                engine.observe_funding(symbol, mean)
    return read
