"""One sweep cell as one replay, runnable in any worker process or thread.

The data and the indicators of a (data, symbols, window) are the same for every settings combination of
that window, so each worker thread keeps the last one it built and reuses it for the next cell of the same
window (cells are planned grouped by window). Per thread, not per process: a snapshot source memoises its
last views and must not serve two replays at once (Dask runs several tasks in threads of one worker).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.clock import SimulatedClock
from core.evaluation.deflated_sharpe import ReturnStats
from core.evaluation.metrics import equity_returns
from core.evaluation.replay import INTRABAR_TIMEFRAMES, WARMUP_BARS, ReplaySpec, plan_steps, run_replay_cycle
from core.evaluation.report import build_report, check_identity
from core.evaluation.sweep import SweepCell, cell_result
from core.market.offline import OfflineMarketData
from core.market.snapshot import SeriesSnapshotSource
from core.market.timeframes import from_ms
from core.protocols import DecisionEngine

EngineFactory = Callable[[SweepCell, SimulatedClock], DecisionEngine]
_local = threading.local()


def cell_spec(cell: SweepCell) -> ReplaySpec:
    s = cell.settings
    return ReplaySpec(
        symbols=cell.symbols,
        start=cell.start,
        end=cell.end,
        engine=cell.engine,
        initial_equity=cell.initial_equity,
        limits=s.limits,
        costs=s.costs,
        max_leverage=s.max_leverage,
    )


def _market(data: str) -> OfflineMarketData:
    markets: dict[str, OfflineMarketData] = getattr(_local, "markets", None) or {}
    _local.markets = markets
    if data not in markets:
        markets[data] = OfflineMarketData(Path(data))
    return markets[data]


def _source(cell: SweepCell, market: OfflineMarketData, spec: ReplaySpec) -> SeriesSnapshotSource:
    key = (cell.data, cell.symbols, cell.start, cell.end)
    cached = getattr(_local, "source", None)
    if cached is not None and cached[0] == key:
        return cached[1]
    _local.source = None  # release the previous window's arrays before building the next
    steps = plan_steps(market, spec)
    source = SeriesSnapshotSource.from_offline(
        market,
        cell.symbols,
        from_ms(int(steps[0])),
        from_ms(int(steps[-1])),
        warmup_bars=WARMUP_BARS,
        bar_timeframes=INTRABAR_TIMEFRAMES,
    )
    _local.source = (key, source)
    return source


async def run_cell_async(cell: SweepCell, engine_factory: EngineFactory) -> dict[str, Any]:
    market = _market(cell.data)
    spec = cell_spec(cell)
    source = _source(cell, market, spec)
    clock = SimulatedClock(cell.start)
    result = await run_replay_cycle(market, spec, engine_factory(cell, clock), source=source, clock=clock)
    check_identity(result)
    return cell_result(cell, build_report(result), ReturnStats.of(equity_returns(result.equity)))


def run_cell(cell: SweepCell, engine_factory: EngineFactory) -> dict[str, Any]:
    """The cell's result (sweep.cell_result); blocking, with its own event loop."""
    return asyncio.run(run_cell_async(cell, engine_factory))


__all__ = ["EngineFactory", "cell_spec", "run_cell", "run_cell_async"]
