"""The versioned leaderboard (DESIGN §4.8): results recorded under their strategy version, ranked.

A *strategy version* is engine + model + prompt version + the settings that change decisions, hashed to a
short stable id (`bot.wiring.CycleFactory.version`). Each replay, compare entry, walk-forward (out-of-sample)
and sweep cell records one `LeaderboardResult`; re-recording the same version, source, symbols, window and
oos flag replaces the row, so re-running a command does not count twice. Ranking: Sharpe, highest first
(a version without a Sharpe last), then total return.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class LeaderboardResult:
    version: str
    engine: str
    model: str | None
    source: str  # replay | compare | walk_forward | sweep | paper
    symbols: tuple[str, ...]
    window: tuple[str, str]  # ISO start, ISO end
    oos: bool
    trades: int
    total_return_pct: float | None
    sharpe: float | None
    max_drawdown_pct: float | None
    profit_factor: float | None
    descriptor: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The §4.8 shape of `aitrader leaderboard --json`."""
        return {
            "version": self.version,
            "engine": self.engine,
            "model": self.model,
            "window": list(self.window),
            "oos": self.oos,
            "trades": self.trades,
            "total_return_pct": self.total_return_pct,
            "sharpe": self.sharpe,
            "max_drawdown_pct": self.max_drawdown_pct,
            "profit_factor": self.profit_factor,
            "source": self.source,
            "symbols": list(self.symbols),
        }


def _number(value: object) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    number = float(value)  # type: ignore[arg-type]
    return number if math.isfinite(number) else None


def result_from_metrics(
    *, version: str, engine: str, model: str | None, source: str, symbols: Sequence[str], start: str, end: str,
    oos: bool, metrics: Mapping[str, Any], descriptor: Mapping[str, Any] | None = None,
) -> LeaderboardResult:
    """A result from report metrics (DESIGN §4.6): `trades` counts positions, as everywhere else."""
    return LeaderboardResult(
        version=version, engine=engine, model=model, source=source, symbols=tuple(symbols), window=(start, end),
        oos=oos, trades=int(metrics.get("positions", metrics.get("trades", 0)) or 0),
        total_return_pct=_number(metrics.get("total_return_pct")), sharpe=_number(metrics.get("sharpe")),
        max_drawdown_pct=_number(metrics.get("max_drawdown_pct")),
        profit_factor=_number(metrics.get("profit_factor")), descriptor=descriptor,
    )


def ranked(results: Sequence[LeaderboardResult]) -> list[LeaderboardResult]:
    return sorted(
        results,
        key=lambda r: (r.sharpe is None, -(r.sharpe or 0.0), -(r.total_return_pct or 0.0), r.version, r.window),
    )


class LeaderboardStore(Protocol):
    async def record(self, result: LeaderboardResult) -> None: ...

    async def results(self) -> list[LeaderboardResult]: ...


class LeaderboardService:
    """What `/leaderboard` and `aitrader leaderboard` ask: the recorded versions, ranked."""

    def __init__(self, store: LeaderboardStore) -> None:
        self._store = store

    async def ranked(self, limit: int | None = None) -> list[LeaderboardResult]:
        rows = ranked(await self._store.results())
        return rows if limit is None else rows[:limit]

    async def record(self, result: LeaderboardResult) -> None:
        await self._store.record(result)


class MemoryLeaderboard:
    def __init__(self) -> None:
        self._rows: dict[tuple[object, ...], LeaderboardResult] = {}

    async def record(self, result: LeaderboardResult) -> None:
        self._rows[(result.version, result.source, result.symbols, result.window, result.oos)] = result

    async def results(self) -> list[LeaderboardResult]:
        return list(self._rows.values())
