"""What a sweep worker runs for one cell (a local process or a Dask worker): the strategy built by the
same factory as replay and compare (bot.wiring), from the worker's own settings — an LLM key stays in the
worker's environment, never shipped with the task. A worker whose settings make another strategy version
than the client planned refuses the cell rather than file a result under the wrong key."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from bot.wiring import CycleFactory, EngineEntry
from core.evaluation.cell_runner import cell_outcome, market_for, source_for
from core.evaluation.sweep import SweepCell

_local = threading.local()


def _factory() -> CycleFactory:
    factory = getattr(_local, "factory", None)
    if factory is None:
        factory = _local.factory = CycleFactory.from_environment()
    return factory


def run_sweep_cell(cell: SweepCell, cache_dir: str | None = None) -> dict[str, Any]:
    factory = _factory()
    entry = EngineEntry("cell", cell.engine, cell.overrides)
    version = factory.version(entry).id
    if version != cell.version:
        raise RuntimeError(f"this worker's settings make strategy version {version}, the sweep planned "
                           f"{cell.version}: run workers with the client's settings (.env)")
    market = market_for(cell.data)
    cache = Path(cache_dir) if cache_dir else None
    if cell.folds:  # parameters chosen on each training part, measured on the next: out-of-sample metrics
        from bot.commands.walk_forward_cmd import walk_forward_entry

        result = asyncio.run(walk_forward_entry(factory, market, entry, cell.symbols, cell.start, cell.end,
                                                cell.initial_equity, cell.folds, cache or Path(".")))
        return cell_outcome(cell, result)
    spec = factory.replay_spec(entry, cell.symbols, cell.start, cell.end, cell.initial_equity)
    source = source_for(cell, market, spec) if entry.kind != "baseline" else None
    result = asyncio.run(
        factory.replay(market, entry, cell.symbols, cell.start, cell.end, cell.initial_equity,
                       cache_dir=cache, source=source)
    )
    return cell_outcome(cell, result)
