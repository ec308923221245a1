"""Replay speed as ratios against peers measured in the same run, so the figures hold on any machine.

1. ours, in-process: the live TradingCycle, RiskGuard and PaperBroker (5m intrabar fills, funding,
   isolated-margin liquidation, every guard rule) with the rules engine over every hourly close of BTC and
   ETH, 2023-01-15 → 2024-05-14 (the README replay), data (5m bars too) and indicators loaded before the clock starts;
   with the kill-switch out of reach, so every symbol-bar goes through engine and guard (and once with the
   default limits, where the kill-switch may pause);
2. backtesting.py (`backtesting` package): a bare EMA 20/50 cross on the same 1h bars, one Backtest per symbol
   (it models no funding, liquidation, guard or intrabar resolution);
3. freqtrade 2026.9 in a virtualenv of its own (bench/freqtrade_peer.py): futures, isolated margin, EMA 20/50
   cross long and short with a stop, 5m detail bars, on the same feather files — its `Backtesting.backtest`
   loop, indicators apart as ours;
4. with `--whole-process`: `aitrader replay` as a user runs it (import, load, replay, report files,
   report.png, tearsheet, run.json) against `python -c "import pandas"` plus the in-process replay of (1), in
   CPU seconds of the child processes, both from cached bytecode (after one untimed round); then
   bench/replay_steps.py prints where one such run's CPU seconds go, step by step.

Each figure is the min and median of `--repeat` runs (3); the machine is shared, so CPU seconds are printed
beside wall seconds and the ratios use CPU seconds (both processes are single-threaded loops).
Targets (#18): ours ≥ 3× freqtrade and ≥ 0.5× backtesting.py; whole process ≤ 1.5× (import pandas + replay).

Usage: .venv/bin/python bench/replay.py [--data DIR] [--repeat N] [--no-freqtrade] [--whole-process] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.settings import load_settings  # noqa: E402
from core.decide.rules import RulesEngine  # noqa: E402
from core.evaluation.bar_spill import BarSpill  # noqa: E402
from core.evaluation.feed import SymbolBars  # noqa: E402
from core.evaluation.replay import WARMUP_BARS, ReplaySpec, plan_steps, replay_bars, run_replay_cycle  # noqa: E402
from core.market.offline import OfflineMarketData  # noqa: E402
from core.market.snapshot import SeriesSnapshotSource  # noqa: E402
from core.market.timeframes import from_ms  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "freqtrade-userdata-cyft_trader" / "original"
SYMBOLS = ("BTC/USDT:USDT", "ETH/USDT:USDT")
START = datetime(2023, 1, 15, tzinfo=UTC)
END = datetime(2024, 5, 14, tzinfo=UTC)

Timing = tuple[float, float]  # (wall seconds, CPU seconds)


def timed(work: Callable[[], object]) -> tuple[Timing, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = work()
    return (time.perf_counter() - wall, time.process_time() - cpu), out


def spread(values: list[float]) -> str:
    return f"min {min(values):.2f} / median {statistics.median(values):.2f}"


def build_source(market: OfflineMarketData, spec: ReplaySpec) -> tuple[SeriesSnapshotSource, list[SymbolBars]]:
    """The snapshot series (indicators) and the broker's bars (5m intrabar included): the data a replay reads,
    loaded before the clock starts, as backtesting.py and freqtrade get theirs."""
    steps = plan_steps(market, spec)
    source = SeriesSnapshotSource.from_offline(
        market, spec.symbols, from_ms(int(steps[0])), from_ms(int(steps[-1])), warmup_bars=WARMUP_BARS,
        bar_timeframes=(),
    )
    # as `aitrader replay` holds them: the 5m OHLC in a temporary file, read a chunk at a time during the run
    return source, replay_bars(market, spec, source, (int(steps[0]), int(steps[-1])), BarSpill())


def ours(market: OfflineMarketData, spec: ReplaySpec, data: tuple[SeriesSnapshotSource, list[SymbolBars]],
         profile: bool) -> tuple[Timing, object]:
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    source, bars = data
    timing, result = timed(lambda: asyncio.run(run_replay_cycle(market, spec, RulesEngine(), source=source, bars=bars)))
    if profiler:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(18)
    return timing, result


def backtesting_py(market: OfflineMarketData) -> tuple[Timing, int]:
    """backtesting.py EMA 20/50 cross over the same 1h bars: ((wall, cpu) seconds, bars)."""
    import pandas as pd
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover

    def ema(values: object, n: int) -> object:
        return pd.Series(values).ewm(span=n, adjust=False).mean().to_numpy()

    class EmaCross(Strategy):
        def init(self) -> None:
            self.fast = self.I(ema, self.data.Close, 20)
            self.slow = self.I(ema, self.data.Close, 50)

        def next(self) -> None:
            if crossover(self.fast, self.slow):
                self.position.close()
                self.buy()
            elif crossover(self.slow, self.fast):
                self.position.close()
                self.sell()

    frames = []
    for symbol in SYMBOLS:
        frame = market.frame(symbol, "1h")
        frame = frame[(frame.index >= START) & (frame.index < END)].rename(columns=str.capitalize)
        frame.index = frame.index.tz_localize(None)
        frames.append(frame)
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):  # its tqdm progress bar
        warnings.simplefilter("ignore")
        Backtest(frames[0].iloc[:300], EmaCross, cash=10_000_000, commission=0.0005).run()  # warm-up

        def run_all() -> None:
            for frame in frames:
                Backtest(frame, EmaCross, cash=10_000_000, commission=0.0005, finalize_trades=True).run()

        timing, _ = timed(run_all)
    return timing, sum(len(f) for f in frames)


def child_cpu(command: list[str], **kw: object) -> float:
    """CPU seconds (user + system) of one child process run to its end."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, check=True, capture_output=True, **kw)  # type: ignore[call-overload]
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


WORK = Path(tempfile.mkdtemp(prefix="bench-replay-"))


def whole_process_env() -> dict[str, str]:
    """As on a user's machine, the project's modules run from cached bytecode (an environment with
    PYTHONDONTWRITEBYTECODE would compile them on every start); the untimed first round writes the cache."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return env | {"DATABASE_PATH": str(WORK / "bench.sqlite"), "PYTHONPYCACHEPREFIX": str(WORK / "pycache")}


def whole_process(data: Path, repeat: int) -> tuple[list[float], list[float]]:
    """(CPU seconds of `aitrader replay` …, of `python -c "import pandas"`), `repeat` each."""
    exe = Path(sys.executable)
    replay_cmd = [str(exe.with_name("aitrader")), "replay", "--data", str(data), "--symbols", ",".join(SYMBOLS),
                  "--start", START.strftime("%Y-%m-%dT%H:%M:%SZ"), "--end", END.strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "--engine", "rules"]
    env = whole_process_env()
    full, pandas = [], []
    for k in range(repeat + 1):
        with tempfile.TemporaryDirectory() as out:
            replay = child_cpu([*replay_cmd, "--out", out], env=env, cwd=out)
        imports = child_cpu([str(exe), "-c", "import pandas"], env=env)
        if k:
            full.append(replay)
            pandas.append(imports)
    return full, pandas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-freqtrade", action="store_true", help="leave freqtrade out (no virtualenv made)")
    parser.add_argument("--whole-process", action="store_true", help="also time `aitrader replay` end to end")
    parser.add_argument("--profile", action="store_true", help="print the cProfile top functions of one replay")
    args = parser.parse_args()
    if not args.data.is_dir():
        sys.exit(f"data folder {args.data} not found (expected ../shared/data next to the repo)")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (a shared machine: read the CPU-second ratios)")

    market = OfflineMarketData(args.data)
    settings = load_settings(env_file=None)  # the defaults `aitrader replay` uses without a .env
    limits, costs = settings.risk_limits(), settings.cost_model()
    common = {"symbols": SYMBOLS, "start": START, "end": END, "engine": "rules", "costs": costs,
              "max_leverage": settings.max_leverage}
    default = ReplaySpec(limits=limits, **common)  # type: ignore[arg-type]
    no_kill = ReplaySpec(limits=replace(limits, max_drawdown_pct=100.0, daily_loss_limit_pct=100.0), **common)  # type: ignore[arg-type]

    (setup, _), data = timed(lambda: build_source(market, default))
    source = data[0]
    print(f"setup: data load (5m intrabar bars included) + indicators once per series: {setup:.2f} s "
          "(apart from every figure below)")
    warm = ReplaySpec(symbols=SYMBOLS, start=datetime(2023, 3, 1, tzinfo=UTC), end=datetime(2023, 3, 8, tzinfo=UTC),
                      engine="rules")
    asyncio.run(run_replay_cycle(market, warm, RulesEngine(), source=source))  # warm-up: every code path once

    speeds: dict[str, list[float]] = {}
    walls: dict[str, list[float]] = {}
    for label, spec in (("ours, default limits", default), ("ours, every symbol-bar decided", no_kill)):
        for k in range(args.repeat):
            (wall, cpu), result = ours(market, spec, data, args.profile and k == 0)
            bars = len(result.step_ms) * len(result.symbols)  # type: ignore[attr-defined]
            speeds.setdefault(label, []).append(bars / cpu)
            walls.setdefault(label, []).append(wall)
        res = result.intrabar_ms  # type: ignore[attr-defined]
        print(f"{label}: {bars:,} symbol-bars, wall {spread(walls[label])} s, "
              f"{min(speeds[label]):,.0f}–{max(speeds[label]):,.0f} symbol-bars per CPU-s "
              f"({len(result.trades)} legs, {result.guard_approved} approved, "  # type: ignore[attr-defined]
              f"{result.guard_reasons.get('paused', 0)} paused symbol-bars, intrabar "  # type: ignore[attr-defined]
              f"{sorted({v // 60_000 for v in res.values()})} min)")

    for _ in range(args.repeat):
        (wall, cpu), bt_bars = backtesting_py(market)
        speeds.setdefault("backtesting.py", []).append(bt_bars / cpu)
        walls.setdefault("backtesting.py", []).append(wall)
    print(f"backtesting.py EMA 20/50 cross: {bt_bars:,} bars, wall {spread(walls['backtesting.py'])} s, "
          f"{statistics.median(speeds['backtesting.py']):,.0f} bars per CPU-s (median)")

    if not args.no_freqtrade:
        import freqtrade_peer

        try:
            with tempfile.TemporaryDirectory() as work:
                for _ in range(args.repeat):
                    got = freqtrade_peer.run(args.data, SYMBOLS, START, END, Path(work))
                    speeds.setdefault("freqtrade", []).append(got["bars"] / got["cpu_seconds"])
                    walls.setdefault("freqtrade", []).append(got["seconds"])
            print(f"freqtrade {got['version']} backtest (futures, isolated, 5m detail): {got['bars']:,} bars, "
                  f"{got['trades']} trades, wall {spread(walls['freqtrade'])} s, "
                  f"{statistics.median(speeds['freqtrade']):,.0f} bars per CPU-s (median)")
        except freqtrade_peer.PeerUnavailable as error:
            print(f"freqtrade: not measured — {error}")

    full = speeds["ours, every symbol-bar decided"]
    for peer, target in (("backtesting.py", 0.5), ("freqtrade", 3.0)):
        if peer in speeds:
            ratios = [a / b for a, b in zip(sorted(full), sorted(speeds[peer]), strict=True)]
            verdict = "met" if statistics.median(ratios) >= target else "NOT met"
            print(f"ratio ours / {peer} (symbol-bars per CPU-s): {spread(ratios)} — target ≥ {target}: {verdict}")

    if args.whole_process:
        replay_cpu, pandas_cpu = whole_process(args.data, args.repeat)
        inproc = [len(result.step_ms) * len(SYMBOLS) / v for v in speeds["ours, default limits"]]  # type: ignore[attr-defined]
        budget = [p + r for p, r in zip(sorted(pandas_cpu), sorted(inproc), strict=True)]
        ratios = [f / b for f, b in zip(sorted(replay_cpu), budget, strict=True)]
        print(f"whole process `aitrader replay` (README window, report files, report.png, tearsheet, run.json): "
              f"{spread(replay_cpu)} CPU-s; `python -c 'import pandas'` {spread(pandas_cpu)} CPU-s; "
              f"in-process replay {spread(inproc)} CPU-s")
        verdict = "met" if statistics.median(ratios) <= 1.5 else "NOT met"
        print(f"ratio whole process / (import pandas + in-process replay): {spread(ratios)} — target ≤ 1.5: {verdict}")
        steps = subprocess.run([sys.executable, str(ROOT / "bench" / "replay_steps.py"), "--data", str(args.data)],
                               capture_output=True, text=True, env=whole_process_env(), check=True)
        print("\n".join(line for line in steps.stderr.splitlines() if line.startswith(("CPU", "  "))))


if __name__ == "__main__":
    main()
