"""Time one TradingCycle with the rules engine, excluding network (targets: 10 symbols < 200 ms warm; live at
100 symbols median <= 100 ms and at 300 symbols <= 300 ms, #18).

Real data from ../shared/data (5 Binance perps of freqtrade-userdata-cyft_trader, or with --symbols N the 15 of
binance-perps-train, each served under several names to make N symbols); snapshots from
core.market.snapshot.SeriesSnapshotSource, the RiskGuard, a PaperBroker, memory or SQLite stores.
usage: .venv/bin/python bench/cycle.py [--cycles N] [--sqlite] [--live] [--symbols N] [--repeat N] [--profile FILE]

--live: the cycle as `aitrader run` does it, minus the network, with SQLite stores, in three modes measured in the
same run: snapshots precomputed (SeriesSnapshotSource: what the rest of the cycle costs), LiveSnapshotSource as
it was (every frame fetched, 500 bars, and recomputed whenever it changed) and as it is (a frame fetched once its
next bar can have closed, carried forward bar by bar by IndicatorState).
--profile FILE: cProfile the live cycles into FILE (read with `python -m pstats FILE`).
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
from core.market.snapshot import LiveSnapshotSource, SeriesSnapshotSource, _key, _ohlcv  # noqa: E402
from core.models import RuntimeState  # noqa: E402
from core.risk.guard import RiskGuard  # noqa: E402
from core.services.cycle import TradingCycle  # noqa: E402
from core.services.memory_log import MemoryDecisionLog  # noqa: E402
from core.services.memory_state import MemoryStateStore  # noqa: E402

DATA = ROOT / ".." / "shared" / "data" / "freqtrade-userdata-cyft_trader" / "original"
BASES = ("BTC", "ETH", "LTC", "SUI", "1000PEPE")
WIDE_DATA = ROOT / ".." / "shared" / "data" / "binance-perps-train" / "main"


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


async def main(
    cycles: int, sqlite: bool, live: bool, n_symbols: int | None = None, profile: str | None = None, repeat: int = 3
) -> None:
    if n_symbols is None:
        data_dir, start = DATA, datetime(2024, 1, 10, tzinfo=UTC)
        bases = BASES
    else:  # the 15 perps of binance-perps-train, all with bars from 2024-01-01 (500 1h bars by 2024-01-21)
        data_dir, start = WIDE_DATA, datetime(2024, 3, 1, tzinfo=UTC)
        bases = tuple(sorted({p.name.split("_")[0] for p in WIDE_DATA.glob("*_USDT_USDT-1h-futures.feather")}))
    end = start + timedelta(hours=cycles + 50)
    data = OfflineMarketData(data_dir)
    real = [f"{b}/USDT:USDT" for b in bases]
    t0 = time.perf_counter()
    source = SeriesSnapshotSource.from_offline(data, real, start, end, warmup_bars=300, bar_timeframes=())
    print(f"indicators precomputed for {len(real)} series in {time.perf_counter() - t0:.2f} s (not part of a cycle)")
    count = n_symbols or 2 * len(bases)
    alias = {}
    for k in range(count):  # BTC, ETH, …, then BTC2, ETH2, …
        base = bases[k % len(bases)]
        copy = k // len(bases)
        alias[f"{base}{copy + 1 if copy else ''}/USDT:USDT"] = f"{base}/USDT:USDT"
    symbols = tuple(alias)
    if live:
        for tf in ("1h", "4h", "1d"):  # reading the files once is not what a cycle costs
            for symbol in real:
                data.frame(symbol, tf)
        modes = {
            "series snapshots (precomputed; the rest of the cycle)": lambda: None,
            "live, every changed frame recomputed (the window pass)": lambda: WindowLiveSource(AliasMarketData(data, alias)),
            "live, frames carried forward (IndicatorState)": lambda: LiveSnapshotSource(AliasMarketData(data, alias)),
        }
        medians: dict[str, list[float]] = {name: [] for name in modes}
        cpu_medians: dict[str, list[float]] = {name: [] for name in modes}
        for round_ in range(repeat):
            for name, make in modes.items():
                warm, cpu = await run_mode(source, alias, symbols, start, cycles, True, True, make(), name,
                                           profile if round_ == 0 and "carried" in name else None)
                medians[name].append(statistics.median(warm))
                cpu_medians[name].append(cpu)
        print(f"\n{len(symbols)} symbols, SQLite stores, rules engine, {cycles - 5} warm cycles; median per run, "
              f"min / median of {repeat} runs:")
        for name, values in medians.items():
            print(f"  {name:<58} wall min {min(values):7.1f} ms  median {statistics.median(values):7.1f} ms;  "
                  f"CPU median {statistics.median(cpu_medians[name]):7.1f} ms")
        window, carried = (statistics.median(medians[n]) for n in list(modes)[1:])
        floor = statistics.median(medians[next(iter(modes))])
        print(f"  carried / window: {carried / window:.2f}x the time; snapshots' share of a carried cycle "
              f"≈ {max(carried - floor, 0):.1f} ms (carried − series); target {_target(len(symbols))}")
        return
    for concurrent in (True, False):
        await run_mode(source, alias, symbols, start, cycles, sqlite, concurrent)


class WindowLiveSource(LiveSnapshotSource):
    """The live source as it was before IndicatorState: every frame fetched each cycle and recomputed over its
    500-bar window whenever it changed (numpy indicators, so no pandas-ta in the comparison)."""

    def _still_current(self, symbol, timeframe, as_of_ms):
        return None

    def _quick_rows_locked(self, symbol, timeframe, frame):
        cached = self._cache.get((symbol, timeframe))
        if cached is not None and cached.key == _key(*_ohlcv(frame)):
            return cached.rows
        return None

    def _rows(self, symbol, timeframe, frame):
        rows = super()._rows(symbol, timeframe, frame)
        cached = self._cache[(symbol, timeframe)]  # no state kept: a changed frame is computed again
        self._cache[(symbol, timeframe)] = type(cached)(cached.key, cached.frame, cached.rows, None)
        return rows


async def run_mode(
    source, alias, symbols, start, cycles: int, sqlite: bool, concurrent: bool, snapshots=None, label=None,
    profile: str | None = None,
) -> None:
    limits = RiskLimits(max_open_positions=10)
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
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
    times: list[float] = []
    cpu_times: list[float] = []  # this process's CPU (all threads): less at the mercy of other processes' load
    approved = 0
    for i in range(cycles):
        as_of = start + timedelta(hours=i)
        clock.set(as_of)
        if profiler is not None and i == 5:
            profiler.enable()
        t, cpu = time.perf_counter(), time.process_time()
        summary = await cycle.run(as_of)
        times.append((time.perf_counter() - t) * 1000)
        cpu_times.append((time.process_time() - cpu) * 1000)
        approved += len(summary.approved)
        if summary.errors:
            print("errors:", summary.errors)
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    warm = sorted(times[5:])
    warm_cpu = statistics.median(cpu_times[5:])
    print(
        f"{label or ('sqlite' if sqlite else 'memory') + ' stores'}, {'gather' if concurrent else 'sequential'}: one cycle of "
        f"{len(symbols)} symbols median {statistics.median(warm):.2f} ms, min {warm[0]:.2f} ms, "
        f"p95 {warm[int(len(warm) * 0.95)]:.2f} ms, first {times[0]:.2f} ms, CPU median {warm_cpu:.2f} ms "
        f"({cycles} cycles, {approved} entries "
        f"approved; target: {_target(len(symbols))})"
    )
    if db is not None:
        await db.close()
    tmp.cleanup()
    return warm, warm_cpu


def _target(n_symbols: int) -> str:
    return "< 200 ms warm" if n_symbols <= 10 else f"median <= {max(100, n_symbols)} ms warm"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=200)
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--live", action="store_true")
    parser.add_argument("--symbols", type=int, help="N symbols from the 15 of binance-perps-train (aliased)")
    parser.add_argument("--profile", help="cProfile the cycles after the first 5 into this file")
    parser.add_argument("--repeat", type=int, default=3, help="--live: runs of each mode (min / median reported)")
    args = parser.parse_args()
    if args.cycles <= 5:
        sys.exit("error: --cycles: must be above 5 (the first 5 are warm-up)")
    if not (WIDE_DATA if args.symbols else DATA).is_dir():
        sys.exit("error: the real data of ../shared/data is missing")
    asyncio.run(main(args.cycles, args.sqlite, args.live, args.symbols, args.profile, args.repeat))
