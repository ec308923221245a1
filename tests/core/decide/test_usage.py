from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from core.config import LlmConfig
from core.decide.usage import LlmCall, MemoryUsageLog, estimate_cost, summarize
from core.models import DomainError


def test_cost_from_configurable_prices() -> None:
    config = LlmConfig(price_prompt_per_mtok=0.15, price_completion_per_mtok=0.60)
    assert estimate_cost(config, 1_000_000, 0) == pytest.approx(0.15)
    assert estimate_cost(config, 1000, 100) == pytest.approx(0.00021)


async def test_memory_log_counts_per_utc_day_and_summarizes() -> None:
    log = MemoryUsageLog()
    day = datetime(2024, 3, 1, 23, tzinfo=UTC)
    await log.record(LlmCall(day, "e", "m", "json_schema", 900, 80, 10.0, "ok", 0.0002))
    await log.record(LlmCall(datetime(2024, 3, 2, 1, tzinfo=UTC), "e", "m", "prompt", 10, 0, 5.0, "http_500", 0.0))
    assert await log.tokens_on(date(2024, 3, 1)) == 980
    summary = summarize(await log.calls())
    assert (summary.calls, summary.prompt_tokens, summary.completion_tokens) == (2, 910, 80)
    await log.mark_alerted(date(2024, 3, 1))
    assert await log.alerted_on(date(2024, 3, 1)) and not await log.alerted_on(date(2024, 3, 2))


def test_call_invariants() -> None:
    with pytest.raises(DomainError):
        LlmCall(datetime(2024, 3, 1), "e", "m", "prompt", 1, 1, 1.0, "ok", 0.0)
    with pytest.raises(DomainError, match="-1"):
        LlmCall(datetime(2024, 3, 1, tzinfo=UTC), "e", "m", "prompt", -1, 1, 1.0, "ok", 0.0)
