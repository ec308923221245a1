"""A baseline engine over the replay's window: the same steps, bars, funding and report as `run_replay_cycle`.

Baselines do not go through the TradingCycle's risk guard (a benchmark holds what it holds, without a stop
the guard would demand); they go through the same perpetual-futures accounting — fees, slippage, funding,
isolated margin and liquidation (`core.evaluation.baselines`) — and write the same report (DESIGN §4.6).
Their indicators read the whole base series before each step (causal), so they need no warm-up window.
"""

from __future__ import annotations

import asyncio

import numpy as np

from core.evaluation.baseline_engines import BaselineEngine
from core.evaluation.feed import Bars, SymbolBars
from core.evaluation.replay import ReplaySpec, plan_steps, settings_summary, standard_baselines
from core.evaluation.report import ReplayResult
from core.market.offline import OfflineMarketData
from core.market.timeframes import from_ms, index_ms, tf_ms


def full_symbol_bars(market: OfflineMarketData, symbol: str, base_timeframe: str) -> SymbolBars:
    """Every base bar on disk and every funding settlement of `symbol`, as replay arrays."""
    frame = market.frame(symbol, base_timeframe)
    bars = Bars(
        tf_ms(base_timeframe),
        index_ms(frame).astype(np.int64),
        frame["open"].to_numpy(np.float64),
        frame["high"].to_numpy(np.float64),
        frame["low"].to_numpy(np.float64),
        frame["close"].to_numpy(np.float64),
    )
    funding = market.funding_series(symbol)
    return SymbolBars(
        symbol, bars, {}, index_ms(funding).astype(np.int64), funding.to_numpy(np.float64)
    )


def replay_baseline_sync(market: OfflineMarketData, spec: ReplaySpec, engine: BaselineEngine) -> ReplayResult:
    steps = plan_steps(market, spec)
    bars = [full_symbol_bars(market, s, spec.base_timeframe) for s in spec.symbols]
    run = engine.run(bars, steps, spec.initial_equity, spec.costs)
    stats: dict[str, int | float] = {"liquidations": run.liquidations}
    return ReplayResult(
        engine=spec.engine,
        symbols=spec.symbols,
        start=from_ms(int(steps[0])),
        end=from_ms(int(steps[-1])),
        initial_equity=spec.initial_equity,
        bar_seconds=tf_ms(spec.base_timeframe) // 1000,
        step_ms=steps,
        equity=run.equity,
        exposure=run.exposure,
        trades=run.trades,
        baselines=standard_baselines(bars, steps, spec),
        engine_stats=stats,
        settings={**settings_summary(spec), "baseline": engine.params()},
    )


async def replay_baseline(market: OfflineMarketData, spec: ReplaySpec, engine: BaselineEngine) -> ReplayResult:
    return await asyncio.to_thread(replay_baseline_sync, market, spec, engine)


__all__ = ["full_symbol_bars", "replay_baseline", "replay_baseline_sync"]
