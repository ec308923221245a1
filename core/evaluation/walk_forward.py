"""Walk-forward evaluation (DESIGN §4.6 `walk_forward`): choose on the past, measure on the unseen next part.

Scheme: **anchored**. The window's base-bar steps are cut into N + 1 equal parts; fold k (1..N) trains on
parts 0..k-1 (from the window start) and tests on part k. For an engine with parameters, every point of its
small declared grid is replayed over the training part and the one with the highest Sharpe (ties: the
first in grid order) is replayed over the test part; an engine without parameters is only tested. The
out-of-sample result stitches the test parts only, as one account: fold k's test starts with the equity
fold k-1's test ended with (open positions are closed at each fold's end, exit_reason "end"), so
`final = initial + Σ net_pnl` still holds and nothing of the training parts leaks into the `oos` metrics.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from core.errors import UserInputError
from core.evaluation.baselines import BaselineRun
from core.evaluation.metrics import compute_metrics
from core.evaluation.report import ReplayResult
from core.market.timeframes import from_ms
from core.models import iso_z

SCHEME = "anchored"
MAX_FOLDS = 20
Params = Mapping[str, object]
# replays one part: (params, first step ms, last step ms, initial equity) -> its result
PartRunner = Callable[[Params, int, int, float], Awaitable[ReplayResult]]


@dataclass(frozen=True, slots=True)
class Fold:
    train: tuple[int, int]  # first and last step (as_of ms) of the training part
    test: tuple[int, int]


def plan_folds(steps: np.ndarray, folds: int) -> list[Fold]:
    if not (2 <= folds <= MAX_FOLDS):
        raise UserInputError(f"--folds: must be from 2 to {MAX_FOLDS}, got {folds}")
    n = len(steps)
    if n < (folds + 1) * 48:
        raise UserInputError(f"--folds: {n} bars are too few for {folds} folds (at least 48 bars per part)")
    cuts = [round(i * n / (folds + 1)) for i in range(folds + 2)]
    return [
        Fold(train=(int(steps[0]), int(steps[cuts[k] - 1])), test=(int(steps[cuts[k]]), int(steps[cuts[k + 1] - 1])))
        for k in range(1, folds + 1)
    ]


def grid_points(grid: Mapping[str, Sequence[object]]) -> list[dict[str, object]]:
    if not grid:
        return [{}]
    keys = list(grid)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*(grid[k] for k in keys))]


def metrics_of(result: ReplayResult) -> dict[str, object]:
    return compute_metrics(
        initial_equity=result.initial_equity, equity=result.equity, trades=result.trades,
        bar_seconds=result.bar_seconds, exposure=result.exposure, step_ms=result.step_ms,
    )


def _score(metrics: Mapping[str, object]) -> float:
    sharpe = metrics.get("sharpe")
    return float(sharpe) if isinstance(sharpe, (int, float)) else float("-inf")


async def walk_forward(
    steps: np.ndarray,
    folds: int,
    grid: Mapping[str, Sequence[object]],
    run_part: PartRunner,
    initial_equity: float,
    baselines: Callable[[np.ndarray], tuple[BaselineRun, ...]],
) -> tuple[ReplayResult, dict[str, object]]:
    """(the stitched out-of-sample result, report.json's `walk_forward` block)."""
    plan = plan_folds(steps, folds)
    points = grid_points(grid)
    fold_rows: list[dict[str, object]] = []
    parts: list[ReplayResult] = []
    equity = float(initial_equity)
    for fold in plan:
        chosen: Params = points[0]
        train_scores: list[dict[str, object]] = []
        if len(points) > 1:
            best = float("-inf")
            for point in points:
                score = _score(metrics_of(await run_part(point, *fold.train, initial_equity)))
                train_scores.append({"params": dict(point), "sharpe": score if np.isfinite(score) else None})
                if score > best:
                    best, chosen = score, point
        if equity <= 0:
            raise UserInputError("walk-forward: the account was wiped out in an earlier fold; nothing left to test")
        test = await run_part(chosen, *fold.test, equity)
        parts.append(test)
        equity = float(test.equity[-1])
        fold_rows.append({
            "train": [iso_z(from_ms(fold.train[0])), iso_z(from_ms(fold.train[1]))],
            "test": [iso_z(from_ms(fold.test[0])), iso_z(from_ms(fold.test[1]))],
            "params": dict(chosen),
            "metrics": metrics_of(test),
            "train_grid": train_scores,
        })
    stitched = stitch(parts, initial_equity, baselines)
    block: dict[str, object] = {"scheme": SCHEME, "folds": fold_rows, "oos": metrics_of(stitched), "grid": {k: list(v) for k, v in grid.items()}}
    return stitched, block


def stitch(
    parts: Sequence[ReplayResult], initial_equity: float, baselines: Callable[[np.ndarray], tuple[BaselineRun, ...]]
) -> ReplayResult:
    """The test parts as one account (each started with the previous one's final equity)."""
    first = parts[0]
    step_ms = np.concatenate([p.step_ms for p in parts])
    reasons: Counter[str] = Counter()
    stats: Counter[str] = Counter()
    for p in parts:
        reasons.update(p.guard_reasons)
        stats.update({k: v for k, v in p.engine_stats.items() if k != "intrabar_timeframe_ms"})
    engine_stats: dict[str, int | float] = dict(stats)
    if "intrabar_timeframe_ms" in first.engine_stats:
        engine_stats["intrabar_timeframe_ms"] = max(int(p.engine_stats["intrabar_timeframe_ms"]) for p in parts)
    return ReplayResult(
        engine=first.engine,
        symbols=first.symbols,
        start=parts[0].start,
        end=parts[-1].end,
        initial_equity=initial_equity,
        bar_seconds=first.bar_seconds,
        step_ms=step_ms,
        equity=np.concatenate([p.equity for p in parts]),
        exposure=np.concatenate([p.exposure for p in parts]),
        trades=tuple(t for p in parts for t in p.trades),
        baselines=baselines(step_ms),
        guard_approved=sum(p.guard_approved for p in parts),
        guard_rejected=sum(p.guard_rejected for p in parts),
        guard_reasons=dict(reasons),
        engine_stats=engine_stats,
        settings=first.settings,
        alerts=tuple(a for p in parts for a in p.alerts),
        markers=tuple(m for p in parts for m in p.markers),
        kill_switch={"per_fold": [dict(p.kill_switch) for p in parts if p.kill_switch]},
        intrabar_ms={s: max(int(p.intrabar_ms.get(s, 0)) for p in parts) for s in first.intrabar_ms},
    )


__all__ = ["SCHEME", "Fold", "grid_points", "metrics_of", "plan_folds", "stitch", "walk_forward"]
