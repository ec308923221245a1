"""Snapshot speed: cold start, the indicator pass, warm full sets (10 symbols × 1h/4h/1d, 500 bars each), replay
per call (#18 target: the warm hourly set of 10 symbols <= 20 ms).

Run: `.venv/bin/python bench/snapshot.py [--data DIR] [--rounds N]`. Uses the 5 real 1h series of
../shared/data/freqtrade-userdata-cyft_trader/original plus symlinked copies under other names to make
10 symbols (4h and 1d resampled from 1h, as `aitrader snapshot` does). The indicator pass is compared in the same
run with pandas-ta's (what the code used until #18) when pandas-ta is importable — it is no dependency any more:
`.venv/bin/python -m pip install pandas-ta` for the comparison. Prints figures; asserts nothing.

Sets: `recompute_all` every frame computed from its 500 bars (a first cycle); `hourly` the live case — one hour
later each round, a frame fetched only once its next bar can have closed and carried forward by IndicatorState;
`sequential_no_thread` the whole window pass per symbol, one after another, no event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / ".." / "shared" / "data" / "freqtrade-userdata-cyft_trader" / "original"
AS_OF = datetime(2024, 3, 1, 12, tzinfo=UTC)

COLD = """
import time, sys
t0 = time.perf_counter()
import asyncio
from datetime import datetime, UTC
from core.market.offline import OfflineMarketData
from core.market.snapshot import LiveSnapshotSource
t1 = time.perf_counter()
market = OfflineMarketData(sys.argv[1])
snap = asyncio.run(LiveSnapshotSource(market).snapshot("BTC/USDT:USDT", datetime(2024, 3, 1, 12, tzinfo=UTC)))
t2 = time.perf_counter()
print(f"{t1 - t0:.3f} {t2 - t1:.3f} {int('numba' in sys.modules)}")
"""


def cold_start(data: Path) -> tuple[float, float, float, bool]:
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", COLD, str(data)], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    wall = time.perf_counter() - started
    return wall, float(out[0]), float(out[1]), out[2] == "1"


def ten_symbol_folder(data: Path, target: Path) -> list[str]:
    from core.market.offline import OfflineMarketData

    real = OfflineMarketData(data).symbol_list()
    symbols = []
    for i in range(10):
        base_symbol = real[i % len(real)]
        stem = base_symbol.replace("/", "_").replace(":", "_")
        base, rest = stem.split("_", 1)
        name = base if i < len(real) else f"{base}X{i}"
        for suffix in ("-1h-futures.feather", "-8h-funding_rate.feather"):
            source = data / f"{stem}{suffix}"
            if source.exists():
                (target / f"{name}_{rest}{suffix}").symlink_to(source.resolve())
        quote, settle = rest.split("_")
        symbols.append(f"{name}/{quote}:{settle}")
    return symbols


async def warm_sets(folder: Path, symbols: list[str], rounds: int) -> dict[str, list[float]]:
    from core.market.offline import OfflineMarketData
    from core.market.snapshot import LiveSnapshotSource

    market = OfflineMarketData(folder)
    for symbol in symbols:  # file reading is not what we measure
        for tf in ("1h", "4h", "1d"):
            market.frame(symbol, tf)
    source = LiveSnapshotSource(market)
    await asyncio.gather(*(source.snapshot(s, AS_OF) for s in symbols))  # warm-up

    timings: dict[str, list[float]] = {"recompute_all": [], "hourly": [], "sequential_no_thread": []}
    for r in range(rounds):
        source._cache.clear()  # every frame recomputed: the worst case
        t = time.perf_counter()
        await asyncio.gather(*(source.snapshot(s, AS_OF + timedelta(hours=r)) for s in symbols))
        timings["recompute_all"].append(time.perf_counter() - t)
    source._cache.clear()
    await asyncio.gather(*(source.snapshot(s, AS_OF) for s in symbols))
    for r in range(1, rounds * 4 + 1):  # the live case: one more hour each cycle, 4h/1d reused until they roll
        t = time.perf_counter()
        await asyncio.gather(*(source.snapshot(s, AS_OF + timedelta(hours=r)) for s in symbols))
        timings["hourly"].append(time.perf_counter() - t)
    for r in range(rounds):
        t = time.perf_counter()
        for s in symbols:
            frames = [await market.candles(s, tf, until=AS_OF + timedelta(hours=r), limit=500)
                      for tf in ("1h", "4h", "1d")]
            funding = await market.funding_rates(s, since=AS_OF - timedelta(days=3), until=AS_OF)
            source._cache.clear()
            source.build(s, AS_OF + timedelta(hours=r), frames, funding)
        timings["sequential_no_thread"].append(time.perf_counter() - t)
    return timings


def indicator_pass(data: Path, rounds: int) -> dict[str, list[float]]:
    """Seconds per 500-bar frame of the numpy indicators, per bar carried forward, and (when importable) of
    pandas-ta's calls."""
    from core.market.indicator_state import IndicatorState
    from core.market.indicators import compute_indicators
    from core.market.offline import OfflineMarketData
    from core.market.timeframes import index_ms

    series = OfflineMarketData(data).frame("BTC/USDT:USDT", "1h")
    frame = series.iloc[-2000:-1500]
    after = series.iloc[-1500:]
    new_bars = list(zip(index_ms(after).tolist(), *(after[c].tolist() for c in ("open", "high", "low", "close", "volume")),
                        strict=True))
    state = IndicatorState.start(compute_indicators(frame, "1h"), 64)
    assert state is not None
    feed = iter(new_bars)
    passes = {
        "numpy (compute_indicators, every column)": lambda: compute_indicators(frame, "1h"),
        "one more bar carried forward (IndicatorState.extend)": lambda: state.extend([next(feed)]),
    }
    try:
        from tests.core.market.reference.record_pandas_ta import pandas_ta_columns
    except ImportError:
        pass
    else:
        passes["pandas-ta (its 8 indicator calls only)"] = lambda: pandas_ta_columns(frame)
    out: dict[str, list[float]] = {}
    for name, run in passes.items():
        run()
        out[name] = []
        for _ in range(rounds):
            t = time.perf_counter()
            for _ in range(20):
                run()
            out[name].append((time.perf_counter() - t) / 20)
    return out


def series_per_call(data: Path) -> tuple[float, float, int]:
    from core.market.offline import OfflineMarketData
    from core.market.snapshot import SeriesSnapshotSource

    market = OfflineMarketData(data)
    start, end = datetime(2023, 2, 1, tzinfo=UTC), datetime(2024, 5, 14, tzinfo=UTC)
    t = time.perf_counter()
    source = SeriesSnapshotSource.from_offline(market, ["BTC/USDT:USDT", "ETH/USDT:USDT"], start, end)
    build = time.perf_counter() - t
    hours = int((end - start).total_seconds() // 3600)
    moments = [start + timedelta(hours=h) for h in range(hours)]
    t = time.perf_counter()
    calls = 0
    for moment in moments:
        source.snapshot_sync("BTC/USDT:USDT", moment)
        source.snapshot_sync("ETH/USDT:USDT", moment)
        calls += 2
    return build, (time.perf_counter() - t) / calls, calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    if not args.data.is_dir():
        sys.exit(f"error: --data: {args.data} does not exist (needs the real data of ../shared/data)")
    sys.path.insert(0, str(ROOT))

    starts = [cold_start(args.data) for _ in range(3)]
    for wall, imports, first, numba in starts:
        print(f"cold start (subprocess): {wall * 1000:.0f} ms wall = interpreter + imports {imports * 1000:.0f} ms "
              f"+ first snapshot {first * 1000:.0f} ms (incl. reading files); numba imported: {numba}")
    walls = [s[0] for s in starts]
    print(f"  cold start wall min {min(walls) * 1000:.0f} ms, median {statistics.median(walls) * 1000:.0f} ms (3 runs)")

    passes = indicator_pass(args.data, 3)
    for name, values in passes.items():
        print(f"indicator pass, 500 bars, {name}: min {min(values) * 1e6:.0f} µs, "
              f"median {statistics.median(values) * 1e6:.0f} µs (3 rounds of 20)")
    numpy_pass, carried = (statistics.median(v) for v in list(passes.values())[:2])
    print(f"  the window pass / one carried bar: {numpy_pass / carried:.0f}x")
    if len(passes) == 3:
        ta_pass = statistics.median(list(passes.values())[2])
        print(f"  pandas-ta / numpy: {ta_pass / numpy_pass:.1f}x")
    else:
        print("  (pandas-ta not installed: no same-run comparison)")

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        symbols = ten_symbol_folder(args.data, folder)
        timings = asyncio.run(warm_sets(folder, symbols, args.rounds))
    print(f"warm full snapshot set, {len(symbols)} symbols × 1h/4h/1d × 500 bars:")
    for name, values in timings.items():
        print(f"  {name:<22} median {statistics.median(values) * 1000:7.1f} ms   "
              f"min {min(values) * 1000:7.1f} ms   max {max(values) * 1000:7.1f} ms   (n={len(values)})")

    build, per_call, calls = series_per_call(args.data)
    print(f"SeriesSnapshotSource: build 2 symbols × full history {build * 1000:.0f} ms; "
          f"snapshot() {per_call * 1e6:.1f} µs per call over {calls} calls")


if __name__ == "__main__":
    main()
