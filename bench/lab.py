"""The evaluation lab's overhead: a sweep's cost per symbol-bar against one plain replay, and its speed-up
with 2 worker processes against 1.

1. one replay in this process (rules engine, the live cycle, 5m intrabar), timed with and without building
   the indicators (SeriesSnapshotSource), as the baseline cost per symbol-bar;
2. `aitrader sweep` (bot.commands.sweep_cmd.run_sweep, the command's own code) of a grid over the same
   window with 1 worker: wall time per cell-symbol-bar, including worker start-up, pickling the cells and
   writing the cell files — the lab's overhead is its ratio to (1);
3. the same sweep with 2 workers (a fresh output folder, so nothing is reused): the speed-up.
4. `aitrader compare` when this tree has it (bot.commands.compare_cmd), per entry-symbol-bar.

The machine is shared: the load average is printed beside the figures; read the speed-up with it.

Usage: .venv/bin/python bench/lab.py [--data DIR] [--cells N] [--days D]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.evaluation.overrides import parse_grid  # noqa: E402
from rich.console import Console  # noqa: E402

from bot.commands.sweep_cmd import run_sweep  # noqa: E402
from core.decide.rules import RulesEngine  # noqa: E402
from core.evaluation.replay import INTRABAR_TIMEFRAMES, WARMUP_BARS, ReplaySpec, plan_steps, run_replay_cycle  # noqa: E402
from core.market.offline import OfflineMarketData  # noqa: E402
from core.market.snapshot import SeriesSnapshotSource  # noqa: E402
from core.market.timeframes import from_ms  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "freqtrade-userdata-cyft_trader" / "original"
SYMBOLS = ("BTC/USDT:USDT", "ETH/USDT:USDT")
START = datetime(2023, 1, 15, tzinfo=UTC)
GRIDS = {  # N cells over one window: settings that change the trades
    1: ["min_confidence=0.6"],
    4: ["min_confidence=0.6,0.7", "risk_per_trade_pct=1,1.5"],
    6: ["min_confidence=0.6,0.65,0.7", "risk_per_trade_pct=1,1.5"],
    9: ["min_confidence=0.55,0.6,0.7", "risk_per_trade_pct=1,1.5,2"],
}


def replay_once(market: OfflineMarketData, spec: ReplaySpec) -> tuple[float, float, int]:
    """(seconds with indicators, seconds of the replay alone, symbol-bars)."""
    started = time.perf_counter()
    steps = plan_steps(market, spec)
    source = SeriesSnapshotSource.from_offline(market, spec.symbols, from_ms(int(steps[0])), from_ms(int(steps[-1])),
                                               warmup_bars=WARMUP_BARS, bar_timeframes=INTRABAR_TIMEFRAMES)
    built = time.perf_counter()
    result = asyncio.run(run_replay_cycle(market, spec, RulesEngine(), source=source))
    done = time.perf_counter()
    return done - started, done - built, len(result.step_ms) * len(spec.symbols)


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
    market = OfflineMarketData(args.data)
    spec = ReplaySpec(symbols=SYMBOLS, start=START, end=end, engine="rules")
    replay_once(market, spec)  # warm-up: imports, file caches
    with_ind, bare, symbol_bars = replay_once(market, spec)
    print(f"window {START:%Y-%m-%d} → {end:%Y-%m-%d}, {', '.join(SYMBOLS)}: {symbol_bars:,} symbol-bars per replay")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"single replay:        {with_ind:6.2f} s with indicators ({symbol_bars / with_ind:,.0f} symbol-bars/s), "
          f"{bare:6.2f} s replay alone ({symbol_bars / bare:,.0f} symbol-bars/s)")

    grid = GRIDS[args.cells]
    cell_bars = symbol_bars * args.cells
    one = sweep_once(args.data, end, grid, workers=1)
    per_bar_one = one / cell_bars
    print(f"sweep, {args.cells} cells, 1 worker:  {one:6.2f} s = {per_bar_one * 1e6:,.1f} µs per cell-symbol-bar "
          f"({per_bar_one / (with_ind / symbol_bars):.2f}× a replay with indicators, "
          f"{per_bar_one / (bare / symbol_bars):.2f}× the replay alone)")
    single = sweep_once(args.data, end, GRIDS[1], workers=1)
    marginal = (one - single) / (args.cells - 1)
    print(f"  of which fixed (a 1-cell sweep minus a replay): {single - with_ind:5.2f} s — worker start-up, imports; "
          f"each further cell {marginal:5.2f} s = {marginal / bare:.2f}× the replay alone "
          f"(indicators reused within a window)")
    two = sweep_once(args.data, end, grid, workers=2)
    print(f"sweep, {args.cells} cells, 2 workers: {two:6.2f} s: speed-up {one / two:.2f}× over 1 worker "
          f"(load average now {os.getloadavg()[0]:.2f})")

    try:
        import bot.commands.compare_cmd  # noqa: F401
    except ImportError:
        print("compare: not in this tree (bot.commands.compare_cmd missing), not measured")


if __name__ == "__main__":
    main()
