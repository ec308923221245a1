"""In-memory DecisionLog and TradeHistory for replay and tests (same behaviour as the SQLite repos)."""

from __future__ import annotations

from collections import Counter

from core.protocols import CycleRecord


class MemoryDecisionLog:
    def __init__(self, keep_snapshots: bool = True) -> None:
        self._records: dict[tuple[str, str], CycleRecord] = {}
        self._by_signal: dict[str, CycleRecord] = {}
        self._counts: Counter[str] = Counter()
        self._keep_snapshots = keep_snapshots

    async def cycle_done(self, cycle_id: str, symbol: str) -> bool:
        return (cycle_id, symbol) in self._records

    async def record_cycle(self, entry: CycleRecord) -> None:
        verdict = entry.verdict
        if verdict is not None:
            self._counts["approved" if verdict.approved else str(verdict.reason)] += 1
        if entry.error is None and (verdict is None or not verdict.approved) and not self._keep_snapshots:
            entry = CycleRecord(entry.cycle_id, entry.symbol, entry.as_of, None, entry.record, verdict, entry.signal_id)
        self._records[(entry.cycle_id, entry.symbol)] = entry
        self._by_signal[entry.signal_id] = entry

    async def signal(self, signal_id: str) -> CycleRecord | None:
        return self._by_signal.get(signal_id)

    async def guard_counts(self) -> dict[str, int]:
        return dict(self._counts)

    def records(self) -> list[CycleRecord]:
        return list(self._records.values())
