"""Replay speed: symbol-bars per second of the rules-engine replay, against backtesting.py on the same bars.

Times, in one process and after a warm-up:
1. loading the data and computing indicators once per series (SeriesSnapshotSource) — reported apart;
2. the replay itself: the live TradingCycle, RiskGuard and PaperBroker (5m intrabar fills, funding,
   liquidation) stepping every hourly close of BTC and ETH, 2023-01 → 2024-05. Run twice: with the
   default limits (the drawdown kill-switch may pause trading, and paused hours skip the engine), and
   with the kill-switch out of reach so every symbol-bar goes through engine and guard;
3. backtesting.py (`backtesting` package) running an EMA 20/50 cross on the same BTC and ETH 1h bars.

Usage: .venv/bin/python bench/replay.py [--data DIR] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import pstats
import sys
import time
import warnings
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.settings import load_settings  # noqa: E402
from core.decide.rules import RulesEngine  # noqa: E402
from core.evaluation.replay import INTRABAR_TIMEFRAMES, WARMUP_BARS, ReplaySpec, plan_steps, run_replay_cycle  # noqa: E402
from core.market.offline import OfflineMarketData  # noqa: E402
from core.market.snapshot import SeriesSnapshotSource  # noqa: E402
from core.market.timeframes import from_ms  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "freqtrade-userdata-cyft_trader" / "original"
SYMBOLS = ("BTC/USDT:USDT", "ETH/USDT:USDT")
START = datetime(2023, 1, 1, tzinfo=UTC)
END = datetime(2024, 5, 15, tzinfo=UTC)


def build_source(market: OfflineMarketData, spec: ReplaySpec) -> SeriesSnapshotSource:
    steps = plan_steps(market, spec)
    return SeriesSnapshotSource.from_offline(
        market, spec.symbols, from_ms(int(steps[0])), from_ms(int(steps[-1])), warmup_bars=WARMUP_BARS,
        bar_timeframes=INTRABAR_TIMEFRAMES,
    )


async def time_replay(market: OfflineMarketData, spec: ReplaySpec, source: SeriesSnapshotSource,
                      profile: bool) -> tuple[float, int, object]:
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    result = await run_replay_cycle(market, spec, RulesEngine(), source=source)
    if profiler:
        profiler.disable()
    elapsed = time.perf_counter() - started
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(18)
    return elapsed, len(result.step_ms) * len(result.symbols), result


def backtesting_speed(market: OfflineMarketData) -> tuple[float, int, float]:
    """backtesting.py EMA 20/50 cross over the same 1h bars: (seconds, bars, bars per second)."""
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
        frame = frame[(frame.index >= START) & (frame.index < END)]
        frame = frame.rename(columns=str.capitalize)
        frame.index = frame.index.tz_localize(None)
        frames.append(frame)
    # warm-up (imports, numba-free but first-call costs)
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):  # its tqdm progress bar
        warnings.simplefilter("ignore")
        Backtest(frames[0].iloc[:300], EmaCross, cash=10_000_000, commission=0.0005).run()
        elapsed = 0.0
        bars = 0
        for frame in frames:
            started = time.perf_counter()
            Backtest(frame, EmaCross, cash=10_000_000, commission=0.0005, finalize_trades=True).run()
            elapsed += time.perf_counter() - started
            bars += len(frame)
    return elapsed, bars, bars / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--profile", action="store_true", help="print the cProfile top functions of the replay")
    args = parser.parse_args()
    if not args.data.is_dir():
        sys.exit(f"data folder {args.data} not found (expected ../shared/data next to the repo)")

    market = OfflineMarketData(args.data)
    settings = load_settings(env_file=None)  # the defaults `aitrader replay` uses without a .env
    limits, costs = settings.risk_limits(), settings.cost_model()
    common = {"symbols": SYMBOLS, "start": START, "end": END, "engine": "rules", "costs": costs,
              "max_leverage": settings.max_leverage}
    default = ReplaySpec(limits=limits, **common)  # type: ignore[arg-type]
    no_kill = ReplaySpec(limits=replace(limits, max_drawdown_pct=100.0, daily_loss_limit_pct=100.0), **common)  # type: ignore[arg-type]

    started = time.perf_counter()
    source = build_source(market, default)
    setup = time.perf_counter() - started
    print(f"setup: data load + indicators once per series: {setup:.2f} s")

    # warm-up: a short replay through every code path
    warm = ReplaySpec(symbols=SYMBOLS, start=datetime(2023, 3, 1, tzinfo=UTC), end=datetime(2023, 3, 8, tzinfo=UTC),
                      engine="rules")
    asyncio.run(run_replay_cycle(market, warm, RulesEngine(), source=source))

    rows = []
    for label, spec in (("default limits", default), ("kill-switch out of reach", no_kill)):
        elapsed, symbol_bars, result = asyncio.run(time_replay(market, spec, source, args.profile))
        speed = symbol_bars / elapsed
        approved = result.guard_approved  # type: ignore[attr-defined]
        paused = result.guard_reasons.get("paused", 0)  # type: ignore[attr-defined]
        rows.append((label, speed))
        print(f"replay ({label}): {symbol_bars} symbol-bars in {elapsed:.2f} s = {speed:,.0f} symbol-bars/s "
              f"({len(result.trades)} trade legs, {approved} approved, {paused} paused symbol-bars, "  # type: ignore[attr-defined]
              f"intrabar {result.engine_stats['intrabar_timeframe_ms'] // 60000}m)")  # type: ignore[attr-defined]

    bt_elapsed, bt_bars, bt_speed = backtesting_speed(market)
    print(f"backtesting.py EMA 20/50 cross: {bt_bars} bars in {bt_elapsed:.2f} s = {bt_speed:,.0f} bars/s")
    for label, speed in rows:
        print(f"ratio replay ({label}) / backtesting.py: {speed / bt_speed:.2f}")
    target = 20_000
    full_speed = rows[-1][1]
    print(f"target {target:,} symbol-bars/s: {'met' if full_speed >= target else 'NOT met'} "
          f"({full_speed:,.0f} with every symbol-bar through engine and guard)")


if __name__ == "__main__":
    main()
