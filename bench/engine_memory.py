"""What keeping the trend engine's memory costs the live bot per cycle, and the first-start warm-up.

    .venv/bin/python bench/engine_memory.py [--symbols N] [--days D] [--data DIR]

Memory: N symbols with D days of 8 h funding samples (random, the size is what counts) saved through the
MemoryKeeper into a real SQLite state store — the stored size, one save after a change (JSON + write), one
after an unchanged cycle (the comparison only), one restore. Warm-up: the 90-day funding warm-up of the five
majors from the offline Binance files in ../shared/data (CPU seconds; a live start reads the same from the
exchange, one request per symbol).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.clock import SimulatedClock  # noqa: E402
from core.decide.trend import TrendEngine, TrendParams  # noqa: E402
from core.market.offline import OfflineMarketData  # noqa: E402
from core.services.engine_memory import MemoryKeeper  # noqa: E402
from core.services.funding_warmup import FUNDING_WARMUP, warm_up_funding  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.state_repo import SqliteStateStore  # noqa: E402

PARAMS = TrendParams(signal="tsmom", allow_shorts=True, funding_veto_quantile=0.9)
MAJORS = ("BTC/USDT:USDT", "ETH/USDT:USDT", "XRP/USDT:USDT", "LTC/USDT:USDT", "ADA/USDT:USDT")
NOW = datetime(2024, 5, 1, tzinfo=UTC)


async def memory_cost(symbols: int, days: int) -> None:
    rng = random.Random(7)
    engine = TrendEngine(PARAMS)
    for i in range(symbols):
        for _ in range(days * 3):
            engine.observe_funding(f"S{i}/USDT:USDT", rng.gauss(1e-4, 1e-4))
    with tempfile.TemporaryDirectory() as folder:
        db = await Database(Path(folder) / "bench.sqlite").connect()
        try:
            store = SqliteStateStore(db)
            keeper = MemoryKeeper(engine, store, SimulatedClock(NOW))
            started = time.perf_counter()
            await keeper.save(NOW)
            changed = time.perf_counter() - started
            started = time.perf_counter()
            for _ in range(100):
                await keeper.save(NOW)
            unchanged = (time.perf_counter() - started) / 100
            raw = await store.get_value("engine_memory") or ""
            started = time.perf_counter()
            await MemoryKeeper(TrendEngine(PARAMS), store, SimulatedClock(NOW)).restore()
            restore = time.perf_counter() - started
        finally:
            await db.close()
    print(f"memory of {symbols} symbols x {days * 3} samples: stored {len(raw) / 1e3:,.0f} kB; save after a change "
          f"{changed * 1e3:.1f} ms, after an unchanged cycle {unchanged * 1e3:.3f} ms; restore {restore * 1e3:.1f} ms")


async def warm_up_cost(data: Path) -> None:
    engine = TrendEngine(PARAMS)
    market = OfflineMarketData(data)
    started = time.process_time()
    await warm_up_funding([(engine, NOW - FUNDING_WARMUP)], market, MAJORS, NOW)
    cpu = time.process_time() - started
    print(f"warm-up of {FUNDING_WARMUP.days} days before {NOW:%Y-%m-%d}, five majors: {cpu:.2f} CPU-s; "
          f"{engine.memory_summary()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=10)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--data", type=Path, default=ROOT / ".." / "shared" / "data" / "binance-perps-train" / "main")
    args = parser.parse_args()
    asyncio.run(memory_cost(args.symbols, args.days))
    if args.data.is_dir():
        asyncio.run(warm_up_cost(args.data))
    else:
        print(f"warm-up: skipped, no offline data at {args.data}")


if __name__ == "__main__":
    main()
