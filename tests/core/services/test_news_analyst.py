"""The LLM news analyst (#17) against the OpenAI-compatible stand-in: the decision engine's transport (strict
schema, downgrade, re-ask), its usage log and daily budget; failure → no score; each headline asked once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from core.clock import SimulatedClock
from core.config import LlmConfig
from core.decide.capabilities import MemoryCapabilityStore
from core.decide.llm import LlmEngine
from core.decide.usage import MemoryUsageLog
from core.market.news import Headline
from core.market.sentiment import HeadlineScore, SentimentReader
from core.services.news_analyst import LlmNewsScorer, MemoryScoreCache
from tests.core.decide.test_llm import server  # noqa: F401  (the module's OpenAI stand-in)
from tests.fakes.openai_server import FakeOpenAIServer, answer, error

NOW = datetime(2024, 3, 1, 12, tzinfo=UTC)
API_KEY = "sk-news-test-123456"
HEADLINES = [
    Headline("g1", "cointelegraph.com", "Exchange halts withdrawals after $200M hack", "", None, NOW - timedelta(hours=1)),
    Headline("g2", "coindesk.com", "Bitcoin surges past $62K on ETF inflows", "", None, NOW - timedelta(hours=2)),
    Headline("g3", "decrypt.co", "Ethereum Dencun date confirmed", "", None, NOW - timedelta(hours=3)),
]
GOOD = {"items": [{"id": 1, "impact": -2, "coins": []}, {"id": 2, "impact": 2, "coins": ["btc"]},
                  {"id": 3, "impact": 1, "coins": ["ETH"]}]}


@pytest.fixture
def fake(server: FakeOpenAIServer) -> FakeOpenAIServer:  # noqa: F811
    server.requests.clear()
    server.script(answer(json.dumps(GOOD)))
    return server


def scorer(fake: FakeOpenAIServer, **config) -> tuple[LlmNewsScorer, MemoryUsageLog]:
    usage = MemoryUsageLog()
    settings = {"base_url": fake.base_url, "model": "news-model", "timeout_s": 20.0, "max_retries": 1,
                "retry_backoff_s": 0.01, **config}
    llm = LlmEngine(LlmConfig(**settings), API_KEY, usage=usage, capabilities=MemoryCapabilityStore(),
                    clock=SimulatedClock(NOW))
    return LlmNewsScorer(llm, MemoryScoreCache()), usage


async def test_scores_come_from_one_structured_request_and_are_cached(fake: FakeOpenAIServer) -> None:
    news, usage = scorer(fake)
    scores = await news.score(HEADLINES)
    assert scores == {"g1": HeadlineScore(-2), "g2": HeadlineScore(2, ("BTC",)), "g3": HeadlineScore(1, ("ETH",))}
    [request] = fake.requests
    assert request.response_format == "json_schema"
    assert request.body["response_format"]["json_schema"]["name"] == "news_scores"
    assert "1. [cointelegraph.com] Exchange halts withdrawals" in request.messages[-1]["content"]
    assert API_KEY not in request.raw and request.headers.get("authorization") == f"Bearer {API_KEY}"
    assert len(await usage.calls()) == 1 and await usage.tokens_on(NOW.date()) > 0  # the decision engine's log
    assert await news.score(HEADLINES) == scores and len(fake.requests) == 1  # asked once per headline


async def test_an_unusable_answer_is_asked_again_once_then_no_score(fake: FakeOpenAIServer) -> None:
    fake.script(answer('{"items": [{"id": 9, "impact": 5}]}'), answer(json.dumps(GOOD)))
    news, _ = scorer(fake)
    assert len(await news.score(HEADLINES)) == 3 and len(fake.requests) == 2
    assert "id 9" in fake.requests[1].messages[-1]["content"] or "impact" in fake.requests[1].messages[-1]["content"]
    fake.requests.clear()
    fake.script(answer("no json here"))
    news, _ = scorer(fake)
    assert await news.score(HEADLINES) == {}  # failed twice: nothing scored, nothing guessed


@pytest.mark.parametrize("reply", [error(500, "boom"), error(401, "bad key"), answer(None)])
async def test_transport_failures_are_no_score(fake: FakeOpenAIServer, reply) -> None:
    fake.script(reply)
    news, _ = scorer(fake)
    assert await news.score(HEADLINES) == {}
    reader = SentimentReader(_Store(), news, fear_greed=False)
    reading = await reader.at("BTC/USDT:USDT", NOW)
    assert reading.news_score is None and reading.key_events == ()


async def test_a_spent_daily_budget_asks_nothing(fake: FakeOpenAIServer) -> None:
    news, _ = scorer(fake, daily_token_budget=500)
    await news.score(HEADLINES[:1])  # 900 + 80 tokens: over budget now
    fake.requests.clear()
    assert await news.score(HEADLINES[1:]) == {} and fake.requests == []


async def test_a_refused_schema_steps_down_like_decisions(fake: FakeOpenAIServer) -> None:
    def refuse_schema(body):
        if body.get("response_format", {}).get("type") == "json_schema":
            return error(400, "response_format json_schema is not supported")
        return answer(json.dumps(GOOD))

    fake.script(refuse_schema)
    news, _ = scorer(fake)
    assert len(await news.score(HEADLINES)) == 3
    assert [r.response_format for r in fake.requests] == ["json_schema", "json_object"]


class _Store:
    async def seen_between(self, since, until):
        return [h for h in HEADLINES if since < h.first_seen <= until]

    async def fear_greed_at(self, as_of):
        return None
