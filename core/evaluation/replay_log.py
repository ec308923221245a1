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

from core.models import DecisionRecord
from core.protocols import CycleRecord

MAX_REPEATS = 4096  # distinct records held before they are tallied (an LLM engine's are all distinct)


@dataclass(slots=True)
class DecisionTally:
    """Decision counts for report.json (statuses, effective actions) and LLM usage for run-stats.json."""

    statuses: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: int = 0

    def add(self, entry: CycleRecord) -> None:
        if entry.record is not None:
            self.add_record(entry.record)

    def add_record(self, record: DecisionRecord, times: int = 1) -> None:
        self.statuses[record.status] += times
        self.actions[record.effective.action.value] += times
        self.prompt_tokens += record.usage.prompt_tokens * times
        self.completion_tokens += record.usage.completion_tokens * times
        self.cached += int(record.cached) * times

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
        # records folded but not yet tallied, by identity: an engine hands out the same hold record for the same
        # reading (the rules engine's few hundred), so most symbol-bars are one dict increment; bounded
        self._repeats: dict[int, list] = {}  # id(record) -> [record, times]

    def _fold(self) -> None:
        repeats = self._repeats
        for entry in self._current.values():
            record = entry.record
            if record is None:
                continue
            seen = repeats.get(id(record))  # held in _repeats, so its id is not reused while there
            if seen is not None:
                seen[1] += 1
            else:
                if len(repeats) >= MAX_REPEATS:
                    self._tally_repeats()
                repeats[id(record)] = [record, 1]
        self._current.clear()

    def _tally_repeats(self) -> None:
        for record, times in self._repeats.values():
            self._tally.add_record(record, times)
        self._repeats.clear()

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
        self._tally_repeats()
        return self._tally

    def approved(self) -> list[CycleRecord]:
        return list(self._approved.values())


__all__ = ["CountingDecisionLog", "DecisionTally", "approved_records"]
