"""A sweep: a grid of settings × symbol sets × windows, each cell one replay (DESIGN §4.8).

Cells are planned here, run by whatever executor the caller hands them to (local processes or a Dask
cluster: `bot.commands.sweep_cmd`), and each finished cell is written atomically to `DIR/cells/<key>.json`,
keyed by a stable hash of everything that decides its result (engine, every effective setting, symbols,
window, data folder, initial equity). A re-run of the same command finds those files and runs only the
missing cells; a file torn by a kill never exists (write to a temporary name, then rename), and one that
does not parse or names another key is simply run again.

`DIR/sweep.csv` and `DIR/sweep.json` are rebuilt from the cell files of the current grid, ranked by Sharpe,
with the deflated Sharpe ratio of the best cell (core.evaluation.deflated_sharpe) so the best of N is not
read as an edge.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from core.errors import UserInputError
from core.evaluation.deflated_sharpe import ReturnStats, deflated_sharpe_ratio, expected_max_sharpe
from core.models import iso_z

CELL_FORMAT = 1  # bump when a cell's result would change for the same inputs (invalidates old cell files)
CELLS_FOLDER = "cells"
REQUIRED_FIELDS = frozenset({"key", "engine", "version", "overrides", "symbols", "start", "end", "metrics",
                             "return_stats"})
DSR_THRESHOLD = 0.95
METRIC_COLUMNS = (
    "final_equity",
    "total_return_pct",
    "cagr_pct",
    "max_drawdown_pct",
    "sharpe",
    "sortino",
    "calmar",
    "win_rate",
    "profit_factor",
    "trades",
    "positions",
    "legs",
    "expectancy",
    "avg_hold_hours",
    "exposure_pct",
    "fees_paid",
    "funding_paid",
)


@dataclass(frozen=True, slots=True)
class SweepCell:
    """One replay of a sweep. `engine` and `overrides` are what `bot.wiring` builds the strategy from
    (an engine as DESIGN §4.1, setting names as in .env.example, lower case); `version` and `descriptor`
    are that strategy's version (§4.8) as the planner's settings make it, so the key changes whenever a
    setting that changes decisions does; `extra` holds what changes the result without being a decision
    setting (the kill-switch resume policy)."""

    engine: str
    overrides: tuple[tuple[str, str], ...]  # the grid's values for this cell, sorted by key
    symbols: tuple[str, ...]
    start: datetime
    end: datetime
    version: str = ""
    descriptor: Mapping[str, Any] = field(default_factory=dict)
    data: str = ""
    initial_equity: float = 10_000.0
    extra: Mapping[str, Any] = field(default_factory=dict)
    folds: int = 0  # > 0: the cell is an anchored walk-forward and its metrics are out-of-sample only
    news_db: str = ""  # `--news-db`: the recorded news file the worker opens (the path travels, not a connection)
    news_digest: str = ""  # what of it the window can see (MemoryNewsStore.fingerprint at `end`): in the key

    def identity(self) -> dict[str, object]:
        # without news the key is what it always was: earlier sweep folders keep their finished cells
        news = {"news": self.news_digest} if self.news_db else {}
        return {
            **news,
            "format": CELL_FORMAT,
            "folds": self.folds,
            "engine": self.engine,
            "version": self.version,
            "descriptor": dict(self.descriptor),
            "extra": dict(self.extra),
            "symbols": list(self.symbols),
            "start": iso_z(self.start),
            "end": iso_z(self.end),
            "data": self.data,
            "initial_equity": self.initial_equity,
        }

    @property
    def key(self) -> str:
        text = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def parse_grid(items: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """`["MIN_CONFIDENCE=0.55,0.6", "risk_per_trade_pct=1,2"]` → lower-case key → values in the given order.
    Whether a key is a setting and a value valid is for the strategy factory to say (bot.wiring)."""
    grid: dict[str, tuple[str, ...]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip().lower()
        parsed = tuple(v.strip() for v in values.split(",") if v.strip())
        if not sep or not key or not parsed:
            raise UserInputError(f"--grid: {item!r} must look like KEY=V1,V2 (e.g. MIN_CONFIDENCE=0.55,0.6)")
        if key in grid:
            raise UserInputError(f"--grid: {key} is given twice")
        if len(set(parsed)) != len(parsed):
            raise UserInputError(f"--grid: {key} repeats a value: {values.strip()}")
        grid[key] = parsed
    return grid


Describe = Callable[[str, tuple[tuple[str, str], ...]], tuple[str, Mapping[str, Any], Mapping[str, Any]]]


def split_windows(start: datetime, end: datetime, count: int, step: timedelta = timedelta(hours=1)) -> list[
        tuple[datetime, datetime]]:
    """[start, end] cut into `count` consecutive windows of (nearly) equal length on base-bar boundaries;
    each window starts one bar after the previous one ends, so no bar is counted twice."""
    if count < 1:
        raise UserInputError(f"--windows: must be >= 1, got {count}")
    span = end - start
    bars = int(span / step)
    if bars < 2 * count:
        raise UserInputError(f"--windows: {start:%Y-%m-%dT%H:%MZ} → {end:%Y-%m-%dT%H:%MZ} is too short for {count} windows")
    edges = [start + step * round(bars * i / count) for i in range(count + 1)]
    return [(edges[i] if i == 0 else edges[i] + step, edges[i + 1]) for i in range(count)]


def plan_cells(
    *,
    engine: str,
    grid: Mapping[str, Sequence[str]],
    symbol_sets: Sequence[tuple[str, ...]],
    windows: Sequence[tuple[datetime, datetime]],
    describe: Describe,
    data: str,
    initial_equity: float,
    folds: int = 0,
) -> list[SweepCell]:
    """Every cell, grouped by (window, symbols) so a worker can reuse one window's indicators.
    `describe(engine, overrides)` → (version id, version descriptor, extra identity); it also validates."""
    keys = sorted(grid)
    combos = list(itertools.product(*(grid[k] for k in keys))) if keys else [()]
    described = {}
    for combo in combos:
        overrides = tuple(zip(keys, combo, strict=True))
        described[overrides] = describe(engine, overrides)
    cells = []
    for start, end in windows:
        for symbols in symbol_sets:
            for overrides, (version, descriptor, extra) in described.items():
                cells.append(SweepCell(engine, overrides, symbols, start, end, version, descriptor, data,
                                       initial_equity, extra, folds))
    seen: dict[str, SweepCell] = {}
    for cell in cells:
        other = seen.setdefault(cell.key, cell)
        if other is not cell:
            raise UserInputError(f"--grid: {dict(other.overrides)} and {dict(cell.overrides)} are the same strategy "
                                 "(the values are equal, or the setting changes no decision)")
    return cells


class CellStore:
    """Finished cells as one JSON file each under DIR/cells/, written atomically."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def load(self, key: str) -> dict[str, Any] | None:
        try:
            data = json.loads(self.path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("key") != key or not data.keys() >= REQUIRED_FIELDS:
            return None  # not this cell, or not a whole result: run it again
        stats = data["return_stats"]
        if not isinstance(data["metrics"], dict) or not isinstance(stats, dict) or "sharpe_per_bar" not in stats:
            return None
        return data

    def finished(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        out = {}
        for key in keys:
            data = self.load(key)
            if data is not None:
                out[key] = data
        return out

    def write(self, result: Mapping[str, Any]) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.path(str(result["key"]))
        temporary = self.folder / f".{result['key']}.{os.getpid()}.tmp"
        with temporary.open("w", encoding="utf-8") as handle:
            handle.write(json.dumps(result, sort_keys=True, indent=1, allow_nan=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
        return target


def cell_result(cell: SweepCell, report: Mapping[str, Any], stats: ReturnStats,
                news: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What a finished cell keeps: its identity, the report's metrics (DESIGN §4.6), the return moments
    the deflated Sharpe ratio needs, and the `news` block of replay's run.json when it read recorded news."""
    metrics = {k: v for k, v in dict(report["metrics"]).items() if k not in ("calibration", "exits_by_reason")}
    return {
        "key": cell.key,
        "engine": cell.engine,
        "overrides": {k: v for k, v in cell.overrides},
        "symbols": list(cell.symbols),
        "start": report["start"],
        "end": report["end"],
        "metrics": metrics,
        "version": cell.version,
        "buy_and_hold": {k: report["baselines"].get("buy_and_hold", {}).get(k) for k in ("total_return_pct", "sharpe")},
        "guard": {"approved": report["guard"]["approved"], "rejected": report["guard"]["rejected"]},
        "return_stats": {"sharpe_per_bar": stats.sharpe, "skew": stats.skew, "kurtosis": stats.kurtosis,
                         "n": stats.n},
        "identity": cell.identity(),
        **({"walk_forward": report["walk_forward"]} if "walk_forward" in report else {}),
        **({"news": dict(news)} if news is not None else {}),
    }


def rank_value(result: Mapping[str, Any]) -> float | None:
    """The Sharpe a cell is ranked by: out-of-sample when the cell was walked forward, else the window's."""
    wf = result.get("walk_forward")
    if isinstance(wf, Mapping) and isinstance(wf.get("oos"), Mapping):
        return wf["oos"].get("sharpe")
    return result["metrics"].get("sharpe")


def ranked(results: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Best Sharpe first; cells without a Sharpe (no variation: never traded) last; ties by key."""
    def order(r: Mapping[str, Any]) -> tuple[int, float, str]:
        value = rank_value(r)
        return (1, 0.0, r["key"]) if value is None else (0, -float(value), r["key"])

    return sorted(results, key=order)


def _csv_value(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6f}"
    return value


def write_sweep_csv(path: Path, rows: Sequence[Mapping[str, Any]], grid_keys: Sequence[str]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("rank", "key", "engine", *grid_keys, "symbols", "start", "end", *METRIC_COLUMNS))
        for rank, row in enumerate(rows, start=1):
            metrics = row["metrics"]
            writer.writerow(
                (
                    rank,
                    row["key"],
                    row["engine"],
                    *(_csv_value(row["overrides"].get(k)) for k in grid_keys),
                    ",".join(row["symbols"]),
                    row["start"],
                    row["end"],
                    *(_csv_value(metrics.get(m)) for m in METRIC_COLUMNS),
                )
            )


def sweep_summary(rows: Sequence[Mapping[str, Any]], grid: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """sweep.json: the cell count, the best cell, and its deflated Sharpe ratio among all cells tried."""
    trial_sharpes = [
        float(r["return_stats"]["sharpe_per_bar"]) for r in rows if r["return_stats"]["sharpe_per_bar"] is not None
    ]
    best = rows[0] if rows and rank_value(rows[0]) is not None else None
    dsr = None
    detail: dict[str, Any] = {
        "method": "deflated Sharpe ratio (Bailey & López de Prado, 2014, J. Portfolio Management 40(5))",
        "trials": len(trial_sharpes),
        "threshold": DSR_THRESHOLD,
    }
    if best is not None:
        s = best["return_stats"]
        stats = ReturnStats(s["sharpe_per_bar"], s["skew"], s["kurtosis"], s["n"])
        dsr = deflated_sharpe_ratio(stats, trial_sharpes)
        detail.update(
            best_sharpe_per_bar=stats.sharpe,
            expected_max_sharpe_per_bar=expected_max_sharpe(trial_sharpes),
            bars=stats.n,
            skew=stats.skew,
            kurtosis=stats.kurtosis,
        )
    if dsr is None:
        verdict = "no cell has a defined Sharpe ratio: nothing to select"
    elif dsr >= DSR_THRESHOLD:
        verdict = (f"the best cell's Sharpe survives selection among {len(trial_sharpes)} cells "
                   f"(DSR {dsr:.3f} ≥ {DSR_THRESHOLD}); still one history, not a promise")
    else:
        verdict = (f"the best of {len(trial_sharpes)} cells is indistinguishable from luck of the draw "
                   f"(DSR {dsr:.3f} < {DSR_THRESHOLD}): not evidence of an edge")
    detail["verdict"] = verdict
    best_out = None
    if best is not None:
        best_out = {
            "key": best["key"],
            "engine": best["engine"],
            "version": best.get("version"),
            "settings": best["overrides"],
            "symbols": best["symbols"],
            "window": [best["start"], best["end"]],
            "metrics": best["metrics"],
            "ranked_by": "oos_sharpe" if isinstance(best.get("walk_forward"), Mapping) else "sharpe",
        }
    return {
        "cells": len(rows),
        "grid": {k: list(v) for k, v in grid.items()},
        "best": best_out,
        "deflated_sharpe": dsr,
        "deflated_sharpe_detail": detail,
        "ranking": [{"rank": i, "key": r["key"], "sharpe": rank_value(r)} for i, r in enumerate(rows, start=1)],
    }


__all__ = [
    "CELLS_FOLDER",
    "METRIC_COLUMNS",
    "CellStore",
    "Describe",
    "SweepCell",
    "cell_result",
    "parse_grid",
    "plan_cells",
    "rank_value",
    "ranked",
    "split_windows",
    "sweep_summary",
    "write_sweep_csv",
]
