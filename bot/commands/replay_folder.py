"""One replay folder (DESIGN §4.6) written the same way by replay, replay --folds and compare: the report files,
report.png, run.json (inputs, reproducible) and run-stats.json (run-dependent), and its leaderboard record."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
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

from bot.commands.staged_folder import in_thread
from bot.wiring import CycleFactory, EngineEntry
from core.errors import UserInputError
from core.evaluation.report import ReplayResult


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
    from core.evaluation.report import timeframe_label

    ms = int(result.engine_stats.get("intrabar_timeframe_ms", result.bar_seconds * 1000))
    return {s: timeframe_label(int(result.intrabar_ms.get(s, ms))) for s in result.symbols}


def run_json(factory: CycleFactory, entry: EngineEntry, result: ReplayResult, market: Any, command: str,
             news: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """run.json: the inputs that make the run reproducible (bot.provenance), the same for the same inputs; `news`,
    the recorded news it read (`--news-db`, news_db.news_provenance)."""
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
        extra={"engine": entry.engine, "version": version.id, "strategy": dict(version.descriptor),
               **({"news": dict(news)} if news else {})},
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

    report = build_report(result)
    files = await in_thread(write_report, result, out, report)
    window = ReplaySpec(symbols=result.symbols, start=result.start, end=result.end, engine=result.engine)
    await in_thread(render_report_chart, result, out / "report.png", close_prices(market, window))
    await in_thread(lambda: render_tearsheet(result, report, out / "tearsheet.html", report_png=out / "report.png"))
    for name, payload in (("run.json", run), ("run-stats.json", stats)):
        text = json.dumps(payload, sort_keys=True, indent=2, default=str) + "\n"
        await in_thread((out / name).write_text, text, "utf-8")
    return files


async def record_result(
    factory: CycleFactory, entry: EngineEntry, report: dict[str, Any], *, oos: bool, source: str
) -> None:
    """The result under its strategy version in the leaderboard (the bot's SQLite file, DATABASE_PATH)."""
    from bot.leaderboard import record_report

    await record_report(factory, entry, report, oos=oos, source=source)


def kill_switch_line(name: str, report: dict[str, Any]) -> str | None:
    """One line saying what the drawdown kill-switch did in a replay (None when it never fired)."""
    kill = report.get("kill_switch") or {}
    if not kill.get("fired"):
        return None
    first = kill["events"][0]
    resumed = sum(1 for e in kill["events"] if e["resumed"])
    return (
        f"{name}: kill-switch fired {kill['fired']}× (first {first['paused'][:16]}Z), {resumed} resumed, "
        f"{kill['bars_paused']} of {kill['bars']} bars paused; policy: {kill['policy']}"
    )
