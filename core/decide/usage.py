"""What every LLM call cost, and the daily token budget.

Every HTTP call is recorded (time, model, mode, tokens, latency, status, estimated cost from configurable
prices), including the ones that failed. The budget is counted in tokens per UTC day; once spent, the LLM
engine degrades to the rules engine and the admins are told once per day (`mark_alerted` keeps that
promise across restarts when the log is the SQLite one).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from core.config import LlmConfig
from core.models import DomainError, require_utc

CallStatus = str  # "ok", "http_400", "http_429", "http_5xx", "timeout", "connection", "error"


@dataclass(frozen=True, slots=True)
class LlmCall:
    at: datetime
    endpoint: str
    model: str
    mode: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    status: CallStatus
    cost_usd: float

    def __post_init__(self) -> None:
        require_utc(self.at, "at")
        if self.prompt_tokens < 0 or self.completion_tokens < 0:
            raise DomainError(f"token counts must be >= 0, got {self.prompt_tokens}/{self.completion_tokens}")

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def estimate_cost(config: LlmConfig, prompt_tokens: int, completion_tokens: int, model: str | None = None) -> float:
    from core.decide.prices import price_per_mtok

    prompt_price, completion_price = price_per_mtok(config, model or config.model)
    return (prompt_tokens * prompt_price + completion_tokens * completion_price) / 1_000_000


class UsageLog(Protocol):
    async def record(self, call: LlmCall) -> None: ...

    async def tokens_on(self, day: date) -> int:
        """Prompt + completion tokens of every call on this UTC day."""
        ...

    async def calls(self, since: datetime | None = None) -> list[LlmCall]: ...

    async def alerted_on(self, day: date) -> bool:
        """Whether the admins were already told that this day's budget is spent."""
        ...

    async def mark_alerted(self, day: date) -> None: ...


class MemoryUsageLog:
    def __init__(self) -> None:
        self._calls: list[LlmCall] = []
        self._alerted: set[date] = set()

    async def record(self, call: LlmCall) -> None:
        self._calls.append(call)

    async def tokens_on(self, day: date) -> int:
        return sum(c.total_tokens for c in self._calls if c.at.date() == day)

    async def calls(self, since: datetime | None = None) -> list[LlmCall]:
        return [c for c in self._calls if since is None or c.at >= since]

    async def alerted_on(self, day: date) -> bool:
        return day in self._alerted

    async def mark_alerted(self, day: date) -> None:
        self._alerted.add(day)


@dataclass(frozen=True, slots=True)
class UsageSummary:
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float


def summarize(calls: list[LlmCall]) -> UsageSummary:
    return UsageSummary(
        calls=len(calls),
        prompt_tokens=sum(c.prompt_tokens for c in calls),
        completion_tokens=sum(c.completion_tokens for c in calls),
        cost_usd=round(sum(c.cost_usd for c in calls), 6),
    )
