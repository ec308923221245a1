"""#18: the replay's decision log keeps counts and the approved records, not one record per symbol-bar — and
counts exactly what the full in-memory log holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from core.evaluation.replay_log import CountingDecisionLog, DecisionTally, approved_records
from core.models import Decision, DecisionRecord
from core.protocols import CycleRecord
from core.services.memory_log import MemoryDecisionLog

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def entry(hour: int, symbol: str, action: str, approved: bool | None) -> CycleRecord:
    cycle = f"2024-01-01T{hour:02d}"
    record = DecisionRecord("ok", "rules", "", 1, Decision("hold", 0.5) if action == "hold" else
                            Decision(action, 0.8, 90.0 if action == "long" else 110.0, (120.0,) if action == "long" else (80.0,), 2))
    # the logs read a verdict's approved flag and reason only (an approved GuardVerdict needs a sized intent)
    verdict = None if approved is None else SimpleNamespace(approved=approved, reason=None if approved else "low_confidence")
    return CycleRecord(cycle, symbol, T0 + timedelta(hours=hour), None, record, verdict, f"{cycle}-{symbol}")  # type: ignore[arg-type]


async def test_counts_equal_the_full_log_and_only_approved_records_stay() -> None:
    counting, full = CountingDecisionLog(), MemoryDecisionLog()
    entries = [entry(h, s, a, v) for h in range(40) for s, a, v in
               (("BTC", "hold", None), ("ETH", "long", h % 7 == 0), ("SOL", "short", False))]
    entries.append(entry(39, "SOL", "short", True))  # a second record of one turn replaces the first
    for e in entries:
        for log in (counting, full):
            assert await log.cycle_done(e.cycle_id, e.symbol) == (e is entries[-1])
            await log.record_cycle(e)
    want, got = DecisionTally.of(full.records()), counting.tally()
    assert (got.statuses, got.actions) == (want.statuses, want.actions)
    assert await counting.guard_counts() == await full.guard_counts()
    assert {e.signal_id for e in counting.approved()} == {e.signal_id for e in approved_records(full.records())}
    assert len(counting._current) <= 3 and len(counting.approved()) == 7
    assert await counting.signal(entries[-1].signal_id) is entries[-1]


async def test_repeated_records_are_tallied_by_identity_and_the_held_ones_stay_bounded(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """One hold record handed out for many symbol-bars (the rules engine's cache) counts once per bar, distinct
    records beyond MAX_REPEATS are tallied as they come, and usage and cache hits are multiplied out."""
    import core.evaluation.replay_log as replay_log
    from core.models import TokenUsage

    monkeypatch.setattr(replay_log, "MAX_REPEATS", 3)
    counting, full = CountingDecisionLog(), MemoryDecisionLog()
    hold = DecisionRecord("ok", "llm", "m", 1, Decision("hold", 0.5), usage=TokenUsage(10, 2), cached=True)
    failed = DecisionRecord("failed", "llm", "m", 2, None, error="timeout", usage=TokenUsage(7, 0))
    for h in range(30):
        for symbol, record in (("BTC", hold), ("ETH", failed if h % 4 else entry(h, "ETH", "long", None).record),
                               ("SOL", entry(h, "SOL", "short", None).record)):
            e = CycleRecord(f"c{h}", symbol, T0 + timedelta(hours=h), None, record, None, f"c{h}-{symbol}")
            for log in (counting, full):
                await log.record_cycle(e)
        assert len(counting._repeats) <= 3
    want, got = DecisionTally.of(full.records()), counting.tally()
    assert (got.statuses, got.actions, got.prompt_tokens, got.completion_tokens, got.cached) == (
        want.statuses, want.actions, want.prompt_tokens, want.completion_tokens, want.cached)
    assert got.cached == 30 and got.prompt_tokens == 30 * 10 + 22 * 7
