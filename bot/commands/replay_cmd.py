"""`aitrader replay`: the live cycle over history, with a progress bar, the report files and a summary.

report.json, trades.csv, equity.csv and report.png are the contract (DESIGN §4.6); run.json beside them
holds what depends on the run rather than the inputs (wall time, speed, LLM tokens and cache hits), so
report.json stays byte-identical between runs. `--engine llm` goes through a decision cache kept in
`<out>/decision-cache.jsonl`: a re-run asks the model nothing and gets the same decisions.
"""

from __future__ import annotations

import asyncio
import json
import time
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

from core.clock import SimulatedClock
from core.decide.cache import record_from_json, record_to_json
from core.errors import UserInputError
from core.evaluation.report import ReplayResult
from core.models import DecisionRecord, iso_z
from core.protocols import DecisionEngine

CACHE_FILE = "decision-cache.jsonl"


class JsonlDecisionCache:
    """The decision cache as an append-only JSON-lines file: one {"key", "record"} object per line.

    Read whole at start (a replay's worth is a few MB); a torn last line from a killed run is skipped.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._records: dict[str, dict[str, Any]] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    item = json.loads(line)
                    self._records[str(item["key"])] = item["record"]
                except (ValueError, KeyError, TypeError):
                    continue

    def __len__(self) -> int:
        return len(self._records)

    async def get(self, key: str) -> DecisionRecord | None:
        data = self._records.get(key)
        return None if data is None else record_from_json(data)

    async def put(self, key: str, record: DecisionRecord) -> None:
        if record.status == "failed" or key in self._records:
            return
        data = record_to_json(record)
        self._records[key] = data
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with self._path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"key": key, "record": data}, sort_keys=True) + "\n")


def build_replay_engine(kind: str, out: Path, clock: SimulatedClock) -> tuple[DecisionEngine, JsonlDecisionCache | None]:
    from core.decide.engines import build_engine

    if kind == "rules":
        return build_engine("rules"), None
    from bot.settings import load_settings

    settings = load_settings()
    if kind == "trend":
        return build_engine("trend", trend_params=settings.trend_params()), None
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key is not None else None
    cache = JsonlDecisionCache(out / CACHE_FILE)
    engine = build_engine(kind, llm_config=settings.llm_config(), api_key=key, cache=cache, clock=clock)
    return engine, cache


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


async def run_replay(
    data: Path,
    symbols: tuple[str, ...],
    start: datetime,
    end: datetime,
    engine: str,
    out: Path,
    initial_equity: float,
) -> int:
    from bot.reports.report_chart import render_report_chart
    from core.evaluation.replay import ReplaySpec, close_prices, plan_steps, run_replay_cycle
    from core.evaluation.report import build_report, write_report
    from core.market.offline import OfflineMarketData
    from core.market.timeframes import from_ms

    await asyncio.to_thread(_check_paths, data, out)
    market = await asyncio.to_thread(OfflineMarketData, data)
    available = market.symbol_list()
    unknown = [s for s in symbols if s not in available]
    if unknown:
        raise UserInputError(
            f"--symbols: no data for {', '.join(unknown)} in {data} (have: {', '.join(available) or 'none'})"
        )
    spec = ReplaySpec(symbols=symbols, start=start, end=end, engine=engine, initial_equity=initial_equity,
                      **_settings_for_replay())
    steps = plan_steps(market, spec)  # checks the window before anything slow starts
    first, last = from_ms(int(steps[0])), from_ms(int(steps[-1]))
    if (first, last) != (start, end):
        Console(stderr=True).print(f"window clipped to the data: {iso_z(first)} → {iso_z(last)}")
    clock = SimulatedClock(first)
    decision_engine, cache = build_replay_engine(engine, out, clock)
    cached_before = len(cache) if cache is not None else 0

    console = Console(stderr=True)
    started = time.perf_counter()
    with Progress(
        TextColumn("[bold]replay"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("bars"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("replay", total=None)

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        result = await run_replay_cycle(market, spec, decision_engine, progress=on_progress, clock=clock)
    elapsed = time.perf_counter() - started

    files = await asyncio.to_thread(write_report, result, out)
    await asyncio.to_thread(render_report_chart, result, out / "report.png", close_prices(market, spec))
    run = {
        **dict(result.run_stats),
        "wall_seconds": round(elapsed, 3),
        "symbol_bars_per_second": round(len(result.step_ms) * len(result.symbols) / elapsed, 1),
        "decision_cache_entries_before": cached_before,
        "decision_cache_entries_after": len(cache) if cache is not None else 0,
        "alerts": list(result.alerts),
    }
    await asyncio.to_thread(
        (out / "run.json").write_text, json.dumps(run, sort_keys=True, indent=2) + "\n", "utf-8"
    )
    report = build_report(result)
    stdout = Console()
    stdout.print(summary_table(result, report))
    stdout.print(
        f"{len(result.step_ms)} bars × {len(result.symbols)} symbols in {elapsed:.1f}s; wrote {files.report_json}, "
        f"{files.trades_csv.name}, {files.equity_csv.name}, report.png, run.json"
    )
    return 0


def _settings_for_replay() -> dict[str, Any]:
    """Risk limits, costs and the leverage cap from settings (environment / .env), as the live bot uses."""
    from bot.settings import load_settings

    settings = load_settings()
    return {"limits": settings.risk_limits(), "costs": settings.cost_model(), "max_leverage": settings.max_leverage}
