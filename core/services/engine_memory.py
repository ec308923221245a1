"""A decision engine's memory kept in the state store across restarts of the live bot (core.decide.memory).

An engine that remembers something between snapshots (today the trend engine: its flip gates and funding
histories) offers `memory() -> dict` (JSON-safe, versioned) and `restore(dict)`; engines without memory have
neither and the keeper does nothing for them. The composition root restores at start-up and saves after each
cycle, under `engine_memory` (an arena contestant's under its own `arena:<name>:` prefix). Replay never uses
it: a replay starts with an empty memory.

The stored form carries the time of the cycle it was saved after: a memory from after the clock's now (a demo
restarted at an earlier simulated time) would be a look into the future, so it is refused like a damaged one —
one log line, and the engine starts empty. Nothing here raises into the cycle: a failed save is a warning and
the next cycle saves again (a crash between a cycle and its save loses that one cycle's observations).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from core.protocols import Clock, StateStore

log = logging.getLogger(__name__)

MEMORY_KEY = "engine_memory"


@runtime_checkable
class RemembersState(Protocol):
    name: str

    def memory(self) -> dict[str, object]: ...

    def restore(self, memory: Mapping[str, object]) -> None:
        """Raises ValueError (the engine's memory unchanged) when `memory` is not one of its own."""
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

    async def restore(self) -> bool:
        """The stored memory into the engine; True when one was taken. Logs one line either way."""
        engine = self.engine
        if engine is None:
            return False
        try:
            raw = await self._store.get_value(self._key)
        except Exception as error:
            log.warning("%s: memory not read (%s: %s): starting with an empty memory", self._label,
                        type(error).__name__, error)
            return False
        if raw is None:
            log.info("%s: no stored memory, starting empty", self._label)
            return False
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
            return False
        self._saved = stored["memory"]
        log.info("%s: memory restored (saved after the cycle of %s)", self._label, stored["as_of"])
        return True

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
