"""`aitrader sweep`: a grid of settings × symbol sets × windows, one replay per cell (DESIGN §4.8).

Cells run on local worker processes (concurrent.futures, forkserver) by default, or with `--cluster
ADDRESS` on an existing Dask distributed scheduler (the optional extra `aitrader[cluster]`): Dask's
`Client.get_executor()` is a concurrent.futures Executor too, so both paths are one code path. Dask over
Ray: pure-Python wheels that install on every Python the project supports, a scheduler that is one
process (`dask scheduler` / `dask worker ADDRESS`), and a LocalCluster that runs inside the test process;
Ray brings a ~70 MB wheel with its own C++ runtime and starts several daemons even for local mode.

Blocking, with no event loop of its own running (the CLI calls it outside asyncio; the leaderboard write at
the end is one asyncio.run). The main process writes each finished cell (`sweep.CellStore`), so workers need no shared filesystem, and
a re-run skips every cell already written. sweep.csv and sweep.json are rebuilt from the cell files at the
end; a cell that failed is not written (the re-run tries it again) and makes the command exit 1.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import dataclasses
import json
import multiprocessing
import os
import re
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from core.errors import UserInputError
from core.evaluation.sweep import (
    CELLS_FOLDER,
    CellStore,
    SweepCell,
    plan_cells,
    rank_value,
    ranked,
    split_windows,
    sweep_summary,
    write_sweep_csv,
)
from core.models import iso_z


def _describer(factory: Any) -> Any:
    """(engine, overrides) → (version id, descriptor, extra identity), through the same factory as replay and
    compare; a bad setting or value is its one-line UserInputError, raised while planning."""
    from bot.wiring import EngineEntry

    def describe(engine: str, overrides: tuple[tuple[str, str], ...]) -> tuple[str, Any, Any]:
        entry = EngineEntry("cell", engine, overrides)
        try:
            version = factory.version(entry)
            settings = factory.settings_for(entry)
        except UserInputError as error:  # the factory speaks of --set NAME:KEY; here it is a --grid value
            raise UserInputError(f"--grid: {re.sub(r'^--set:? cell:? ?', '', str(error))}") from None
        return version.id, version.descriptor, {"replay_resume_after_days": settings.replay_resume_after_days}

    return describe


def _checked_windows(market: Any, symbol_sets: Sequence[tuple[str, ...]], windows: list[tuple[datetime, datetime]],
                     engine: str) -> list[tuple[datetime, datetime]]:
    """Each window as the data allows it for every symbol set (clipped like a replay clips it)."""
    from core.evaluation.replay import ReplaySpec, plan_steps
    from core.market.timeframes import from_ms

    out = []
    for start, end in windows:
        first, last = start, end
        for symbols in symbol_sets:
            steps = plan_steps(market, ReplaySpec(symbols=symbols, start=start, end=end, engine=engine))
            first, last = max(first, from_ms(int(steps[0]))), min(last, from_ms(int(steps[-1])))
        if last <= first:
            raise UserInputError(f"--windows: {iso_z(start)} → {iso_z(end)} has no bars every symbol set shares")
        out.append((first, last))
    return out


def _with_news(cells: list[SweepCell], path: Path, factory: Any) -> tuple[list[SweepCell], dict[str, Any]]:
    """Every cell reads the recorded news at `path` (resolved: workers open it themselves) point-in-time; its
    key holds a digest of what its window can see, so cells made with other news, or none, are never reused.
    A missing file, one that is not SQLite, or a bot database without news tables is one line, before anything
    is written."""
    from bot.commands.news_db import news_provenance, recorded_news
    from bot.wiring import news_analyst_of
    from core.market.news import MemoryNewsStore

    archive: MemoryNewsStore = asyncio.run(recorded_news(path))
    where = str(path.resolve())
    digests = {end: archive.fingerprint(end) for end in {c.end for c in cells}}
    analyst = news_analyst_of(factory.settings)
    return ([dataclasses.replace(c, news_db=where, news_digest=digests[c.end]) for c in cells],
            news_provenance(where, archive, analyst))


def _executor(workers: int, cluster: str | None) -> tuple[cf.Executor, str, Any]:
    if cluster is None:
        context = multiprocessing.get_context("forkserver")
        # the server imports pandas and the replay once; every worker forks from it warm
        context.set_forkserver_preload(["bot.commands.sweep_worker", "core.evaluation.cell_runner"])
        return cf.ProcessPoolExecutor(max_workers=workers, mp_context=context), f"{workers} local processes", None
    try:
        from distributed import Client
    except ImportError:
        raise UserInputError("--cluster needs Dask distributed: pip install 'aitrader[cluster]'") from None
    try:
        client = Client(cluster, timeout="10s")
    except (OSError, TimeoutError) as error:
        raise UserInputError(f"--cluster: cannot reach a Dask scheduler at {cluster}: {error}") from None
    count = len(client.scheduler_info().get("workers", {}))
    return client.get_executor(pure=False), f"Dask cluster {cluster} ({count} workers)", client


def _summary_table(rows: Sequence[dict[str, Any]], grid_keys: Sequence[str], limit: int = 10) -> Table:
    oos = any("walk_forward" in r for r in rows)
    sharpe = "OOS Sharpe" if oos else "Sharpe"
    table = Table(title=f"Sweep · top {min(limit, len(rows))} of {len(rows)} cells by {sharpe}"
                  + (" (walk-forward: out-of-sample parts only)" if oos else ""))
    for column in ("#", *(k.split(".")[-1] for k in grid_keys), "symbols", "window", "return %", sharpe, "max DD %",
                   "PF", "positions"):
        table.add_column(column, justify="right" if column not in ("symbols", "window") else "left")

    def fmt(value: object) -> str:
        return "n/a" if value is None else f"{value:,.2f}" if isinstance(value, float) else str(value)

    for rank, row in enumerate(rows[:limit], start=1):
        m = row["metrics"]
        table.add_row(
            str(rank),
            *(fmt(row["overrides"].get(k)) for k in grid_keys),
            ",".join(s.split("/")[0] for s in row["symbols"]),
            f"{row['start'][:10]}→{row['end'][:10]}",
            fmt(m.get("total_return_pct")),
            fmt(rank_value(row)),
            fmt(m.get("max_drawdown_pct")),
            fmt(m.get("profit_factor")),
            fmt(m.get("positions")),
        )
    return table


def run_sweep(
    *,
    data: Path,
    symbols: tuple[str, ...] | tuple[tuple[str, ...], ...],
    start: datetime,
    end: datetime,
    engine: str,
    grid: dict[str, tuple[str, ...]],
    out: Path,
    windows: int = 1,
    per_symbol: bool = False,
    workers: int = 1,
    cluster: str | None = None,
    initial_equity: float = 10_000.0,
    folds: int = 0,
    news_db: Path | None = None,
    console: Console | None = None,
    report: Console | None = None,
) -> int:
    from bot.commands.sweep_worker import run_sweep_cell
    from bot.wiring import CycleFactory, parse_engine
    from core.market.offline import OfflineMarketData

    entry = parse_engine(engine, "--engine")
    if folds:
        try:
            from core.evaluation.walk_forward import plan_folds  # noqa: F401 - present once walk-forward is
        except ImportError:
            raise UserInputError("--folds: walk-forward is not in this version of aitrader") from None
        if folds < 2:
            raise UserInputError(f"--folds: must be at least 2, got {folds}")
    if not data.is_dir():
        raise UserInputError(f"--data: {data} is not a folder")
    if out.exists() and not out.is_dir():
        raise UserInputError(f"--out: {out} exists and is not a folder")
    if workers < 1:
        raise UserInputError(f"--workers: must be >= 1, got {workers}")
    market = OfflineMarketData(data)
    # one set of symbols (a tuple of str) or several (a tuple of tuples): each set is a grid dimension value
    given = [tuple(symbols)] if symbols and isinstance(symbols[0], str) else [tuple(g) for g in symbols]
    unknown = sorted({s for group in given for s in group if s not in market.symbol_list()})
    if unknown:
        raise UserInputError(f"--symbols: no data for {', '.join(unknown)} in {data}")
    symbol_sets = list(dict.fromkeys((s,) for group in given for s in group)) if per_symbol else given
    for group in symbol_sets:
        if len(set(group)) != len(group):
            raise UserInputError(f"--symbols: {', '.join(group)} names a symbol twice")
    if len(set(symbol_sets)) != len(symbol_sets):
        raise UserInputError("--symbols: the same set of symbols is given twice")
    spans = _checked_windows(market, symbol_sets, split_windows(start, end, windows), entry.engine)
    factory = CycleFactory.from_environment()
    cells = plan_cells(
        engine=entry.engine, grid=grid, symbol_sets=symbol_sets, windows=spans, describe=_describer(factory),
        data=str(data.resolve()), initial_equity=initial_equity, folds=folds,
    )
    news = None
    if news_db is not None:
        cells, news = _with_news(cells, news_db, factory)
    store = CellStore(out / CELLS_FOLDER)
    finished = store.finished(c.key for c in cells)
    todo: list[SweepCell] = [c for c in cells if c.key not in finished]

    err = console or Console(stderr=True)
    if news is not None:
        seen = news["first_seen"]
        err.print(f"news: {news['headlines']} headlines recorded in {news['news_db']}"
                  + (f", first seen {seen[0]} → {seen[1]}" if seen else "") + f"; analyst {news['analyst']}",
                  markup=False, highlight=False, soft_wrap=True)
    failures: list[str] = []
    started = time.perf_counter()
    if todo:
        executor, where, client = _executor(min(workers, len(todo)), cluster)
        err.print(f"sweep: {len(cells)} cells, {len(finished)} finished earlier, running {len(todo)} on {where}")
        cache_dir = str(out.resolve())
        interrupted = False
        try:
            futures = {executor.submit(run_sweep_cell, cell, cache_dir): cell for cell in todo}
            with Progress(
                TextColumn("[bold]sweep"), BarColumn(), MofNCompleteColumn(), TextColumn("cells"),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=err,
            ) as progress:
                task = progress.add_task("sweep", total=len(cells), completed=len(finished))
                for future in cf.as_completed(futures):
                    cell = futures[future]
                    try:
                        store.write(future.result())
                    except Exception as error:  # one bad cell never stops the others
                        failures.append(f"{cell.key} ({dict(cell.overrides)}, {iso_z(cell.start)}): "
                                        f"{type(error).__name__}: {error}")
                    progress.advance(task)
        except KeyboardInterrupt:
            interrupted = True  # finished cells are on disk; the re-run picks up the rest
            raise
        finally:
            if client is None:
                executor.shutdown(wait=not interrupted, cancel_futures=True)
            else:  # Dask's executor has no cancel_futures; closing the client releases its tasks
                executor.shutdown(wait=False)
                client.close()
    else:
        err.print(f"sweep: all {len(cells)} cells finished earlier; rebuilding sweep.csv and sweep.json")
    elapsed = time.perf_counter() - started

    out.mkdir(parents=True, exist_ok=True)  # also when no cell finished
    results = [r for r in (store.load(c.key) for c in cells) if r is not None]
    rows = ranked(results)
    grid_keys = sorted(grid)
    write_sweep_csv(out / "sweep.csv", rows, grid_keys)
    summary = sweep_summary(rows, grid)
    if news is not None:
        summary["news"] = news
    (out / "sweep.json").write_text(json.dumps(summary, sort_keys=True, indent=2, allow_nan=False) + "\n",
                                    encoding="utf-8")
    asyncio.run(_record(factory, rows))
    stdout = report or Console()
    stdout.print(_summary_table(rows, grid_keys))
    stdout.print(summary["deflated_sharpe_detail"]["verdict"])
    stdout.print(f"{len(todo) - len(failures)} cells run in {elapsed:.1f}s, {len(finished)} reused; "
                 f"wrote {out / 'sweep.csv'}, sweep.json")
    if failures:
        for line in failures[:5]:
            err.print(f"error: cell {line}")
        err.print(f"error: {len(failures)} of {len(todo)} cells failed; re-run the command to retry them")
        return 1
    return 0


async def _record(factory: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Every finished cell under its strategy version in the leaderboard (re-recording replaces the row)."""
    from bot.leaderboard import record_results
    from core.evaluation.leaderboard import result_from_metrics

    results = [
        result_from_metrics(
            version=r["version"], engine=r["engine"], model=factory.model_of(_entry(r)), source="sweep",
            symbols=r["symbols"], start=r["start"], end=r["end"], oos="walk_forward" in r, metrics=r["metrics"],
            descriptor=r["identity"]["descriptor"],
        )
        for r in rows
    ]
    await record_results(factory, results)


def _entry(row: dict[str, Any]) -> Any:
    from bot.wiring import EngineEntry

    return EngineEntry("cell", row["engine"], tuple(sorted((k, str(v)) for k, v in row["overrides"].items())))


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 4))
