"""`aitrader replay`: the live cycle over history, with a progress bar, the report files and a summary.

report.json, trades.csv, equity.csv, report.png, tearsheet.html and run.json are the contract (DESIGN §4.6),
the same for the same inputs; run-stats.json beside them holds what depends on the run (wall time, speed, LLM tokens and
cache hits). The engine and its settings come from `bot.wiring.CycleFactory`, as for the bot and compare. `--engine llm` goes through a decision cache kept in
`<out>/decision-cache.jsonl`: a re-run asks the model nothing and gets the same decisions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from bot.wiring import CACHE_FILE, CycleFactory, EngineEntry
from core.errors import UserInputError
from core.evaluation.report import ReplayResult
from core.models import iso_z

__all__ = ["CACHE_FILE", "run_replay", "summary_table", "write_replay_folder"]


def _fmt(value: object, suffix: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.2f}{suffix}"
    return f"{value}{suffix}"


def _value(metrics: dict[str, Any], key: str) -> object:
    """A metric by key; `win_rate_pct` is win_rate (a fraction in report.json) shown in percent."""
    if key == "win_rate_pct":
        rate = metrics.get("win_rate")
        return None if rate is None else float(rate) * 100.0
    return metrics.get(key)


def summary_table(result: ReplayResult, report: dict[str, Any]) -> Table:
    metrics = report["metrics"]
    bh = report["baselines"].get("buy_and_hold", {})
    table = Table(title=f"Replay {result.engine} · {', '.join(result.symbols)}")
    table.add_column("metric")
    table.add_column(result.engine, justify="right")
    table.add_column("buy & hold", justify="right")
    rows = (
        ("final equity", "final_equity", ""),
        ("total return", "total_return_pct", " %"),
        ("CAGR", "cagr_pct", " %"),
        ("max drawdown", "max_drawdown_pct", " %"),
        ("Sharpe", "sharpe", ""),
        ("Sortino", "sortino", ""),
        ("trades (legs)", "trades", ""),
        ("win rate", "win_rate_pct", " %"),
        ("profit factor", "profit_factor", ""),
        ("fees paid", "fees_paid", ""),
        ("funding paid (− received)", "funding_paid", ""),
        ("exposure", "exposure_pct", " %"),
    )
    for label, key, suffix in rows:
        table.add_row(label, _fmt(_value(metrics, key), suffix), _fmt(_value(bh, key), suffix))
    guard = report["guard"]
    top = ", ".join(f"{k} {v}" for k, v in sorted(guard["reasons"].items(), key=lambda kv: -kv[1])[:4])
    table.caption = f"guard: {guard['approved']} approved, {guard['rejected']} rejected ({top or 'none'})"
    return table


def _check_paths(data: Path, out: Path) -> None:
    if not data.is_dir():
        raise UserInputError(f"--data: {data} is not a folder")
    if out.exists() and not out.is_dir():
        raise UserInputError(f"--out: {out} exists and is not a folder")


async def open_market(data: Path, symbols: tuple[str, ...], out: Path) -> Any:
    from core.market.offline import OfflineMarketData

    await asyncio.to_thread(_check_paths, data, out)
    market = await asyncio.to_thread(OfflineMarketData, data)
    available = market.symbol_list()
    unknown = [s for s in symbols if s not in available]
    if unknown:
        raise UserInputError(
            f"--symbols: no data for {', '.join(unknown)} in {data} (have: {', '.join(available) or 'none'})"
        )
    return market


def replay_progress(console: Console, label: str = "replay") -> Progress:
    return Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("bars"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
    )


def intrabar_of(result: ReplayResult) -> dict[str, str]:
    """The resolution stops and targets were resolved on, per symbol (baselines fill at base bar opens)."""
    ms = int(result.engine_stats.get("intrabar_timeframe_ms", result.bar_seconds * 1000))
    label = f"{ms // 3_600_000}h" if ms % 3_600_000 == 0 else f"{ms // 60_000}m"
    return {s: label for s in result.symbols}


def run_json(factory: CycleFactory, entry: EngineEntry, result: ReplayResult, market: Any, command: str) -> dict[str, Any]:
    """run.json: the inputs that make the run reproducible (bot.provenance), the same for the same inputs."""
    from bot.provenance import run_record
    from core.decide.prompt import prompt_version

    version = factory.version(entry)
    llm = entry.kind in ("llm", "ensemble")
    return run_record(
        command=command,
        data_dir=market.folder,
        files=market.data_files(result.symbols),
        settings=version.descriptor.get("settings") or dict(result.settings),
        prompt_version=prompt_version() if llm else None,
        model=factory.model_of(entry),
        intrabar=intrabar_of(result),
        extra={"engine": entry.engine, "version": version.id, "strategy": dict(version.descriptor)},
    )


async def write_replay_folder(
    result: ReplayResult, out: Path, market: Any, *, run: dict[str, Any], stats: dict[str, Any]
) -> Any:
    """One replay folder (DESIGN §4.6): report.json, trades.csv, equity.csv, report.png, tearsheet.html, run.json, and
    run-stats.json with what depends on the run (wall time, speed, LLM tokens, cache hits)."""
    from bot.reports.report_chart import render_report_chart
    from bot.reports.tearsheet import render_tearsheet
    from core.evaluation.replay import ReplaySpec, close_prices
    from core.evaluation.report import build_report, write_report

    files = await asyncio.to_thread(write_report, result, out)
    window = ReplaySpec(symbols=result.symbols, start=result.start, end=result.end, engine=result.engine)
    await asyncio.to_thread(render_report_chart, result, out / "report.png", close_prices(market, window))
    await asyncio.to_thread(lambda: render_tearsheet(result, build_report(result), out / "tearsheet.html"))
    for name, payload in (("run.json", run), ("run-stats.json", stats)):
        text = json.dumps(payload, sort_keys=True, indent=2, default=str) + "\n"
        await asyncio.to_thread((out / name).write_text, text, "utf-8")
    return files


async def run_replay(
    data: Path,
    symbols: tuple[str, ...],
    start: datetime,
    end: datetime,
    engine: str,
    out: Path,
    initial_equity: float,
    *,
    folds: int = 0,
) -> int:
    from bot.wiring import CACHE_FILE, CycleFactory, parse_engine
    from core.evaluation.replay import plan_steps
    from core.evaluation.report import build_report
    from core.market.timeframes import from_ms

    entry = parse_engine(engine, "--engine")
    market = await open_market(data, symbols, out)
    factory = CycleFactory.from_environment()
    spec = factory.replay_spec(entry, symbols, start, end, initial_equity)
    steps = plan_steps(market, spec)  # checks the window before anything slow starts
    first, last = from_ms(int(steps[0])), from_ms(int(steps[-1]))
    if (first, last) != (start, end):
        Console(stderr=True).print(f"window clipped to the data: {iso_z(first)} → {iso_z(last)}")
    if folds:
        from bot.commands.walk_forward_cmd import run_walk_forward_entry

        return await run_walk_forward_entry(factory, market, entry, symbols, first, last, initial_equity, folds, out)
    cache_file = out / CACHE_FILE
    cached_before = _cache_size(cache_file)

    console = Console(stderr=True)
    started = time.perf_counter()
    with replay_progress(console) as progress:
        task = progress.add_task("replay", total=None)

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        with _logs_above_the_bar():
            result = await factory.replay(market, entry, symbols, first, last, initial_equity, cache_dir=out,
                                          progress=on_progress)
    elapsed = time.perf_counter() - started
    stats = {
        **dict(result.run_stats),
        "wall_seconds": round(elapsed, 3),
        "symbol_bars_per_second": round(len(result.step_ms) * len(result.symbols) / elapsed, 1),
        "decision_cache_entries_before": cached_before,
        "decision_cache_entries_after": _cache_size(cache_file),
        "alerts": list(result.alerts),
    }
    files = await write_replay_folder(result, out, market, run=run_json(factory, entry, result, market, "replay"),
                                      stats=stats)
    report = build_report(result)
    await record_result(factory, entry, report, oos=False)
    stdout = Console()
    stdout.print(summary_table(result, report))
    stdout.print(decisions_line(result))
    stdout.print(
        f"{len(result.step_ms)} bars × {len(result.symbols)} symbols in {elapsed:.1f}s; wrote {files.report_json}, "
        f"{files.trades_csv.name}, {files.equity_csv.name}, report.png, tearsheet.html, run.json"
    )
    return 0


def decisions_line(result: ReplayResult) -> str:
    """How the engine's decisions ended: a replay whose LLM failed every call must not look like a calm hold."""
    stats, usage = result.engine_stats, result.run_stats
    counts = ", ".join(f"{int(stats.get(f'status_{s}', 0))} {s}" for s in ("ok", "rejected", "failed"))
    line = f"decisions: {int(stats.get('decisions', 0))} ({counts})"
    if usage.get("prompt_tokens") or usage.get("cached_decisions"):
        line += (f"; {int(usage.get('cached_decisions', 0))} from the cache; tokens "
                 f"{int(usage.get('prompt_tokens', 0)):,} prompt + {int(usage.get('completion_tokens', 0)):,} completion")
    return line


@contextlib.contextmanager
def _logs_above_the_bar() -> Iterator[None]:
    """Log records go through rich's redirected stderr while the bar is live, so they print above it instead
    of breaking it (a StreamHandler keeps the stream it was built with)."""
    handlers = [h for h in logging.getLogger().handlers
                if type(h) is logging.StreamHandler and h.stream is sys.__stderr__]
    for handler in handlers:
        handler.setStream(sys.stderr)
    try:
        yield
    finally:
        for handler in handlers:
            handler.setStream(sys.__stderr__)


def _cache_size(path: Path) -> int:
    if not path.exists():
        return 0
    from core.decide.jsonl_cache import JsonlDecisionCache

    return len(JsonlDecisionCache(path))


async def record_result(factory: CycleFactory, entry: EngineEntry, report: dict[str, Any], *, oos: bool) -> None:
    """The result under its strategy version in the leaderboard (the bot's SQLite file, DATABASE_PATH)."""
    from bot.leaderboard import record_report

    await record_report(factory, entry, report, oos=oos, source="replay")
