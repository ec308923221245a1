"""Replay cost as symbols are added, and peak memory: the same 12 months at 4, 5 and 64 symbols.

A folder of links to the real BTC and ETH perp files (1h, 5m, funding, mark; ../shared/data, cyft_trader) under
64 names (S01 → BTC's files, S02 → ETH's, …) gives 64 symbols with real bars and 5m intrabar fills; with
`--hourly` the 5m files are left out, so every symbol resolves on 1h. Each replay runs in a fresh process
(the rules engine through the live cycle, 2023-05-01 → 2024-05-01, data loaded and indicators computed
before the clock starts; drawdown kill-switch and daily breaker out of reach, so every symbol-bar is
decided) and reports the CPU seconds of the replay loop per symbol-bar and the process's
peak RSS. Min / median of `--repeat` runs; the machine is shared, so CPU seconds, not wall.

Targets (#18): cost per symbol-bar at 64 symbols within 1.1× of the cost at 5; peak RSS of the 64-symbol
replay ≤ 600 MiB and of the 4-symbol one ≤ 250 MiB (with 5m intrabar; the 5m bars wait in a temporary
file, `core.evaluation.bar_spill`, so the peak is what the process holds, not the 64 × 105 k bars).

Usage: .venv/bin/python bench/replay_scale.py [--repeat N] [--hourly] [--sizes 4,5,64]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "freqtrade-userdata-cyft_trader" / "original"
START, END = "2023-05-01", "2024-05-01"
# the drawdown kill-switch and the daily breaker out of reach: every symbol-bar goes through engine and guard (a
# paused one costs far less, and how much of a run pauses depends on how many correlated copies it holds)
LIMITS = {"max_drawdown_pct": 100.0, "daily_loss_limit_pct": 100.0}
PEAK_TARGETS_MIB = {4: 250, 64: 600}

CHILD = """
import asyncio, json, resource, sys, time
from datetime import datetime, UTC
from core.config import RiskLimits
from core.decide.rules import RulesEngine
from core.evaluation.replay import WARMUP_BARS, ReplaySpec, plan_steps, run_replay_cycle
from core.market.offline import OfflineMarketData
from core.market.snapshot import SeriesSnapshotSource
from core.market.timeframes import from_ms

folder, n = sys.argv[1], int(sys.argv[2])
symbols = tuple(f"S{i:02d}/USDT:USDT" for i in range(1, n + 1))
market = OfflineMarketData(folder)
spec = ReplaySpec(symbols=symbols, start=datetime.fromisoformat(sys.argv[3]).replace(tzinfo=UTC),
                  end=datetime.fromisoformat(sys.argv[4]).replace(tzinfo=UTC), engine="rules",
                  limits=RiskLimits(**json.loads(sys.argv[5])))
steps = plan_steps(market, spec)
source = SeriesSnapshotSource.from_offline(market, symbols, from_ms(int(steps[0])), from_ms(int(steps[-1])),
                                           warmup_bars=WARMUP_BARS, bar_timeframes=())
cpu = time.process_time()
result = asyncio.run(run_replay_cycle(market, spec, RulesEngine(), source=source))
cpu = time.process_time() - cpu
print(json.dumps({"cpu": cpu, "symbol_bars": len(result.step_ms) * n, "paused": result.guard_reasons.get("paused", 0),
                  "intrabar": sorted(set(result.intrabar_ms.values())),
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def folder(out: Path, hourly: bool) -> Path:
    kinds = ("1h-futures", "8h-funding_rate", "8h-mark") + (() if hourly else ("5m-futures",))
    for i in range(1, 65):
        source = "BTC" if i % 2 else "ETH"
        for kind in kinds:
            (out / f"S{i:02d}_USDT_USDT-{kind}.feather").symlink_to(DATA / f"{source}_USDT_USDT-{kind}.feather")
    return out


def run(data: Path, n: int) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, str(data), str(n), START, END, json.dumps(LIMITS)], capture_output=True,
                          text=True, cwd=ROOT, check=False)
    if done.returncode:
        sys.exit(f"replay of {n} symbols failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--hourly", action="store_true", help="no 5m files: every symbol on 1h bars")
    parser.add_argument("--sizes", default="4,5,64")
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"data folder {DATA} not found (expected ../shared/data next to the repo)")
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; {START} → {END}, "
          f"{'1h' if args.hourly else '5m'} intrabar")
    costs: dict[int, list[float]] = {}
    peak_by_size: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = folder(Path(tmp), args.hourly)
        for n in sizes:
            runs = [run(data, n) for _ in range(args.repeat)]
            costs[n] = [r["cpu"] / r["symbol_bars"] * 1e6 for r in runs]
            peaks = [r["peak_mib"] for r in runs]
            peak_by_size[n] = statistics.median(peaks)
            print(f"{n:>3} symbols: {runs[0]['symbol_bars']:,} symbol-bars ({runs[0]['paused']:,} paused), "
                  f"{min(costs[n]):.1f} / {statistics.median(costs[n]):.1f} µs CPU per symbol-bar (min / median), "
                  f"peak RSS {min(peaks):.0f} / {statistics.median(peaks):.0f} MiB, intrabar "
                  f"{[ms // 60_000 for ms in runs[0]['intrabar']]} min")
    for n, limit in PEAK_TARGETS_MIB.items():
        if n in peak_by_size:
            print(f"peak RSS at {n} symbols: {peak_by_size[n]:.0f} MiB (median) — target ≤ {limit}: "
                  f"{'met' if peak_by_size[n] <= limit else 'NOT met'}")
    if 5 in costs and 64 in costs:
        ratio = statistics.median(costs[64]) / statistics.median(costs[5])
        print(f"cost per symbol-bar at 64 / at 5 symbols: {ratio:.2f} (median) — target ≤ 1.1: "
              f"{'met' if ratio <= 1.1 else 'NOT met'}")


if __name__ == "__main__":
    main()
