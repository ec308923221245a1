"""`aitrader compare` (DESIGN §4.1, §4.8): several engines or configurations over the same window.

Every entry is replayed through `bot.wiring.CycleFactory` (LLM entries through a decision cache in their own
folder, so a re-run is free and identical) into `OUT/NAME/` (a full replay report, DESIGN §4.6); then
`OUT/compare.json`, `OUT/compare.png` and one table. With `--folds N` each entry is walked forward and its
out-of-sample parts are what the table, compare.json and the picture show, with the per-fold spread.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bot.commands.replay_folder import kill_switch_line, open_market, replay_progress, run_json, write_replay_folder
from bot.wiring import CycleFactory, EngineEntry
from core.evaluation.report import ReplayResult, build_report
from core.models import iso_z


def _fmt(value: object, digits: int = 2, suffix: str = "") -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "n/a"
    return f"{value:,.{digits}f}{suffix}"


def _fold_spread(block: Mapping[str, Any] | None) -> str:
    if not block:
        return ""
    values = [f["metrics"].get("total_return_pct") for f in block["folds"]]
    return " ".join("n/a" if v is None else f"{v:+.1f}" for v in values)


def compare_table(rows: Sequence[Mapping[str, Any]], title: str, folds: bool) -> Table:
    table = Table(title=title)
    columns = [
        ("entry", "left"), ("engine", "left"), ("return", "right"), ("CAGR", "right"), ("max DD", "right"),
        ("DD days", "right"), ("Sharpe", "right"), ("Sortino", "right"), ("Calmar", "right"),
        ("win rate", "right"), ("PF", "right"), ("trades (legs)", "right"), ("avg hold h", "right"),
        ("exposure", "right"), ("fees", "right"), ("funding", "right"),
    ]
    if folds:
        columns.append(("return per fold %", "left"))
    for name, justify in columns:
        table.add_column(name, justify=justify, no_wrap=name in ("entry", "engine"))  # type: ignore[arg-type]
    for row in rows:
        m = row["metrics"]
        win = m.get("win_rate")
        cells = [
            row["name"], row["engine"], _fmt(m.get("total_return_pct"), suffix=" %"), _fmt(m.get("cagr_pct"), suffix=" %"),
            _fmt(m.get("max_drawdown_pct"), suffix=" %"), _fmt(m.get("max_drawdown_duration_days"), 0),
            _fmt(m.get("sharpe")), _fmt(m.get("sortino")), _fmt(m.get("calmar")),
            _fmt(None if win is None else win * 100, 1, " %"), _fmt(m.get("profit_factor")),
            f"{m.get('positions', 0)} ({m.get('legs', 0)})", _fmt(m.get("avg_hold_hours"), 1),
            _fmt(m.get("exposure_pct"), 1, " %"), _fmt(m.get("fees_paid"), 0), _fmt(m.get("funding_paid"), 0),
        ]
        if folds:
            cells.append(_fold_spread(row.get("walk_forward")))
        table.add_row(*cells)
    return table


async def run_compare(
    data: Path,
    symbols: tuple[str, ...],
    start: datetime,
    end: datetime,
    entries: Sequence[EngineEntry],
    out: Path,
    initial_equity: float,
    *,
    folds: int = 0,
    factory: CycleFactory | None = None,
    news_db: Path | None = None,
) -> int:
    from bot.leaderboard import record_results, result_of
    from bot.reports.compare_chart import render_compare_chart
    from core.evaluation.replay import plan_steps
    from core.market.timeframes import from_ms

    market = await open_market(data, symbols, out)
    factory = factory or CycleFactory.from_environment()
    for entry in entries:  # every entry's settings (and LLM configuration) checked before anything slow starts
        factory.replay_spec(entry, symbols, start, end, initial_equity)
        factory.version(entry)
        if entry.kind in ("llm", "ensemble"):
            from core.clock import SystemClock

            factory.decision_engine(entry, clock=SystemClock())
    steps = plan_steps(market, factory.replay_spec(entries[0], symbols, start, end, initial_equity))
    first, last = from_ms(int(steps[0])), from_ms(int(steps[-1]))
    console = Console(stderr=True)
    if (first, last) != (start, end):
        console.print(f"window clipped to the data: {iso_z(first)} → {iso_z(last)}")

    from bot.commands.news_db import check_news_db, news_reader
    from core.clock import SimulatedClock

    if news_db is not None:
        await check_news_db(news_db)
    results: list[tuple[str, ReplayResult]] = []
    rows: list[dict[str, Any]] = []
    board = []
    started = time.perf_counter()
    for entry in entries:
        folder = out / entry.name
        folder.mkdir(parents=True, exist_ok=True)
        entry_started = time.perf_counter()
        clock = SimulatedClock(first)  # each entry's own; with --news-db every cycle entry reads the same news
        news = None  # run.json's record of the news the entry read, as replay's
        if folds:
            from bot.commands.walk_forward_cmd import walk_forward_entry

            console.print(f"[bold]{entry.name}[/] walk-forward, {folds} folds …")
            async with news_reader(news_db, factory.settings_for(entry), clock) as sentiment:
                result = await walk_forward_entry(factory, market, entry, symbols, first, last, initial_equity, folds,
                                                  folder, clock=clock, sentiment=sentiment)
                news = getattr(sentiment, "provenance", None)
        elif entry.kind == "baseline":
            result = await factory.replay(market, entry, symbols, first, last, initial_equity)
        else:
            with replay_progress(console, entry.name) as progress:
                task = progress.add_task(entry.name, total=None)
                async with news_reader(news_db, factory.settings_for(entry), clock) as sentiment:
                    result = await factory.replay(
                        market, entry, symbols, first, last, initial_equity, cache_dir=folder, clock=clock,
                        progress=lambda done, total, task=task: progress.update(task, completed=done, total=total),
                        sentiment=sentiment,
                    )
                    news = getattr(sentiment, "provenance", None)
        elapsed = time.perf_counter() - entry_started
        await write_replay_folder(
            result, folder, market,
            run=run_json(factory, entry, result, market, "compare", news),
            stats={**dict(result.run_stats), "wall_seconds": round(elapsed, 3)},
        )
        report = build_report(result)
        version = factory.version(entry)
        row: dict[str, Any] = {
            "name": entry.name,
            "engine": entry.engine,
            "version": version.id,
            "settings": dict(entry.overrides),
            "metrics": report["metrics"],
            "dir": entry.name,
        }
        if "kill_switch" in report:
            row["kill_switch"] = {k: v for k, v in report["kill_switch"].items() if k != "events"}  # type: ignore[union-attr]
        if folds:
            row["walk_forward"] = report["walk_forward"]
        rows.append(row)
        results.append((entry.name, result))
        board.append(result_of(factory, entry, report, oos=bool(folds), source="compare"))
    elapsed = time.perf_counter() - started

    window = (iso_z(results[0][1].start), iso_z(results[0][1].end))
    document = {"symbols": list(symbols), "start": window[0], "end": window[1], "initial_equity": initial_equity,
                "oos": bool(folds), "entries": rows}
    (out / "compare.json").write_text(json.dumps(document, sort_keys=True, indent=2) + "\n", encoding="utf-8")
    title = f"{', '.join(s.split('/')[0] for s in symbols)} · {window[0][:10]} → {window[1][:10]}"
    if folds:
        title += f" · walk-forward {folds} folds, out-of-sample only"
    render_compare_chart(results, out / "compare.png", title)
    await record_results(factory, board)
    stdout = Console(width=max(Console().width, 220))
    stdout.print(compare_table(rows, f"Compare · {title}", bool(folds)))
    for row, (_, result) in zip(rows, results, strict=True):
        line = kill_switch_line(row["name"], build_report(result))
        if line:
            stdout.print(line)
    stdout.print(f"{len(entries)} entries in {elapsed:.1f}s; wrote {out / 'compare.json'}, compare.png and "
                 f"{', '.join(e.name + '/' for e in entries)}")
    return 0
