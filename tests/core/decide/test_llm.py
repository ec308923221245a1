"""The LLM engine against a real local OpenAI-compatible HTTP server, through the real openai SDK."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from core.clock import SimulatedClock
from core.config import LlmConfig
from core.decide.cache import MemoryDecisionCache
from core.decide.capabilities import MemoryCapabilityStore
from core.decide.llm import LlmEngine
from core.decide.prompt import compact_json, system_prompt
from core.decide.rules import RulesEngine
from core.decide.usage import MemoryUsageLog
from core.market.snapshot_json import snapshot_from_json
from core.models import AccountView, Snapshot
from tests.fakes.openai_server import FakeOpenAIServer, Reply, answer, error

API_KEY = "sk-test-Zq8vN3kT1xY7wP0sLm4R"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "snapshots"
NOW = datetime(2024, 3, 1, 12, 0, 5, tzinfo=UTC)

GOOD = {
    "action": "long",
    "confidence": 0.72,
    "stop_loss": 60500.0,
    "take_profit": [64100.0, 65500.0],
    "leverage": 5,
    "invalidation": "1h close below 60500",
    "reasoning": "4h and 1d above rising EMAs, RSI 54, funding neutral.",
}


def good(**changes: Any) -> str:
    return json.dumps({**GOOD, **changes})


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAIServer]:
    fake = FakeOpenAIServer().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake(server: FakeOpenAIServer) -> FakeOpenAIServer:
    server.requests.clear()
    server.script(answer(good()))
    return server


@pytest.fixture
def snapshot() -> Snapshot:
    return snapshot_from_json(json.loads((FIXTURES / "btc_2024-03-01T12.json").read_text()))


ACCOUNT = AccountView(equity=10_000.0, available=10_000.0)


class Harness:
    def __init__(self, fake: FakeOpenAIServer, **config: Any) -> None:
        settings: dict[str, Any] = {
            "base_url": fake.base_url,
            "model": "main-model",
            "timeout_s": 30.0,
            "max_retries": 2,
            "retry_backoff_s": 0.01,
            "retry_wait_cap_s": 5.0,
        }
        settings.update(config)
        self.config = LlmConfig(**settings)
        self.sleeps: list[float] = []
        self.alerts: list[str] = []
        self.usage = MemoryUsageLog()
        self.capabilities = MemoryCapabilityStore()
        self.cache = MemoryDecisionCache()
        self.engine = LlmEngine(
            self.config,
            API_KEY,
            fallback=RulesEngine(),
            usage=self.usage,
            capabilities=self.capabilities,
            cache=self.cache,
            clock=SimulatedClock(NOW),
            on_budget_exhausted=self._alert,
            sleep=self._sleep,
        )

    async def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    async def _alert(self, text: str) -> None:
        self.alerts.append(text)


def last_user(request: Any) -> str:
    return request.messages[-1]["content"]


async def test_strict_schema_accepted(fake: FakeOpenAIServer, snapshot: Snapshot) -> None:
    h = Harness(fake, prices=(("main-model", 0.15, 0.60),))  # a local endpoint is free unless priced
    record = await h.engine.decide(snapshot, ACCOUNT)
    assert record.status == "ok" and record.decision is not None
    assert record.decision.action == "long" and record.decision.take_profit == (64100.0, 65500.0)
    assert (record.engine, record.model, record.attempts) == ("llm", "main-model", 1)
    assert (record.usage.prompt_tokens, record.usage.completion_tokens) == (900, 80)
    (request,) = fake.requests
    fmt = request.body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    schema = fmt["json_schema"]["schema"]
    assert schema["additionalProperties"] is False and set(schema["required"]) == {*GOOD, "note"}
    assert schema["properties"]["reasoning"]["maxLength"] == 600  # a local endpoint decodes it as a grammar
    assert request.messages[0]["role"] == "system" and "JSON" in request.messages[0]["content"]
    assert compact_json(snapshot.to_json_dict(prompt=True)) in last_user(request)  # snapshot verbatim
    (call,) = await h.usage.calls()
    assert call.status == "ok" and call.mode == "json_schema" and call.cost_usd > 0
    assert await h.capabilities.mode(h.engine.endpoint, "main-model") is None


def refuse_schema(body: dict[str, Any]) -> Reply:
    if (body.get("response_format") or {}).get("type") == "json_schema":
        return error(400, "This response_format type is unavailable now")
    return answer(good())


async def test_schema_refused_downgrades_once_and_remembers(fake: FakeOpenAIServer, snapshot: Snapshot) -> None:
    fake.script(refuse_schema)
    h = Harness(fake)
    record = await h.engine.decide(snapshot, ACCOUNT)
    assert record.status == "ok"
    assert [r.response_format for r in fake.requests] == ["json_schema", "json_object"]
    assert "JSON" in "".join(m["content"] for m in fake.requests[1].messages)  # json_object needs the word
    assert await h.capabilities.mode(h.engine.endpoint, "main-model") == "json_object"
    fake.requests.clear()
    await h.engine.decide(snapshot, AccountView(equity=10_001.0, available=10_001.0))  # not a cache hit
    assert [r.response_format for r in fake.requests] == ["json_object"]  # the downgrade is not paid again


async def test_both_modes_refused_falls_to_prompt_only(fake: FakeOpenAIServer, snapshot: Snapshot) -> None:
    fake.script(lambda body: error(400, "response_format not supported") if body.get("response_format")
                else answer(f"Decision:\n{good()}"))
    h = Harness(fake)
    record = await h.engine.decide(snapshot, ACCOUNT)
    assert record.status == "ok"
    assert [r.response_format for r in fake.requests] == ["json_schema", "json_object", None]
    assert await h.capabilities.mode(h.engine.endpoint, "main-model") == "prompt"


async def test_fenced_json(fake: FakeOpenAIServer, snapshot: Snapshot) -> None:
    fake.script(answer(f"```json\n{good(confidence=0.66)}\n```"))
    record = await Harness(fake).engine.decide(snapshot, ACCOUNT)
    assert record.status == "ok" and record.decision is not None and record.decision.confidence == 0.66


async def test_json_inside_prose(fake: FakeOpenAIServer, snapshot: Snapshot) -> None:
    fake.script(answer(f"<think>weighing it</think>Looking at the 4h trend, here it is: {good()} Good luck!"))
    record = await Harness(fake).engine.decide(snapshot, ACCOUNT)
    assert record.status == "ok" and record.decision is not None and record.decision.stop_loss == 60500.0


async def test_broken_json_repaired_by_one_reask_quoting_the_error(fake: FakeOpenAIServer, snapshot: Snapshot) -> None:
    broken = '{"action": "long", "confidence": 0.7, "stop_loss": 60500'
    fake.script(answer(broken), answer(good()))
    record = await Harness(fake).engine.decide(snapshot, ACCOUNT)
    assert record.status == "ok" and record.attempts == 2
    assert record.usage.prompt_tokens == 1800
    reask = fake.requests[1].messages
    assert reask[-2] == {"role": "assistant", "content": broken}
    assert "no JSON object found" in reask[-1]["content"] and "corrected JSON" in reask[-1]["content"]


@pytest.mark.parametrize(
    ("bad", "quoted"),
    [
        (good(leverage=500), "leverage"),
        (good(stop_loss=63000.0), "stop_loss 63000.0 must be below price"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "take_profit"}), "take_profit"),
        (good(take_profit=[65500.0, 64100.0]), "must move up"),
        (good(confidence=1.7), "confidence"),
    ],
)
async def test_schema_violations_are_rejected_after_one_reask(
    fake: FakeOpenAIServer, snapshot: Snapshot, bad: str, quoted: str
) -> None:
    fake.script(answer(bad))
    record = await Harness(fake).engine.decide(snapshot, ACCOUNT)
    assert record.status == "rejected" and record.decision is None
    assert quoted in (record.error or "")
    assert record.effective.action == "hold"  # never a trade
    assert len(fake.requests) == 2 and quoted in last_user(fake.requests[1])


async def test_timeout_is_the_budget_of_the_whole_decision_and_its_tokens_count(
    fake: FakeOpenAIServer, snapshot: Snapshot
) -> None:
    fake.script(answer(good(), delay_s=5.0))
    h = Harness(fake, timeout_s=0.25, max_retries=3, fallback_models=("backup",), max_tokens=321)
    started = time.monotonic()
    record = await h.engine.decide(snapshot, ACCOUNT)
    elapsed = time.monotonic() - started
    assert record.status == "failed" and record.attempts == 1  # not retried: the budget is spent
    assert "budget of one decision" in (record.error or "")
    assert elapsed < 2.0  # one 0.25 s budget; it never waited for the 5 s server
    (call,) = await h.usage.calls()
    assert call.status == "timeout"
    # The server read the prompt and may finish generating: the daily budget counts it.
    assert call.prompt_tokens > 500 and call.completion_tokens == 321
    assert await h.usage.tokens_on(NOW.date()) == call.prompt_tokens + 321


async def test_429_honours_retry_after_with_a_cap(fake: FakeOpenAIServer, snapshot: Snapshot) -> None:
    fake.script(error(429, "rate limited", headers={"retry-after": "3"}), answer(good()))
    h = Harness(fake)
    record = await h.engine.decide(snapshot, ACCOUNT)
    assert record.status == "ok" and record.attempts == 2 and h.sleeps == [3.0]
    fake.script(error(429, "slow down", headers={"retry-after": "600"}), answer(good()))
    h = Harness(fake)
    assert (await h.engine.decide(snapshot, ACCOUNT)).status == "ok"
    assert h.sleeps == [5.0]  # the cap, not ten minutes


async def test_5xx_then_success_with_backoff(fake: FakeOpenAIServer, snapshot: Snapshot) -> None:
    fake.script(error(503, "overloaded"), error(500, "oops"), answer(good()))
    h = Harness(fake)
    record = await h.engine.decide(snapshot, ACCOUNT)
    assert record.status == "ok" and record.attempts == 3
    assert h.sleeps == [0.01, 0.02]
    assert [c.status for c in await h.usage.calls()] == ["http_503", "http_500", "ok"]


async def test_5xx_forever_fails_after_the_bound(fake: FakeOpenAIServer, snapshot: Snapshot) -> None:
    fake.script(error(502, "bad gateway"))
    record = await Harness(fake, max_retries=2).engine.decide(snapshot, ACCOUNT)
    assert record.status == "failed" and record.attempts == 3 and "HTTP 502" in (record.error or "")


async def test_empty_content_fails(fake: FakeOpenAIServer, snapshot: Snapshot) -> None:
    fake.script(answer(""))
    record = await Harness(fake).engine.decide(snapshot, ACCOUNT)
    assert record.status == "failed" and "empty" in (record.error or "")
    assert record.attempts == 2  # one re-ask, then give up
    assert record.effective.action == "hold"


async def test_fallback_model_used(fake: FakeOpenAIServer, snapshot: Snapshot) -> None:
    fake.script(lambda body: error(500, "down") if body["model"] == "main-model" else answer(good()))
    h = Harness(fake, fallback_models=("backup-model",), max_retries=1)
    record = await h.engine.decide(snapshot, ACCOUNT)
    assert record.status == "ok" and record.model == "backup-model"
    assert [r.model for r in fake.requests] == ["main-model", "main-model", "backup-model"]
    assert record.attempts == 3


async def test_unknown_model_404_goes_straight_to_fallback(fake: FakeOpenAIServer, snapshot: Snapshot) -> None:
    fake.script(lambda body: error(404, "model not found") if body["model"] == "gone" else answer(good()))
    h = Harness(fake, model="gone", fallback_models=("backup-model",))
    record = await h.engine.decide(snapshot, ACCOUNT)
    assert record.status == "ok" and record.model == "backup-model" and record.attempts == 2


async def test_all_models_failing_is_failed_with_each_reason(fake: FakeOpenAIServer, snapshot: Snapshot) -> None:
    fake.script(error(503, "down"))
    h = Harness(fake, fallback_models=("b",), max_retries=0)
    record = await h.engine.decide(snapshot, ACCOUNT)
    assert record.status == "failed" and "main-model: HTTP 503" in (record.error or "")
    assert "b: HTTP 503" in (record.error or "")


async def test_connection_refused_fails(snapshot: Snapshot) -> None:
    engine = LlmEngine(
        LlmConfig(base_url="http://127.0.0.1:9/v1", max_retries=1, retry_backoff_s=0.0, timeout_s=1.0),
        API_KEY,
        sleep=_no_sleep,
        clock=SimulatedClock(NOW),
    )
    record = await engine.decide(snapshot, ACCOUNT)
    assert record.status == "failed" and "connection failed after 2 attempt(s)" in (record.error or "")


async def _no_sleep(_: float) -> None:
    return None


async def test_budget_exhausted_degrades_to_rules_and_alerts_once(fake: FakeOpenAIServer, snapshot: Snapshot) -> None:
    h = Harness(fake, daily_token_budget=500)
    first = await h.engine.decide(snapshot, ACCOUNT)
    assert first.engine == "llm" and await h.usage.tokens_on(NOW.date()) == 980
    second = await h.engine.decide(snapshot, AccountView(equity=9_000.0, available=9_000.0))
    third = await h.engine.decide(snapshot, AccountView(equity=9_500.0, available=9_500.0))
    assert second.engine == third.engine == "rules" and second.status == "ok"
    assert "budget" in second.model
    assert len(fake.requests) == 1  # nothing more was spent
    assert len(h.alerts) == 1 and "500" in h.alerts[0]


async def test_cache_makes_the_second_replay_free_and_identical(fake: FakeOpenAIServer, snapshot: Snapshot) -> None:
    h = Harness(fake)
    first = await h.engine.decide(snapshot, ACCOUNT)
    second = await h.engine.decide(snapshot, ACCOUNT)
    assert len(fake.requests) == 1
    assert second.cached and second.decision == first.decision and second.usage.prompt_tokens == 0
    fake.script(error(503))
    other = await Harness(fake, max_retries=0).engine.decide(snapshot, AccountView(5.0, 5.0))
    assert other.status == "failed"


async def test_failures_are_not_cached(fake: FakeOpenAIServer, snapshot: Snapshot) -> None:
    fake.script(error(503), answer(good()))
    h = Harness(fake, max_retries=0)
    assert (await h.engine.decide(snapshot, ACCOUNT)).status == "failed"
    assert len(h.cache) == 0
    assert (await h.engine.decide(snapshot, ACCOUNT)).status == "ok"
    assert len(h.cache) == 1


async def test_api_key_never_in_prompt_logs_or_record(
    fake: FakeOpenAIServer, snapshot: Snapshot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    records = []
    for script in (
        [answer(good())],
        [answer("not json at all"), answer(good(leverage=500))],
        [error(401, f"Incorrect API key provided: {API_KEY}. You can find your key at ...")],
        [lambda body: error(400, f"bad key {API_KEY}") if body.get("response_format") else answer(good())],
        [error(503, f"upstream saw {API_KEY}")],
    ):
        fake.script(*script)
        h = Harness(fake, max_retries=1)
        records.append(await h.engine.decide(snapshot, AccountView(equity=1.0 + len(records), available=1.0)))
    assert {r.status for r in records} == {"ok", "rejected", "failed"}
    assert fake.requests and all(r.headers["authorization"] == f"Bearer {API_KEY}" for r in fake.requests)
    for request in fake.requests:
        assert API_KEY not in request.raw
    assert API_KEY not in caplog.text
    for record in records:
        assert API_KEY not in json.dumps(record.to_json_dict())


# ---- review R4 ------------------------------------------------------------------------------------


async def test_repair_reask_quotes_a_bounded_redacted_answer(fake: FakeOpenAIServer, snapshot: Snapshot) -> None:
    rambling = f"<think>{'t' * 50_000}</think>I cannot share {API_KEY}. " + "blah " * 40_000
    fake.script(answer(rambling), answer(good()))
    record = await Harness(fake).engine.decide(snapshot, ACCOUNT)
    assert record.status == "ok" and len(fake.requests) == 2
    reask = fake.requests[1]
    assert API_KEY not in reask.raw
    assert len(reask.messages[-2]["content"]) <= 1_100 and "truncated" in reask.messages[-2]["content"]
    assert len(reask.messages[-1]["content"]) <= 800
    assert len(reask.raw) < len(fake.requests[0].raw) + 3_000  # the re-ask costs about one prompt, not 250 kB


async def test_a_stalled_body_is_cut_at_the_call_timeout(fake: FakeOpenAIServer, snapshot: Snapshot) -> None:
    # Every byte arrives within httpx's read timeout, so only a total per-call bound stops it (~10 s otherwise).
    fake.script(answer(good(), drip_s=0.02))
    h = Harness(fake, timeout_s=0.3, max_retries=0)
    record = await h.engine.decide(snapshot, ACCOUNT)
    assert record.status == "failed" and "timeout" in (record.error or "")
    assert [c.status for c in await h.usage.calls()] == ["timeout"]


async def test_retry_after_an_hour_is_bounded_across_fallback_models(fake: FakeOpenAIServer, snapshot: Snapshot) -> None:
    fake.script(error(429, "come back in an hour", headers={"retry-after": "3600"}))
    h = Harness(fake, fallback_models=("b", "c"), timeout_s=12.0, max_retries=2, retry_wait_cap_s=5.0)
    record = await h.engine.decide(snapshot, ACCOUNT)
    assert record.status == "failed" and record.effective.action == "hold"
    # One decision never waits longer than its time budget, across every model.
    assert all(s <= 5.0 for s in h.sleeps) and sum(h.sleeps) <= 12.0
    assert len(fake.requests) <= 2 * 3  # not 3 models x 3 attempts


async def test_cache_is_keyed_by_endpoint_and_model_chain(fake: FakeOpenAIServer, snapshot: Snapshot) -> None:
    shared = MemoryDecisionCache()
    fake.script(lambda body: error(500, "down") if body["model"] == "main-model" else answer(good()))
    first = Harness(fake, fallback_models=("backup-model",), max_retries=0)
    first.engine.cache = shared
    assert (await first.engine.decide(snapshot, ACCOUNT)).model == "backup-model"
    # Without that fallback the backup's answer is not this configuration's answer.
    fake.requests.clear()
    fake.script(answer(good(confidence=0.61)))
    alone = Harness(fake)
    alone.engine.cache = shared
    record = await alone.engine.decide(snapshot, ACCOUNT)
    assert not record.cached and record.model == "main-model" and len(fake.requests) == 1
    # Same model name at another endpoint: another model.
    fake.requests.clear()
    elsewhere = Harness(fake, base_url=fake.base_url.replace("127.0.0.1", "localhost"))
    elsewhere.engine.cache = shared
    assert not (await elsewhere.engine.decide(snapshot, ACCOUNT)).cached and len(fake.requests) == 1


async def test_the_prompt_holds_no_answer_to_copy_and_a_copied_template_is_rejected(
    fake: FakeOpenAIServer, snapshot: Snapshot
) -> None:
    # 4 of 5 real decisions repeated the old prompt's example object byte for byte (#15 defect 4).
    for line in system_prompt().splitlines():
        for start in [i for i, c in enumerate(line) if c == "{"]:
            try:
                value, _ = json.JSONDecoder().raw_decode(line, start)
            except ValueError:
                continue
            assert not (isinstance(value, dict) and "action" in value), f"copyable example in the prompt: {line}"
    copied = good(invalidation="<what proves you wrong>", reasoning="why, at most 600 chars")
    fake.script(answer(copied))
    record = await Harness(fake).engine.decide(snapshot, ACCOUNT)
    assert record.status == "rejected" and "template" in (record.error or "")
    assert "template" in last_user(fake.requests[1])  # the re-ask says what was wrong


# ---- #15: against real models --------------------------------------------------------------------


async def test_max_tokens_and_temperature_go_with_every_request(fake: FakeOpenAIServer, snapshot: Snapshot) -> None:
    # A constrained decoder generated 5,865 tokens in 10 minutes for one answer without a cap (#15 defect 1).
    fake.script(refuse_schema_once(), answer("no json"), answer(good()))
    h = Harness(fake, max_tokens=333, temperature=0.55)
    record = await h.engine.decide(snapshot, ACCOUNT)
    assert record.status == "ok" and len(fake.requests) == 3  # downgrade, re-ask: three requests
    assert all(r.body["max_tokens"] == 333 and r.body["temperature"] == 0.55 for r in fake.requests)


def refuse_schema_once() -> Reply:
    return error(400, "Invalid schema for response_format 'decision': unsupported keyword")


async def test_an_answer_cut_at_max_tokens_says_so(fake: FakeOpenAIServer, snapshot: Snapshot) -> None:
    fake.script(answer('{"action": "long", "confidence": 0.7, "reasoning": "aaaa', finish_reason="length"))
    record = await Harness(fake, max_tokens=50).engine.decide(snapshot, ACCOUNT)
    assert record.status == "failed" and "LLM_MAX_TOKENS=50" in (record.error or "")


async def test_a_context_length_400_is_no_format_refusal(fake: FakeOpenAIServer, snapshot: Snapshot) -> None:
    # llama-server's words when the prompt does not fit: once taken as "json_schema refused" and stored for good.
    message = "the request exceeds the available context size, try increasing it"
    fake.script(error(400, message))
    h = Harness(fake)
    record = await h.engine.decide(snapshot, ACCOUNT)
    assert record.status == "failed" and message in (record.error or "")
    assert [r.response_format for r in fake.requests] == ["json_schema"]  # no downgrade
    assert await h.capabilities.mode(h.engine.endpoint, "main-model") is None  # nothing stored


async def test_a_format_refusal_keeps_the_servers_words_and_can_be_forgotten(
    fake: FakeOpenAIServer, snapshot: Snapshot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    fake.script(refuse_schema)
    h = Harness(fake)
    assert (await h.engine.decide(snapshot, ACCOUNT)).status == "ok"
    assert "This response_format type is unavailable now" in caplog.text
    assert await h.capabilities.mode(h.engine.endpoint, "main-model") == "json_object"
    assert await h.capabilities.reset() == 1
    assert await h.capabilities.mode(h.engine.endpoint, "main-model") is None


@pytest.mark.parametrize(
    ("message", "about_format"),
    [
        ("This response_format type is unavailable now", True),  # DeepSeek
        ("Invalid schema for response_format 'decision': In context=(), 'minimum' is not permitted", True),
        ("'json_schema' is not supported with this model", True),
        ("Failed to parse grammar", True),
        ("the request exceeds the available context size, try increasing it", False),  # llama.cpp
        ("This model's maximum context length is 8192 tokens. However, you requested 9000 tokens", False),
        ("Invalid value for 'temperature'", False),
    ],
)
def test_which_400s_are_about_the_output_format(message: str, about_format: bool) -> None:
    from core.decide.llm import is_format_refusal

    assert is_format_refusal(message) is about_format


async def test_record_carries_mode_and_latency(fake: FakeOpenAIServer, snapshot: Snapshot) -> None:
    fake.script(answer(good(), delay_s=0.05))
    h = Harness(fake)
    record = await h.engine.decide(snapshot, ACCOUNT)
    assert record.mode == "json_schema" and record.latency_ms >= 50 and not record.cached
    hit = await h.engine.decide(snapshot, ACCOUNT)
    assert hit.cached and hit.mode == "json_schema" and hit.latency_ms == 0.0
