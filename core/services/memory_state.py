"""In-memory StateStore for replay and tests (same behaviour as storage.state_repo, no disk)."""

from __future__ import annotations

import asyncio

from core.models import AuditEntry, RuntimeState


class MemoryStateStore:
    def __init__(self) -> None:
        self._state: RuntimeState | None = None
        self._values: dict[str, str] = {}
        self._audit: list[AuditEntry] = []
        self._changing = asyncio.Lock()

    def changing(self) -> asyncio.Lock:
        return self._changing

    async def load_state(self, defaults: RuntimeState) -> RuntimeState:
        return self._state or defaults

    async def save_state(self, state: RuntimeState) -> None:
        self._state = state

    async def get_value(self, key: str) -> str | None:
        return self._values.get(key)

    async def set_value(self, key: str, value: str) -> None:
        self._values[key] = value

    async def append_audit(self, entry: AuditEntry) -> None:
        self._audit.append(entry)

    async def audit(self, limit: int = 20) -> list[AuditEntry]:
        return list(reversed(self._audit))[:limit]
