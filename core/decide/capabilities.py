"""Which structured-output mode an endpoint + model accepts, remembered so the downgrade is paid once.

Modes, strongest first: `json_schema` (strict schema), `json_object` (JSON mode, schema in the prompt),
`prompt` (no response_format; tolerant extraction of the object from the text).
"""

from __future__ import annotations

from typing import Literal, Protocol

OutputMode = Literal["json_schema", "json_object", "prompt"]
OUTPUT_MODES: tuple[OutputMode, ...] = ("json_schema", "json_object", "prompt")


def weaker_mode(mode: OutputMode) -> OutputMode | None:
    index = OUTPUT_MODES.index(mode)
    return OUTPUT_MODES[index + 1] if index + 1 < len(OUTPUT_MODES) else None


class CapabilityStore(Protocol):
    async def mode(self, endpoint: str, model: str) -> OutputMode | None: ...

    async def set_mode(self, endpoint: str, model: str, mode: OutputMode) -> None: ...

    async def reset(self, endpoint: str | None = None) -> int:
        """Forget the stored modes (of one endpoint, or all); how many were forgotten."""
        ...


class MemoryCapabilityStore:
    def __init__(self) -> None:
        self._modes: dict[tuple[str, str], OutputMode] = {}

    async def mode(self, endpoint: str, model: str) -> OutputMode | None:
        return self._modes.get((endpoint, model))

    async def set_mode(self, endpoint: str, model: str, mode: OutputMode) -> None:
        self._modes[(endpoint, model)] = mode

    async def reset(self, endpoint: str | None = None) -> int:
        keys = [k for k in self._modes if endpoint is None or k[0] == endpoint]
        for k in keys:
            del self._modes[k]
        return len(keys)
