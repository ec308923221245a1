"""The replay's decision log: counts, not one record per symbol-bar (a 64-symbol year is 560 k records).

It answers the DecisionLog protocol for the cycle as core.services.memory_log.MemoryDecisionLog does, but
keeps only the current cycle's records (the cycle asks `cycle_done` for the hour it runs, and a replay never
goes back) and the approved ones (an entry's announcement and the report's regime at entry read them);
everything else is folded into a DecisionTally as soon as the next cycle starts. A caller that wants
every record passes a MemoryDecisionLog to run_replay_cycle instead and tallies its records().
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from core.protocols import CycleRecord


@dataclass(slots=True)
class DecisionTally:
    """Decision counts for report.json (statuses, effective actions) and LLM usage for run-stats.json."""

    statuses: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: int = 0

    def add(self, entry: CycleRecord) -> None:
        record = entry.record
        if record is None:
            return
        self.statuses[record.status] += 1
        self.actions[record.effective.action.value] += 1
        self.prompt_tokens += record.usage.prompt_tokens
        self.completion_tokens += record.usage.completion_tokens
        self.cached += int(record.cached)

    @classmethod
    def of(cls, entries: Iterable[CycleRecord]) -> DecisionTally:
        tally = cls()
        for entry in entries:
            tally.add(entry)
        return tally


def approved_records(entries: Iterable[CycleRecord]) -> list[CycleRecord]:
    return [e for e in entries if e.verdict is not None and e.verdict.approved]


class CountingDecisionLog:
    def __init__(self) -> None:
        self._cycle_id = ""
        self._current: dict[str, CycleRecord] = {}  # symbol -> record, of the cycle being run
        self._approved: dict[str, CycleRecord] = {}  # signal id -> record
        self._counts: Counter[str] = Counter()
        self._tally = DecisionTally()

    def _fold(self) -> None:
        for entry in self._current.values():
            self._tally.add(entry)
        self._current.clear()

    async def cycle_done(self, cycle_id: str, symbol: str) -> bool:
        return cycle_id == self._cycle_id and symbol in self._current

    async def record_cycle(self, entry: CycleRecord) -> None:
        verdict = entry.verdict
        if verdict is not None:
            self._counts["approved" if verdict.approved else str(verdict.reason)] += 1
        if entry.cycle_id != self._cycle_id:
            self._fold()
            self._cycle_id = entry.cycle_id
        self._current[entry.symbol] = entry  # a second record of the same turn replaces the first
        if verdict is not None and verdict.approved:
            self._approved[entry.signal_id] = entry
        else:
            self._approved.pop(entry.signal_id, None)

    async def signal(self, signal_id: str) -> CycleRecord | None:
        return self._approved.get(signal_id) or next(
            (e for e in self._current.values() if e.signal_id == signal_id), None
        )

    async def guard_counts(self) -> dict[str, int]:
        return dict(self._counts)

    def tally(self) -> DecisionTally:
        self._fold()
        return self._tally

    def approved(self) -> list[CycleRecord]:
        return list(self._approved.values())


__all__ = ["CountingDecisionLog", "DecisionTally", "approved_records"]
