"""A decision engine's memory kept in the state store across restarts of the live bot (core.decide.memory).

An engine that remembers something between snapshots (today the trend engine: its flip gates and funding
histories) offers `memory() -> dict` (JSON-safe, versioned) and `restore(dict)`; engines without memory have
neither and the keeper does nothing for them. The composition root restores at start-up and saves after each
cycle, under `engine_memory` (an arena contestant's under its own `arena:<name>:` prefix). Replay never uses
it: a replay starts with an empty memory. The rules engine and the ensemble keep only caches of the snapshot in
hand; what the LLM engine keeps that matters (the token budget's usage log, model capabilities, the decision
cache) is in its own SQLite stores already (storage.llm_repo).

At start-up `resume_memories` restores, then fills the funding hours each engine missed (core.services.
funding_warmup); `warm_up_added_symbols` does the same for a symbol added from chat.

The stored form carries the time of the cycle it was saved after: a memory from after the clock's now (a demo
restarted at an earlier simulated time) would be a look into the future, so it is refused like a damaged one —
one log line, and the engine starts empty. Nothing here raises into the cycle: a failed save is a warning and
the next cycle saves again (a crash between a cycle and its save loses that one cycle's observations).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from core.protocols import Clock, MarketData, StateStore
from core.services.funding_warmup import FUNDING_WARMUP, LearnsFunding, warm_up_funding

log = logging.getLogger(__name__)

MEMORY_KEY = "engine_memory"


@runtime_checkable
class RemembersState(Protocol):
    name: str

    def memory(self) -> dict[str, object]: ...

    def restore(self, memory: Mapping[str, object]) -> None:
        """Raises ValueError (the engine's memory unchanged) when `memory` is not one of its own."""
        ...

    def memory_summary(self) -> str:
        """A line for /status and the start-up log (e.g. how many funding samples, whether the veto acts)."""
        ...


class MemoryKeeper:
    def __init__(self, engine: object, store: StateStore, clock: Clock, *, key: str = MEMORY_KEY,
                 label: str | None = None) -> None:
        self.engine = engine if isinstance(engine, RemembersState) else None
        self._store = store
        self._clock = clock
        self._key = key
        self._label = label or f"engine {getattr(engine, 'name', '?')}"
        self._saved: dict[str, object] | None = None  # the memory as last stored

    @property
    def active(self) -> bool:
        return self.engine is not None

    @property
    def label(self) -> str:
        return self._label

    def summary(self) -> str | None:
        return None if self.engine is None else self.engine.memory_summary()

    async def restore(self) -> datetime | None:
        """The stored memory into the engine; the time of the cycle it was saved after when one was taken, else
        None. Logs one line either way."""
        engine = self.engine
        if engine is None:
            return None
        try:
            raw = await self._store.get_value(self._key)
        except Exception as error:
            log.warning("%s: memory not read (%s: %s): starting with an empty memory", self._label,
                        type(error).__name__, error)
            return None
        if raw is None:
            log.info("%s: no stored memory, starting empty", self._label)
            return None
        try:
            stored = json.loads(raw)
            if not isinstance(stored, dict) or not isinstance(stored.get("memory"), dict):
                raise ValueError("not a stored engine memory")
            saved_at = datetime.fromisoformat(str(stored.get("as_of")))
            if saved_at.tzinfo is None or saved_at > self._clock.now():
                raise ValueError(f"saved at {stored.get('as_of')}, after now")
            engine.restore(stored["memory"])
        except (ValueError, TypeError) as error:  # json's and CorruptMemory are ValueErrors
            log.warning("%s: stored memory under %r refused (%s): starting with an empty memory",
                        self._label, self._key, str(error)[:200])
            return None
        self._saved = stored["memory"]
        log.info("%s: memory restored (saved after the cycle of %s)", self._label, stored["as_of"])
        return saved_at

    async def save(self, as_of: datetime) -> None:
        """The engine's memory after the cycle of `as_of`; written only when it changed. Never raises."""
        engine = self.engine
        if engine is None:
            return
        try:
            memory = engine.memory()
            if memory == self._saved:
                return
            raw = json.dumps({"as_of": as_of.astimezone(UTC).isoformat(), "memory": memory}, allow_nan=False)
            await self._store.set_value(self._key, raw)
            self._saved = memory
        except Exception as error:
            log.warning("%s: memory not saved after %s (%s: %s); the next cycle tries again", self._label,
                        as_of, type(error).__name__, error)


async def resume_memories(keepers: Sequence[MemoryKeeper], market: MarketData | None, symbols: Sequence[str],
                          now: datetime) -> None:
    """At start-up: each engine's stored memory, then the funding hours it missed (all of the warm-up window on a
    first start, the downtime since its last save after a restart) from the market data, then one log line each
    with what it holds (how many funding samples, whether the veto acts yet)."""
    learners = []
    for keeper in keepers:
        saved = await keeper.restore()
        # after a restore, from the hour after its save: an hour observed twice would count a value twice when the
        # mean changed in between (the memory did not change between its save and the last cycle, so those hours
        # repeat its last value, which `observe` ignores)
        since = now - FUNDING_WARMUP if saved is None else max(saved + timedelta(hours=1), now - FUNDING_WARMUP)
        learners.append((keeper.engine, since))
    if market is not None:
        await warm_up_funding(learners, market, symbols, now)
    for keeper in keepers:
        if keeper.active:
            log.info("%s: %s", keeper.label, keeper.summary())


async def warm_up_added_symbols(keepers: Sequence[MemoryKeeper], market: MarketData, symbols: Sequence[str],
                                now: datetime) -> None:
    """Symbols added since the start (`/symbols add`): an engine that has never seen one's funding gets the warm-up
    window of it before its first cycle, as a first start does; an engine that knows it keeps what it has."""
    for symbol in symbols:
        learners = [(k.engine, now - FUNDING_WARMUP) for k in keepers
                    if isinstance(k.engine, LearnsFunding) and not k.engine.knows_funding(symbol)]
        if learners and await warm_up_funding(learners, market, [symbol], now):
            for keeper in keepers:
                log.info("%s, with %s added: %s", keeper.label, symbol, keeper.summary())
