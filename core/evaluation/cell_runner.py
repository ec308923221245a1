"""What every sweep cell shares, in any worker process or thread: the data folder opened once, the
indicators of a (data, symbols, window) built once and reused by the next cell of the same window (cells
are planned grouped by window), and the cell's result built from its replay.

Per thread, not per process: a snapshot source memoises its last views and must not serve two replays at
once (Dask runs several tasks in threads of one worker).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from core.evaluation.deflated_sharpe import ReturnStats
from core.evaluation.metrics import equity_returns
from core.evaluation.replay import WARMUP_BARS, ReplaySpec, plan_steps
from core.evaluation.report import ReplayResult, build_report, check_identity
from core.evaluation.sweep import SweepCell, cell_result
from core.market.offline import OfflineMarketData
from core.market.snapshot import SeriesSnapshotSource
from core.market.timeframes import from_ms

_local = threading.local()


def market_for(data: str) -> OfflineMarketData:
    markets: dict[str, OfflineMarketData] = getattr(_local, "markets", None) or {}
    _local.markets = markets
    if data not in markets:
        markets[data] = OfflineMarketData(Path(data))
    return markets[data]


def source_for(cell: SweepCell, market: OfflineMarketData, spec: ReplaySpec) -> SeriesSnapshotSource:
    key = (cell.data, cell.symbols, cell.start, cell.end, spec.intrabar)
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
        bar_timeframes=(),  # the replay loads each symbol's one intrabar timeframe itself
    )
    _local.source = (key, source)
    return source


def cell_outcome(cell: SweepCell, result: ReplayResult, news: dict[str, Any] | None = None) -> dict[str, Any]:
    """The cell's result (sweep.cell_result) from its replay, after the accounting identity is checked."""
    check_identity(result)
    return cell_result(cell, build_report(result), ReturnStats.of(equity_returns(result.equity)), news)


__all__ = ["cell_outcome", "market_for", "source_for"]
