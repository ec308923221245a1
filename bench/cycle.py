"""Time one TradingCycle for 10 symbols with the rules engine, excluding network (target: < 200 ms warm).

Real data from ../shared/data (5 Binance perps, each served under two names to make 10 symbols);
snapshots from core.market.snapshot.SeriesSnapshotSource, the RiskGuard, a PaperBroker, memory or SQLite stores.
usage: .venv/bin/python bench/cycle.py [--cycles N] [--sqlite] [--live]

--live: the cycle as `aitrader run` does it, minus the network: snapshots from LiveSnapshotSource (last 500
bars per frame read from the files, indicators computed every cycle) and SQLite stores.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.clock import SimulatedClock  # noqa: E402
from core.config import CostModel, RiskLimits  # noqa: E402
from core.decide.rules import RulesEngine  # noqa: E402
from core.execution.paper_book import MemoryBookStore  # noqa: E402
from core.execution.paper_broker import PaperBroker  # noqa: E402
from core.market.offline import OfflineMarketData  # noqa: E402
from core.market.snapshot import SeriesSnapshotSource  # noqa: E402
from core.models import RuntimeState  # noqa: E402
from core.risk.guard import RiskGuard  # noqa: E402
from core.services.cycle import TradingCycle  # noqa: E402
from core.services.memory_log import MemoryDecisionLog  # noqa: E402
from core.services.memory_state import MemoryStateStore  # noqa: E402

DATA = ROOT / ".." / "shared" / "data" / "freqtrade-userdata-cyft_trader" / "original"
BASES = ("BTC", "ETH", "LTC", "SUI", "1000PEPE")


class SeriesBarFeed:
    """BarFeed over SeriesSnapshotSource arrays (engineer D's replay feed does the same for replay)."""

    timeframe_ms = 3_600_000

    def __init__(self, source: SeriesSnapshotSource, alias: dict[str, str]) -> None:
        self._bars = {}
        self._funding = {}
        for name, real in alias.items():
            b = source.bars(real, "1h")
            self._bars[name] = (b.open_time_ms.tolist(), b.open.tolist(), b.high.tolist(), b.low.tolist(),
                                b.close.tolist())
            f = source.funding(real)
            self._funding[name] = (f.time_ms.tolist(), f.rate.tolist())

    async def bars(self, symbol, start_ms, until_ms):
        t, o, h, low, c = self._bars[symbol]
        i = bisect.bisect_left(t, start_ms)
        j = bisect.bisect_right(t, until_ms - self.timeframe_ms)
        return [(t[k], o[k], h[k], low[k], c[k]) for k in range(i, j)]

    async def funding(self, symbol, after_ms, until_ms):
        t, r = self._funding[symbol]
        i = bisect.bisect_right(t, after_ms)
        j = bisect.bisect_right(t, until_ms)
        return [(t[k], r[k]) for k in range(i, j)]


class AliasSource:
    def __init__(self, source: SeriesSnapshotSource, alias: dict[str, str]) -> None:
        self._source = source
        self._alias = alias

    async def snapshot(self, symbol, as_of):
        from dataclasses import replace

        snap = self._source.snapshot_sync(self._alias[symbol], as_of)
        return replace(snap, symbol=symbol)


class AliasMarketData:
    """OfflineMarketData serving each real series under a second name too (10 symbols from 5 files)."""

    def __init__(self, data: OfflineMarketData, alias: dict[str, str]) -> None:
        self._data = data
        self._alias = alias

    async def candles(self, symbol, timeframe, *, until, limit):
        return await self._data.candles(self._alias[symbol], timeframe, until=until, limit=limit)

    async def funding_rates(self, symbol, *, since, until):
        return await self._data.funding_rates(self._alias[symbol], since=since, until=until)


class NullNotifier:
    async def entry(self, event, snapshot, record):
        return None

    async def exit(self, event):
        return None

    async def alert(self, text):
        return None


async def main(cycles: int, sqlite: bool, live: bool) -> None:
    start = datetime(2024, 1, 10, tzinfo=UTC)
    end = start + timedelta(hours=cycles + 50)
    data = OfflineMarketData(DATA)
    real = [f"{b}/USDT:USDT" for b in BASES]
    t0 = time.perf_counter()
    source = SeriesSnapshotSource.from_offline(data, real, start, end, warmup_bars=300, bar_timeframes=())
    print(f"indicators precomputed for 5 series in {time.perf_counter() - t0:.2f} s (not part of a cycle)")
    alias = {f"{b}/USDT:USDT": f"{b}/USDT:USDT" for b in BASES}
    alias |= {f"{b}2/USDT:USDT": f"{b}/USDT:USDT" for b in BASES}
    symbols = tuple(alias)
    if live:
        from core.market.snapshot import LiveSnapshotSource

        snapshots = LiveSnapshotSource(AliasMarketData(data, alias))
        await run_mode(source, alias, symbols, start, cycles, True, True, snapshots, "live snapshots + sqlite")
        return
    for concurrent in (True, False):
        await run_mode(source, alias, symbols, start, cycles, sqlite, concurrent)


async def run_mode(
    source, alias, symbols, start, cycles: int, sqlite: bool, concurrent: bool, snapshots=None, label=None
) -> None:
    limits = RiskLimits(max_open_positions=10)
    clock = SimulatedClock(start)
    tmp = tempfile.TemporaryDirectory()
    db = None
    if sqlite:
        from storage.book_repo import SqliteBookStore
        from storage.db import Database
        from storage.decision_log_repo import SqliteDecisionLog
        from storage.state_repo import SqliteStateStore

        db = await Database(Path(tmp.name) / "bench.sqlite").connect()
        store, log, state = SqliteBookStore(db), SqliteDecisionLog(db), SqliteStateStore(db)
    else:
        store, log, state = MemoryBookStore(), MemoryDecisionLog(), MemoryStateStore()
    broker = PaperBroker(feed=SeriesBarFeed(source, alias), store=store, clock=clock, initial_equity=10_000.0,
                         costs=CostModel(), limits=limits)
    cycle = TradingCycle(snapshots=snapshots or AliasSource(source, alias), engine=RulesEngine(), guard=RiskGuard(limits),
                         broker=broker, log=log, notifier=NullNotifier(), state=state,
                         defaults=RuntimeState(False, True, 10, symbols), clock=clock, concurrent=concurrent)
    times = []
    approved = 0
    for i in range(cycles):
        as_of = start + timedelta(hours=i)
        clock.set(as_of)
        t = time.perf_counter()
        summary = await cycle.run(as_of)
        times.append((time.perf_counter() - t) * 1000)
        approved += len(summary.approved)
        if summary.errors:
            print("errors:", summary.errors)
    warm = sorted(times[5:])
    print(
        f"{label or ('sqlite' if sqlite else 'memory') + ' stores'}, {'gather' if concurrent else 'sequential'}: one cycle of "
        f"{len(symbols)} symbols median {statistics.median(warm):.2f} ms, p95 {warm[int(len(warm) * 0.95)]:.2f} ms,"
        f" first {times[0]:.2f} ms ({cycles} cycles, {approved} entries approved, target < 200 ms warm)"
    )
    if db is not None:
        await db.close()
    tmp.cleanup()

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=200)
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--live", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.cycles, args.sqlite, args.live))
