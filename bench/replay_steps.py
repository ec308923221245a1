"""Where the CPU seconds of one `aitrader replay` go: the README replay run in this process as the CLI runs it,
with each step timed (process CPU time; the steps run one after another, the writers in a worker thread).

Usage: .venv/bin/python bench/replay_steps.py [--data DIR] [--out DIR]
(`bench/replay.py --whole-process` runs it after its ratios.) Figures are CPU seconds of this one run.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

T0 = time.process_time()
ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "freqtrade-userdata-cyft_trader" / "original"
STEPS: dict[str, float] = {}


def _add(label: str, seconds: float) -> None:
    STEPS[label] = STEPS.get(label, 0.0) + seconds


def _timed_import(label: str, *modules: str) -> None:
    start = time.process_time()
    for name in modules:
        importlib.import_module(name)
    _add(label, time.process_time() - start)


def _wrap(owner: Any, name: str, label: str) -> None:
    fn: Callable[..., Any] = getattr(owner, name)
    if getattr(fn, "__code__", None) and fn.__code__.co_flags & 0x80:  # a coroutine function
        @functools.wraps(fn)
        async def timed_async(*args: Any, **kwargs: Any) -> Any:
            start = time.process_time()
            try:
                return await fn(*args, **kwargs)
            finally:
                _add(label, time.process_time() - start)

        setattr(owner, name, timed_async)
        return

    @functools.wraps(fn)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            _add(label, time.process_time() - start)

    setattr(owner, name, timed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if not args.data.is_dir():
        sys.exit(f"data folder {args.data} not found (expected ../shared/data next to the repo)")
    sys.path.insert(0, str(ROOT))
    _timed_import("import pandas (numpy, pyarrow)", "pandas")
    _timed_import("import the CLI, settings, the replay and its modules (no matplotlib)", "bot.cli", "bot.wiring",
                  "bot.commands.replay_cmd", "bot.commands.replay_folder", "core.evaluation.replay",
                  "core.evaluation.report", "bot.reports.report_chart", "bot.reports.tearsheet", "bot.leaderboard")
    # imported here to count it apart; the command imports it on its first picture
    _timed_import("import matplotlib (Figure, Agg; report.png imports it when it draws)", "matplotlib.figure",
                  "matplotlib.backends.backend_agg")
    import bot.commands.replay_folder as folder
    import bot.reports.report_chart as chart
    import bot.reports.tearsheet as tearsheet
    import core.evaluation.replay as replay
    import core.evaluation.report as report
    import core.services.cycle as cycle
    from bot.cli import main as cli

    _wrap(cycle.TradingCycle, "run", "replay loop: the cycle of every bar (in-process figure's bulk)")
    _wrap(replay, "standard_baselines", "replay: buy-and-hold and flat baselines")
    _wrap(replay, "intrabar_bars", "loading: intrabar (5m) bars")
    _wrap(replay, "plan_steps", "loading: base bars, window")
    _wrap(report, "write_report", "report.json, trades.csv, equity.csv")
    _wrap(report, "build_report", "build_report (metrics, breakdowns)")
    _wrap(chart, "render_report_chart", "report.png")
    _wrap(tearsheet, "render_tearsheet", "tearsheet.html")
    _wrap(folder, "run_json", "run.json (file hashes, settings)")
    _wrap(folder, "record_result", "leaderboard record (SQLite)")
    started = time.process_time()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp) / "out"
        sys.argv = ["aitrader", "replay", "--data", str(args.data), "--symbols", "BTC/USDT:USDT,ETH/USDT:USDT",
                    "--start", "2023-01-15T00:00:00Z", "--end", "2024-05-14T00:00:00Z", "--engine", "rules",
                    "--out", str(out)]
        try:
            cli()
        except SystemExit as done:
            if done.code:
                sys.exit(f"aitrader replay exited {done.code}")
    command = time.process_time() - started
    total = time.process_time() - T0
    counted = sum(v for k, v in STEPS.items() if not k.startswith("import"))  # the imports ran before `started`
    print("CPU seconds of one `aitrader replay` (README window), by step:", file=sys.stderr)
    for label, seconds in STEPS.items():
        print(f"  {seconds:6.3f}  {label}", file=sys.stderr)
    print(f"  {command - counted:6.3f}  the rest of the command (loading and indicators, CLI, event loop, output)",
          file=sys.stderr)
    print(f"  {total:6.3f}  in all (this process, after the interpreter started)", file=sys.stderr)
    # #18's whole-process target, read on this one run: everything beyond `import pandas` and the loop may take at
    # most half of those two; the pictures' share of that allowance is what decides whether it can be met
    pandas, loop = STEPS["import pandas (numpy, pyarrow)"], STEPS["replay loop: the cycle of every bar (in-process figure's bulk)"]
    pictures = sum(v for k, v in STEPS.items() if "matplotlib" in k or k in ("report.png", "tearsheet.html"))
    print(f"CPU seconds beyond import pandas and the loop: {total - pandas - loop:.3f}; #18's ≤ 1.5× allows "
          f"{0.5 * (pandas + loop):.3f}; of it matplotlib's import and the two pictures take {pictures:.3f} "
          f"(this run's ratio {total / (pandas + loop):.2f}×, without the pictures "
          f"{(total - pictures) / (pandas + loop):.2f}×)", file=sys.stderr)


if __name__ == "__main__":
    main()
