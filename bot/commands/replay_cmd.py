"""`aitrader replay`: the live cycle over history, with a progress bar, the report files and a summary.

report.json, trades.csv, equity.csv, report.png, tearsheet.html and run.json are the contract (DESIGN §4.6),
the same for the same inputs; run-stats.json beside them holds what depends on the run (wall time, speed, LLM tokens and
cache hits). The engine and its settings come from `bot.wiring.CycleFactory`, as for the bot and compare. `--engine llm` goes through a decision cache kept in
`<out>/decision-cache.jsonl`: a re-run asks the model nothing and gets the same decisions.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bot.commands.staged_folder import staged_folder
from bot.wiring import CACHE_FILE, CycleFactory
from core.evaluation.report import ReplayResult
from core.models import iso_z

__all__ = ["CACHE_FILE", "decisions_line", "resolution_line", "run_replay", "summary_table"]


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
        ("trades (positions)", "trades", ""),
        ("legs (partial exits)", "legs", ""),
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


def _unfreezes_gc[**P](command: Callable[P, Awaitable[int]]) -> Callable[P, Awaitable[int]]:
    """The replay freezes the GC heap once it is done (below); a process that goes on (tests, a caller's loop)
    collects as before once the command returns."""

    @functools.wraps(command)
    async def run(*args: P.args, **kwargs: P.kwargs) -> int:
        try:
            return await command(*args, **kwargs)
        finally:
            gc.unfreeze()

    return run


@_unfreezes_gc
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
    news_db: Path | None = None,
    retry_failed: bool = False,
) -> int:
    from bot.commands.replay_folder import (
        intrabar_of,
        kill_switch_line,
        open_market,
        record_result,
        replay_progress,
        run_json,
        write_replay_folder,
    )
    from bot.wiring import CACHE_FILE, parse_engine
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
    if news_db is not None:
        from bot.commands.news_db import check_news_db

        await check_news_db(news_db)
    if folds:
        from bot.commands.walk_forward_cmd import run_walk_forward_entry

        return await run_walk_forward_entry(factory, market, entry, symbols, first, last, initial_equity, folds, out,
                                            news_db)
    cache_file = out / CACHE_FILE
    cached_before = _cache_size(cache_file)

    console = Console(stderr=True)
    started = time.perf_counter()
    done = [0, len(steps)]
    try:
        with replay_progress(console) as progress:
            task = progress.add_task("replay", total=None)

            def on_progress(count: int, total: int) -> None:
                done[:] = [count, total]
                progress.update(task, completed=count, total=total)

            from bot.commands.news_db import news_reader
            from core.clock import SimulatedClock

            clock = SimulatedClock(first)
            with _logs_above_the_bar():
                async with news_reader(news_db, factory.settings, clock) as sentiment:
                    result = await factory.replay(market, entry, symbols, first, last, initial_equity, cache_dir=out,
                                                  progress=on_progress, clock=clock, sentiment=sentiment,
                                                  retry_failed=retry_failed)
                    news = getattr(sentiment, "provenance", None)
        # what the replay built stays alive until the report is written: without this a full collection over it
        # lands while the report is drawn (~0.1 CPU-s, bench/replay_steps.py) and frees nothing
        gc.freeze()
        elapsed = time.perf_counter() - started
        stats = {
            **dict(result.run_stats),
            "wall_seconds": round(elapsed, 3),
            "symbol_bars_per_second": round(len(result.step_ms) * len(result.symbols) / elapsed, 1),
            "decision_cache_entries_before": cached_before,
            "decision_cache_entries_after": _cache_size(cache_file),
            "alerts": list(result.alerts),
        }
        async with staged_folder(out) as staging:  # a finished report or none: never a half-written folder
            run = run_json(factory, entry, result, market, "replay", news)
            files = await write_replay_folder(result, staging, market, run=run, stats=stats)
    except (asyncio.CancelledError, KeyboardInterrupt):
        console.print(interrupted_line(out, *done), markup=False, highlight=False, soft_wrap=True)
        return 130
    report = build_report(result)
    await record_result(factory, entry, report, oos=False, source="replay")
    stdout = Console()
    stdout.print(summary_table(result, report))
    stdout.print(decisions_line(result))
    # on stderr: which bars stops and targets were resolved on, and what the kill-switch did
    console.print(resolution_line(intrabar_of(result)) + (" (baselines trade at 1h opens)"
                  if entry.kind == "baseline" else ""))
    line = kill_switch_line(entry.name, report)
    if line:
        console.print(line)
    stdout.print(
        f"{len(result.step_ms)} bars × {len(result.symbols)} symbols in {elapsed:.1f}s; wrote "
        f"{out / files.report_json.name}, "
        f"{files.trades_csv.name}, {files.equity_csv.name}, report.png, tearsheet.html, run.json"
    )
    return 0


def resolution_line(intrabar: dict[str, str]) -> str:
    """`stops and targets resolved on 5m bars`, or per symbol when they differ: `… on 5m bars (BTC/USDT:USDT),
    1h bars (XRP/USDT:USDT: no finer bars covering the window)`."""
    labels = sorted(set(intrabar.values()), key=lambda label: (label[-1] != "m", int(label[:-1])))
    if len(labels) <= 1:
        return f"stops and targets resolved on {labels[0] if labels else '1h'} bars"
    parts = []
    for label in labels:
        names = ", ".join(s for s, v in intrabar.items() if v == label)
        why = ": no finer bars covering the window" if label.endswith(("h", "d")) else ""
        parts.append(f"{label} bars ({names}{why})")
    return "stops and targets resolved on " + ", ".join(parts)


def interrupted_line(out: Path, done: int, total: int) -> str:
    where = f"after {done:,} of {total:,} bars" if done else "before the first bar"
    earlier = " (the report already there is from an earlier run)" if (out / "report.json").exists() else ""
    return f"replay interrupted {where}: no report written to {out}{earlier}"


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
