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
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np

from core.evaluation.metrics import compute_metrics
from core.models import ClosedTrade, iso_z


@dataclass(frozen=True, slots=True)
class LeaderboardResult:
    version: str
    engine: str
    model: str | None
    source: str  # replay | compare | walk_forward | sweep | paper | arena
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


@dataclass(frozen=True, slots=True)
class Board:
    rows: tuple[LeaderboardResult, ...]
    live_version: str | None  # the version the bot's channel runs now (None outside the bot)


class PaperHistory(Protocol):
    async def closed_trades(self, since: datetime | None = None) -> list[ClosedTrade]: ...

    async def equity_curve(self, since: datetime | None = None) -> list[tuple[datetime, float]]: ...


@dataclass(frozen=True, slots=True)
class LiveBook:
    """The bot's own track record, recorded under the version the channel runs (source "paper", oos: it only
    ever saw data that came after it was configured)."""

    version: str
    engine: str
    model: str | None
    symbols: tuple[str, ...]
    initial_equity: float
    history: PaperHistory
    source: str = "paper"  # "arena": an arena contestant's own paper book (#15)


class LeaderboardService:
    """What `/leaderboard` and `aitrader leaderboard` ask: the recorded versions, ranked."""

    def __init__(self, store: LeaderboardStore, live_version: str | None = None, live: LiveBook | None = None,
                 contestants: Sequence[LiveBook] = ()) -> None:
        self._store = store
        self.live_version = live.version if live is not None else live_version
        self._live = live
        self._contestants = tuple(contestants)

    async def board(self, limit: int = 10) -> Board:
        await self.record_live_book()
        return Board(tuple(await self.ranked(limit)), self.live_version)

    async def record_live_book(self) -> LeaderboardResult | None:
        """The live book's figures so far: equity marked once a day (its last mark of each UTC day), Sharpe
        annualised over 365 days; trades are its closed positions. None until it has two days of marks.
        Each arena contestant's book is recorded the same way, under its own version."""
        for contestant in self._contestants:
            await self._record_book(contestant)
        return None if self._live is None else await self._record_book(self._live)

    async def _record_book(self, live: LiveBook) -> LeaderboardResult | None:
        points = await live.history.equity_curve()
        daily: dict[str, tuple[datetime, float]] = {}
        for moment, value in points:
            daily[moment.astimezone(UTC).strftime("%Y-%m-%d")] = (moment, float(value))
        if len(daily) < 2:
            return None
        marks = [daily[d] for d in sorted(daily)]
        equity = np.array([live.initial_equity] + [v for _, v in marks])
        step_ms = np.array([int(marks[0][0].timestamp() * 1000) - 86_400_000] + [int(t.timestamp() * 1000) for t, _ in marks])
        metrics = compute_metrics(initial_equity=live.initial_equity, equity=equity,
                                  trades=await live.history.closed_trades(), bar_seconds=86_400, step_ms=step_ms)
        result = result_from_metrics(
            version=live.version, engine=live.engine, model=live.model, source=live.source, symbols=live.symbols,
            start=iso_z(marks[0][0]), end=iso_z(marks[-1][0]), oos=True, metrics=metrics,
        )
        # one row per version for the live book: its window grows, so older rows of it are replaced
        forget = getattr(self._store, "forget", None)
        if forget is not None:
            await forget(live.version, live.source)
        await self._store.record(result)
        return result

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

    async def forget(self, version: str, source: str) -> None:
        self._rows = {k: v for k, v in self._rows.items() if not (v.version == version and v.source == source)}

    async def results(self) -> list[LeaderboardResult]:
        return list(self._rows.values())
