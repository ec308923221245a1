"""`--folds N` on replay and compare: anchored walk-forward through the same factory (core.evaluation.walk_forward).

Parameter grids searched on each training part: a baseline's declared grid (ema_cross fast × slow, tsmom
lookback_days), the rules engine's entry_threshold; LLM and ensemble entries have none searched (every
training replay would be paid model calls) and are measured on the test parts only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bot.wiring import CycleFactory, EngineEntry
from core.evaluation.report import ReplayResult

RULES_GRID: Mapping[str, Sequence[object]] = {"entry_threshold": (0.35, 0.45, 0.55)}


def grid_of(factory: CycleFactory, entry: EngineEntry) -> Mapping[str, Sequence[object]]:
    given = {k for k, _ in entry.overrides}
    if entry.kind == "baseline":
        grid = dict(factory.baseline_engine(entry).grid)
    elif entry.kind == "rules":
        grid = dict(RULES_GRID)
    else:
        grid = {}
    return {k: v for k, v in grid.items() if k not in given}  # a value the user fixed is not searched


async def walk_forward_entry(
    factory: CycleFactory,
    market: Any,
    entry: EngineEntry,
    symbols: tuple[str, ...],
    start: datetime,
    end: datetime,
    initial_equity: float,
    folds: int,
    cache_dir: Path,
    *,
    clock: Any = None,
    sentiment: Any = None,
) -> ReplayResult:
    """`sentiment` (`--news-db`): the recorded news every part reads point-in-time, on `clock` (its analyst's)."""
    from core.evaluation.baseline_replay import full_symbol_bars
    from core.evaluation.replay import plan_steps, standard_baselines
    from core.evaluation.walk_forward import walk_forward
    from core.market.timeframes import from_ms

    spec = factory.replay_spec(entry, symbols, start, end, initial_equity)
    steps = plan_steps(market, spec)

    async def run_part(params: Mapping[str, object], first_ms: int, last_ms: int, equity: float) -> ReplayResult:
        part = entry.with_overrides({k: str(v) for k, v in params.items()})
        return await factory.replay(market, part, symbols, from_ms(first_ms), from_ms(last_ms), equity,
                                    cache_dir=cache_dir, clock=clock, sentiment=sentiment)

    def baselines(step_ms: Any) -> Any:
        bars = [full_symbol_bars(market, s, spec.base_timeframe) for s in symbols]
        return standard_baselines(bars, step_ms, spec)

    stitched, block = await walk_forward(steps, folds, grid_of(factory, entry), run_part, initial_equity, baselines)
    return dataclasses.replace(stitched, walk_forward=block)


def _pct(value: object) -> str:
    return "n/a" if not isinstance(value, (int, float)) else f"{value:+.2f} %"


def _num(value: object) -> str:
    return "n/a" if not isinstance(value, (int, float)) else f"{value:.2f}"


def folds_table(name: str, block: Mapping[str, Any]) -> Table:
    table = Table(title=f"Walk-forward {name} · {block['scheme']}, out-of-sample parts only")
    for column in ("fold", "test window", "params", "return", "Sharpe", "max DD", "trades"):
        table.add_column(column, justify="left" if column in ("fold", "test window", "params") else "right")
    for i, fold in enumerate(block["folds"], 1):
        m = fold["metrics"]
        params = ", ".join(f"{k}={v}" for k, v in fold["params"].items()) or "—"
        table.add_row(str(i), f"{fold['test'][0][:10]} → {fold['test'][1][:10]}", params, _pct(m["total_return_pct"]),
                      _num(m["sharpe"]), _num(m["max_drawdown_pct"]) + " %", str(m["positions"]))
    oos = block["oos"]
    table.add_row("OOS", "stitched", "", _pct(oos["total_return_pct"]), _num(oos["sharpe"]),
                  _num(oos["max_drawdown_pct"]) + " %", str(oos["positions"]), style="bold")
    return table


async def run_walk_forward_entry(
    factory: CycleFactory,
    market: Any,
    entry: EngineEntry,
    symbols: tuple[str, ...],
    start: datetime,
    end: datetime,
    initial_equity: float,
    folds: int,
    out: Path,
    news_db: Path | None = None,
) -> int:
    """`aitrader replay --folds N`: the stitched out-of-sample report in OUT, per-fold figures in it."""
    import time

    from bot.commands.news_db import news_reader
    from bot.commands.replay_folder import record_result, run_json, write_replay_folder
    from core.clock import SimulatedClock
    from core.evaluation.report import build_report

    started = time.perf_counter()
    clock = SimulatedClock(start)
    async with news_reader(news_db, factory.settings, clock) as sentiment:
        result = await walk_forward_entry(factory, market, entry, symbols, start, end, initial_equity, folds, out,
                                          clock=clock, sentiment=sentiment)
        news = getattr(sentiment, "provenance", None)
    elapsed = time.perf_counter() - started
    await write_replay_folder(result, out, market, run=run_json(factory, entry, result, market, "replay --folds", news),
                              stats={"wall_seconds": round(elapsed, 3)})
    report = build_report(result)
    await record_result(factory, entry, report, oos=True, source="walk_forward")
    console = Console(width=max(Console().width, 120))
    console.print(folds_table(entry.name, report["walk_forward"]))  # type: ignore[arg-type]
    console.print(f"{folds} folds in {elapsed:.1f}s; wrote {out / 'report.json'} (metrics: out-of-sample only)")
    return 0
