"""The evaluation lab's overhead: a sweep's cost per symbol-bar against one plain replay, and its speed-up
with 2 worker processes against 1.

1. the grid's settings as separate replays one after another in this process (rules engine, the live
   cycle, 5m intrabar, each building its indicators, each with its report): what a sweep replaces;
2. `aitrader sweep` (bot.commands.sweep_cmd.run_sweep, the command's own code) of that grid with 1 worker:
   wall time per cell-symbol-bar, including worker start-up, pickling the cells, writing the cell files and
   the leaderboard — the lab's overhead is its ratio to (1);
3. the same sweep with 2 workers (a fresh output folder, so nothing is reused): the speed-up.
4. `aitrader compare` of 3 rules entries against the 3 `aitrader replay` runs it replaces (both write their
   folders: report, trades, equity, report.png, tearsheet.html, run.json), per entry-symbol-bar.

The machine is shared: the load average is printed beside the figures; read the speed-up with it.

Usage: .venv/bin/python bench/lab.py [--data DIR] [--cells N] [--days D]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import itertools
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402

from bot.commands.sweep_cmd import run_sweep  # noqa: E402
from core.evaluation.report import build_report  # noqa: E402
from core.evaluation.sweep import parse_grid  # noqa: E402
from core.market.offline import OfflineMarketData  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "freqtrade-userdata-cyft_trader" / "original"
SYMBOLS = ("BTC/USDT:USDT", "ETH/USDT:USDT")
START = datetime(2023, 1, 15, tzinfo=UTC)
GRIDS = {  # N cells over one window: settings that change the trades
    1: ["min_confidence=0.6"],
    4: ["min_confidence=0.6,0.7", "risk_per_trade_pct=1,1.5"],
    6: ["min_confidence=0.6,0.65,0.7", "risk_per_trade_pct=1,1.5"],
    9: ["min_confidence=0.55,0.6,0.7", "risk_per_trade_pct=1,1.5,2"],
}


def replays_one_by_one(data: Path, end: datetime, grid: list[str]) -> tuple[float, int]:
    """What the sweep replaces: each cell's settings as its own replay through the factory, in this process,
    each building its indicators. (seconds, symbol-bars of one replay)"""
    from bot.wiring import CycleFactory, EngineEntry

    factory = CycleFactory.from_environment()
    market = OfflineMarketData(data)
    cells = parse_grid(grid)
    keys = sorted(cells)
    combos = list(itertools.product(*(cells[k] for k in keys)))
    started = time.perf_counter()
    bars = 0
    for combo in combos:
        entry = EngineEntry("bench", "rules", tuple(zip(keys, combo, strict=True)))
        result = asyncio.run(factory.replay(market, entry, SYMBOLS, START, end, 10_000.0))
        build_report(result)
        bars = len(result.step_ms) * len(SYMBOLS)
    return time.perf_counter() - started, bars


def compare_against_replays(data: Path, end: datetime, values: tuple[str, ...]) -> tuple[float, float]:
    """(seconds of N `aitrader replay` runs, each with its folder, one per MIN_CONFIDENCE value; seconds of one
    `aitrader compare` of the same N entries) — both the commands' own functions, in this process."""
    from bot.commands.compare_cmd import run_compare
    from bot.commands.replay_cmd import run_replay
    from bot.wiring import apply_sets, parse_engines

    with tempfile.TemporaryDirectory(prefix="bench-lab-") as folder, contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        out = Path(folder)
        started = time.perf_counter()
        for i, value in enumerate(values):
            os.environ["MIN_CONFIDENCE"] = value
            try:
                asyncio.run(run_replay(data, SYMBOLS, START, end, "rules", out / f"replay-{i}", 10_000.0))
            finally:
                del os.environ["MIN_CONFIDENCE"]
        replays = time.perf_counter() - started
        entries = apply_sets(parse_engines(",".join(f"e{i}=rules" for i in range(len(values)))),
                             [f"e{i}:MIN_CONFIDENCE={v}" for i, v in enumerate(values)])
        started = time.perf_counter()
        asyncio.run(run_compare(data, SYMBOLS, START, end, entries, out / "compare", 10_000.0))
        compare = time.perf_counter() - started
    return replays, compare


def sweep_once(data: Path, end: datetime, grid: list[str], workers: int) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-lab-") as folder:
        console = Console(file=io.StringIO())
        started = time.perf_counter()
        code = run_sweep(data=data, symbols=SYMBOLS, start=START, end=end, engine="rules", grid=parse_grid(grid),
                         out=Path(folder), workers=workers, console=console, report=console)
        elapsed = time.perf_counter() - started
        if code != 0:
            raise SystemExit(f"sweep failed: {console.file.getvalue()}")  # type: ignore[attr-defined]
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--cells", type=int, default=4, choices=sorted(set(GRIDS) - {1}))
    parser.add_argument("--days", type=int, default=120, help="window length")
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"error: --data: {args.data} is not a folder")
    end = START + timedelta(days=args.days)
    grid = GRIDS[args.cells]
    args.data = args.data.resolve()
    workdir = tempfile.TemporaryDirectory(prefix="bench-lab-cwd-")
    os.chdir(workdir.name)  # the leaderboard's SQLite file (./data/) and any .env stay out of the checkout
    replays_one_by_one(args.data, end, GRIDS[1])  # warm-up: imports, file caches
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    single, symbol_bars = replays_one_by_one(args.data, end, grid)
    total_bars = symbol_bars * args.cells
    print(f"window {START:%Y-%m-%d} → {end:%Y-%m-%d}, {', '.join(SYMBOLS)}: {symbol_bars:,} symbol-bars per replay, "
          f"{args.cells} settings")
    print(f"{args.cells} replays one by one (in process, each building its indicators): {single:6.2f} s = "
          f"{single / total_bars * 1e6:,.1f} µs per symbol-bar")
    one = sweep_once(args.data, end, grid, workers=1)
    print(f"sweep, 1 worker process:  {one:6.2f} s = {one / total_bars * 1e6:,.1f} µs per cell-symbol-bar: "
          f"{one / single:.2f}× the replays one by one (worker start-up, cells pickled, cell files written; "
          f"indicators built once per window)")
    two = sweep_once(args.data, end, grid, workers=2)
    print(f"sweep, 2 worker processes: {two:6.2f} s: speed-up {one / two:.2f}× over 1 worker "
          f"(load average now {os.getloadavg()[0]:.2f})")

    values = ("0.55", "0.6", "0.7")
    replays, compare = compare_against_replays(args.data, end, values)
    print(f"compare of {len(values)} rules entries (--set MIN_CONFIDENCE) against {len(values)} replay commands, each "
          f"writing its folder: {compare:6.2f} s vs {replays:6.2f} s = {compare / replays:.2f}× "
          f"({compare / (symbol_bars * len(values)) * 1e6:,.1f} vs {replays / (symbol_bars * len(values)) * 1e6:,.1f} "
          "µs per entry-symbol-bar)")


if __name__ == "__main__":
    main()
