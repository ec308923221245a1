"""The engine memory's stored form and its keeper: a round trip gives the same engine, anything else is one log
line and an empty memory (never a crash, never a half-taken memory), a failed save never reaches the cycle."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest

from core.clock import SimulatedClock
from core.decide.memory import CorruptMemory
from core.decide.rules import RulesEngine
from core.decide.trend import TrendEngine, TrendParams
from core.services.engine_memory import MEMORY_KEY, MemoryKeeper
from core.services.memory_state import MemoryStateStore
from tests.core.decide.test_trend_variants import FLAT, _holding, _snap

T0 = datetime(2024, 1, 1, tzinfo=UTC)
SHIPPED = TrendParams(signal="tsmom", allow_shorts=True, funding_veto_quantile=0.9)


def _taught() -> TrendEngine:
    """An engine that has seen 120 funding samples and had its long on the current up signal."""
    engine = TrendEngine(SHIPPED)
    for day in range(120):
        engine.decide_sync(_snap(day, -1.0, funding_24h=0.0001 * (day % 40) - 0.001), FLAT)
    engine.decide_sync(_snap(121, 5.0, funding_24h=0.00001), _holding("long"))
    return engine


def test_memory_round_trips_through_json_into_an_engine_that_decides_the_same() -> None:
    taught = _taught()
    fresh = TrendEngine(SHIPPED)
    fresh.restore(json.loads(json.dumps(taught.memory())))
    assert fresh.memory() == taught.memory()
    # the flip gate: the up signal already had its position, so neither engine enters it again
    for engine in (taught, fresh):
        held = engine.decide_sync(_snap(122, 4.0, funding_24h=0.00001), FLAT).effective
        assert held.action.value == "hold" and "flip" in held.reasoning
    # a forgetful engine would enter it again: this is what the memory prevents
    assert TrendEngine(SHIPPED).decide_sync(_snap(122, 4.0, funding_24h=0.00001), FLAT).effective.action.value == "long"
    assert fresh.memory_summary() == "funding samples: BTC/USDT 121 (veto active)"
    assert TrendEngine(SHIPPED).memory_summary() == "no funding samples yet (the veto acts after 90 per symbol)"


def test_the_funding_veto_acts_after_a_restore_and_not_on_a_fresh_engine() -> None:
    taught = _taught()
    taught.decide_sync(_snap(123, -2.0), FLAT)  # the sign flips: the long signal is armed again
    fresh = TrendEngine(SHIPPED)
    fresh.restore(taught.memory())
    crowded = _snap(124, 6.0, funding_24h=0.0029)  # the top of everything seen: longs pay the most
    assert fresh.decide_sync(crowded, FLAT).effective.action.value == "hold"
    assert TrendEngine(SHIPPED).decide_sync(crowded, FLAT).effective.action.value == "long"


@pytest.mark.parametrize("bad", [
    [], {"version": 2, "engine": "trend", "flips": {}, "funding": {}},
    {"version": 1, "engine": "rules", "flips": {}, "funding": {}},
    {"version": 1, "engine": "trend", "flips": {"BTC/USDT:USDT": 2}, "funding": {}},
    {"version": 1, "engine": "trend", "flips": {"BTC/USDT:USDT": True}, "funding": {}},
    {"version": 1, "engine": "trend", "flips": {}, "funding": {"BTC/USDT:USDT": {"values": [0.2, 0.1], "last": 0.1}}},
    {"version": 1, "engine": "trend", "flips": {}, "funding": {"BTC/USDT:USDT": {"values": ["x"], "last": None}}},
    {"version": 1, "engine": "trend", "flips": {}, "funding": {"BTC/USDT:USDT": {"values": [0.1], "last": 0.3}}},
    {"version": 1, "engine": "trend", "flips": {}, "funding": {"BTC/USDT:USDT": {"values": [float("inf")]}}},
    {"version": 1, "engine": "trend", "flips": [], "funding": {}},
])
def test_a_foreign_or_damaged_memory_is_refused_and_the_engine_keeps_its_own(bad: object) -> None:
    engine = _taught()
    before = engine.memory()
    with pytest.raises(CorruptMemory):
        engine.restore(bad)  # type: ignore[arg-type]
    assert engine.memory() == before


async def test_the_keeper_stores_after_a_cycle_and_a_new_keeper_restores(caplog: pytest.LogCaptureFixture) -> None:
    store, clock = MemoryStateStore(), SimulatedClock(T0 + timedelta(days=200))
    taught = _taught()
    await MemoryKeeper(taught, store, clock).save(T0 + timedelta(days=121))
    raw = await store.get_value(MEMORY_KEY)
    assert raw is not None and json.loads(raw)["as_of"] == "2024-05-01T00:00:00+00:00"
    fresh = TrendEngine(SHIPPED)
    with caplog.at_level(logging.INFO, logger="core.services.engine_memory"):
        assert await MemoryKeeper(fresh, store, clock).restore()
    assert fresh.memory() == taught.memory()
    assert "memory restored" in caplog.text


@pytest.mark.parametrize("raw", ["{not json", "[]", '{"as_of": "2024-01-01T00:00:00+00:00"}',
                                 '{"as_of": "never", "memory": {}}',
                                 '{"as_of": "2024-01-01T00:00:00+00:00", "memory": {"engine": "rules"}}',
                                 '{"as_of": "2030-01-01T00:00:00+00:00", "memory": {}}'])
async def test_a_bad_stored_memory_is_one_warning_and_an_empty_engine(raw: str, caplog: pytest.LogCaptureFixture) -> None:
    store = MemoryStateStore()
    await store.set_value(MEMORY_KEY, raw)
    engine = TrendEngine(SHIPPED)
    with caplog.at_level(logging.INFO, logger="core.services.engine_memory"):
        assert not await MemoryKeeper(engine, store, SimulatedClock(T0)).restore()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "starting with an empty memory" in warnings[0].getMessage()
    assert engine.memory() == TrendEngine(SHIPPED).memory()


async def test_a_memory_saved_after_now_is_refused_as_a_look_ahead() -> None:
    store = MemoryStateStore()
    await MemoryKeeper(_taught(), store, SimulatedClock(T0)).save(T0 + timedelta(days=10))
    engine = TrendEngine(SHIPPED)
    assert not await MemoryKeeper(engine, store, SimulatedClock(T0 + timedelta(days=9))).restore()
    assert engine.memory()["funding"] == {}


class _BrokenStore(MemoryStateStore):
    async def set_value(self, key: str, value: str) -> None:
        raise OSError("disk full")

    async def get_value(self, key: str) -> str | None:
        raise OSError("database is locked")


async def test_a_store_that_fails_never_reaches_the_cycle(caplog: pytest.LogCaptureFixture) -> None:
    keeper = MemoryKeeper(_taught(), _BrokenStore(), SimulatedClock(T0))
    with caplog.at_level(logging.WARNING, logger="core.services.engine_memory"):
        await keeper.save(T0)
        assert not await keeper.restore()
    assert "disk full" in caplog.text and "database is locked" in caplog.text


async def test_an_engine_without_memory_stores_nothing() -> None:
    store = MemoryStateStore()
    keeper = MemoryKeeper(RulesEngine(), store, SimulatedClock(T0))
    assert not keeper.active
    await keeper.save(T0)
    assert not await keeper.restore()
    assert await store.get_value(MEMORY_KEY) is None


async def test_an_unchanged_memory_is_not_written_again() -> None:
    writes: list[str] = []

    class Counting(MemoryStateStore):
        async def set_value(self, key: str, value: str) -> None:
            writes.append(key)
            await super().set_value(key, value)

    keeper = MemoryKeeper(_taught(), Counting(), SimulatedClock(T0))
    await keeper.save(T0)
    await keeper.save(T0 + timedelta(hours=1))
    assert writes == [MEMORY_KEY]
