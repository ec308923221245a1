"""What a sweep worker runs for one cell (a local process or a Dask worker): the strategy built by the
same factory as replay and compare (bot.wiring), from the worker's own settings — an LLM key stays in the
worker's environment, never shipped with the task. A worker whose settings make another strategy version
than the client planned refuses the cell rather than file a result under the wrong key; so does one whose
`--news-db` file shows the window other news than the client planned with (the cell key holds its digest)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.wiring import CycleFactory, EngineEntry
from core.evaluation.cell_runner import cell_outcome, market_for, source_for
from core.evaluation.report import ReplayResult
from core.evaluation.sweep import SweepCell
from core.market.news import MemoryNewsStore

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
    result, news = asyncio.run(replay_cell(factory, entry, cell, Path(cache_dir) if cache_dir else None))
    return cell_outcome(cell, result, news)


async def replay_cell(factory: CycleFactory, entry: EngineEntry, cell: SweepCell,
                      cache: Path | None) -> tuple[ReplayResult, dict[str, Any] | None]:
    """The cell's replay as `aitrader replay` (with `--folds`, `--news-db`) runs it, and the news block it read.
    The recorded news is opened here, read-only, from the path the cell carries."""
    from bot.commands.news_db import news_reader
    from core.clock import SimulatedClock

    market = market_for(cell.data)
    news_db = Path(cell.news_db) if cell.news_db else None
    clock = SimulatedClock(cell.start) if news_db else None  # the analyst's clock is the replay's, as in replay
    async with news_reader(news_db, factory.settings_for(entry), clock, read_only=True,
                           check=_planned_news(cell)) as sentiment:
        if cell.folds:  # parameters chosen on each training part, measured on the next: out-of-sample metrics
            from bot.commands.walk_forward_cmd import walk_forward_entry

            result = await walk_forward_entry(factory, market, entry, cell.symbols, cell.start, cell.end,
                                              cell.initial_equity, cell.folds, cache or Path("."), clock=clock,
                                              sentiment=sentiment)
        else:
            spec = factory.replay_spec(entry, cell.symbols, cell.start, cell.end, cell.initial_equity)
            source = source_for(cell, market, spec) if entry.kind != "baseline" else None
            result = await factory.replay(market, entry, cell.symbols, cell.start, cell.end, cell.initial_equity,
                                          cache_dir=cache, source=source, clock=clock, sentiment=sentiment)
        return result, getattr(sentiment, "provenance", None)


def _planned_news(cell: SweepCell) -> Callable[[MemoryNewsStore], None]:
    def check(archive: MemoryNewsStore) -> None:
        if archive.fingerprint(cell.end) != cell.news_digest:
            raise RuntimeError(f"--news-db: {cell.news_db} here is not the news the sweep was planned with (the "
                               "window's headlines changed, or another file is at that path): the cell is not run")

    return check
