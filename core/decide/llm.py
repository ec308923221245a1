"""The LLM decision engine on the openai SDK, against any OpenAI-compatible endpoint.

One call per symbol (system prompt + snapshot JSON verbatim + account context). Every failure becomes
"no trade" with a reason (DESIGN §4.4):
- structured output: strict JSON schema → JSON-object mode → prompt-only with tolerant extraction, stepping
  down only on a 400/422 whose message is about `response_format` (a context-length 400 is not); the mode
  that works is remembered per endpoint + model (`reset` on the store forgets it), and the server's words
  are kept in the log;
- every request carries `max_tokens` and the configured temperature;
- an unusable answer gets one re-ask quoting what was wrong, then the record is `rejected` (parsed but
  invalid) or `failed` (no JSON);
- transport errors (timeout, 429 honouring Retry-After with a cap, 5xx, connection) are retried with
  backoff up to a bound, then `failed`; then the next fallback model is tried;
- `timeout_s` is the time budget of one whole decision: every attempt, retry wait, downgrade, re-ask and
  fallback model draw on it, and each call is cut at what is left (httpx's own timeout is per read, so a
  stalled trickle would never end). A timed-out call is logged with its prompt tokens estimated and
  `max_tokens` as its completion (the server may well finish generating), so the budget counts it;
- every HTTP call is recorded with its cost; past the daily token budget the rules engine decides and
  the admins are told once per UTC day;
- outcomes are cached by endpoint, model chain, prompt version, snapshot and account context, so a replay
  is free the second time and identical.
The API key goes to the client only; it is scrubbed from every error text that is logged or returned.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import openai
from openai import AsyncOpenAI
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base

from core.clock import SystemClock
from core.config import LlmConfig
from core.decide.cache import DecisionCache, as_cache_hit, cache_key
from core.decide.capabilities import CapabilityStore, MemoryCapabilityStore, OutputMode, weaker_mode
from core.decide.endpoints import is_local_endpoint
from core.decide.parsing import InvalidDecisionError, NoJsonError, parse_decision, strict_json_schema
from core.decide.prompt import (
    account_context,
    prompt_version,
    repair_messages,
    system_prompt,
    template_placeholders,
    user_message,
)
from core.decide.usage import LlmCall, MemoryUsageLog, UsageLog, estimate_cost
from core.models import AccountView, Decision, DecisionRecord, DecisionStatus, Snapshot, TokenUsage
from core.protocols import Alert, Clock, DecisionEngine

log = logging.getLogger(__name__)

BudgetAlert = Alert
Sleep = Callable[[float], Awaitable[None]]


class _Unsupported(Exception):
    """The endpoint refused the structured-output mode (a 400/422 about response_format)."""


# A 400/422 steps the output mode down only when the server's message is about the structured output.
_ABOUT_FORMAT = re.compile(r"response[_ ]format|json[_ ]schema|json[_ ]object|structured|grammar|\bschema\b|json mode",
                           re.IGNORECASE)
_ABOUT_CONTEXT = re.compile(
    r"context[ _-]?(length|size|window)|too long|too many tokens|exceeds? .{0,40}(context|tokens)", re.IGNORECASE
)


def is_format_refusal(message: str) -> bool:
    """Whether an HTTP 400/422 message says the structured-output request itself is refused."""
    return bool(_ABOUT_FORMAT.search(message)) and not _ABOUT_CONTEXT.search(message)


class _TransportFailure(Exception):
    """No answer after the transport retries (or a non-retryable HTTP error)."""


@dataclass(slots=True)
class _TimeBudget:
    """Seconds one decision may spend, counted as call latencies plus retry waits (the injected sleep
    included, so tests with a fake sleep see the same accounting as production)."""

    limit_s: float
    spent_s: float = 0.0

    @property
    def remaining_s(self) -> float:
        return self.limit_s - self.spent_s


class _StopOutOfTime(stop_base):
    """Stop retrying when the next wait would overrun the decision's time budget."""

    def __init__(self, budget: _TimeBudget) -> None:
        self._budget = budget

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self._budget.spent_s + retry_state.upcoming_sleep >= self._budget.limit_s


@dataclass(slots=True)
class _Outcome:
    status: DecisionStatus
    decision: Decision | None = None
    error: str | None = None
    attempts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    mode: OutputMode | None = None
    truncated: bool = False  # the last answer stopped at max_tokens
    value: Any = None  # what a custom `parse` made of the answer (JsonAsk); decisions use `decision`


@dataclass(frozen=True, slots=True)
class JsonAsk:
    """A structured question other than a decision (the news analyst, #17), through the same transport,
    output-mode steps, retries, time budget and usage log. `parse` raises NoJsonError/InvalidDecisionError
    on an unusable answer (one re-ask quoting it, as for decisions)."""

    messages: list[dict[str, str]]
    schema: dict[str, Any]
    schema_name: str
    parse: Callable[[str | None], Any]


@dataclass(frozen=True, slots=True)
class JsonAnswer:
    status: DecisionStatus
    value: Any
    error: str | None
    model: str
    usage: TokenUsage


def _is_transient(error: BaseException) -> bool:
    if isinstance(error, openai.APITimeoutError | openai.APIConnectionError | openai.RateLimitError):
        return True
    return isinstance(error, openai.APIStatusError) and error.status_code >= 500


def retry_after_seconds(error: BaseException) -> float | None:
    """Retry-After (seconds or HTTP date) or retry-after-ms of a 429/503, if the server gave one."""
    response = getattr(error, "response", None)
    if response is None:
        return None
    headers = response.headers
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _status_name(error: BaseException) -> str:
    if isinstance(error, openai.APITimeoutError):
        return "timeout"
    if isinstance(error, openai.APIConnectionError):
        return "connection"
    if isinstance(error, openai.APIStatusError):
        return f"http_{error.status_code}"
    return "error"


class LlmEngine:
    name = "llm"

    def __init__(
        self,
        config: LlmConfig,
        api_key: str | None,
        *,
        fallback: DecisionEngine | None = None,
        usage: UsageLog | None = None,
        capabilities: CapabilityStore | None = None,
        cache: DecisionCache | None = None,
        clock: Clock | None = None,
        on_budget_exhausted: BudgetAlert | None = None,
        sleep: Sleep = asyncio.sleep,
        client: AsyncOpenAI | None = None,
    ) -> None:
        self.config = config
        self._secret = api_key or ""
        # Local servers (Ollama, vLLM) take any key; the SDK insists on one.
        self._client = client or AsyncOpenAI(
            base_url=config.base_url, api_key=api_key or "no-key", timeout=config.timeout_s, max_retries=0
        )
        self._fallback = fallback
        self.usage = usage or MemoryUsageLog()
        self.capabilities = capabilities or MemoryCapabilityStore()
        self.cache = cache
        self._clock = clock or SystemClock()
        self._on_budget_exhausted = on_budget_exhausted
        self._sleep = sleep
        # Local servers decode the schema as a grammar and take string bounds; OpenAI's strict mode refuses them.
        self._schema = strict_json_schema(string_lengths=is_local_endpoint(config.base_url))

    @property
    def endpoint(self) -> str:
        return self.config.base_url.rstrip("/")

    def _scrub(self, text: str) -> str:
        if self._secret and len(self._secret) >= 4:
            text = text.replace(self._secret, "***")
        return text

    def _redact(self, text: str) -> str:
        return self._scrub(text)[:300]

    def _time_limit_s(self) -> float:
        return self.config.timeout_s

    async def close(self) -> None:
        await self._client.close()

    # ---- the decision -------------------------------------------------------------------------

    async def decide(self, snapshot: Snapshot, account: AccountView) -> DecisionRecord:
        snapshot_json = snapshot.to_json_dict(prompt=True)
        account_json = account_context(snapshot, account)
        # A fallback's answer is this configuration's answer, not the primary model's; the same model name
        # at another endpoint is another model.
        models = (self.config.model, *self.config.fallback_models)
        identity = f"{self.endpoint}|{'>'.join(models)}"
        key = cache_key(identity, prompt_version(), snapshot_json, account_json)
        if self.cache is not None:
            hit = await self.cache.get(key)
            if hit is not None:
                return as_cache_hit(hit)

        day = self._clock.now().astimezone(UTC).date()
        budget = self.config.daily_token_budget
        if budget > 0 and await self.usage.tokens_on(day) >= budget:
            return await self._degrade(snapshot, account, day)

        messages = [
            {"role": "system", "content": system_prompt()},
            {"role": "user", "content": user_message(snapshot_json, account_json)},
        ]
        total = _Outcome(status="failed")
        errors: list[str] = []
        model = self.config.model
        time_budget = _TimeBudget(self._time_limit_s())
        for model in models:
            outcome = await self._ask(model, messages, snapshot.price, time_budget)
            total.attempts += outcome.attempts
            total.prompt_tokens += outcome.prompt_tokens
            total.completion_tokens += outcome.completion_tokens
            total.latency_ms += outcome.latency_ms
            total.mode = outcome.mode
            total.status, total.decision, total.error = outcome.status, outcome.decision, outcome.error
            if outcome.status != "failed":
                break
            errors.append(f"{model}: {outcome.error}")
            log.warning("LLM %s failed for %s: %s", model, snapshot.symbol, outcome.error)
        error = total.error if total.status != "failed" else "; ".join(errors)
        record = DecisionRecord(
            status=total.status,
            engine=self.name,
            model=model,
            attempts=total.attempts,
            decision=total.decision,
            error=None if error is None else self._redact(error),
            usage=TokenUsage(total.prompt_tokens, total.completion_tokens),
            latency_ms=round(total.latency_ms, 1),
            mode=total.mode,
        )
        if self.cache is not None:  # the cache decides whether a failure is kept (a replay's is)
            await self.cache.put(key, record)
        return record

    async def probe(self) -> DecisionRecord:
        """One real structured completion for `aitrader check`: the real system prompt and request shape
        (mode, max_tokens, downgrades) with a question whose right answer is "hold". Never cached."""
        messages = [
            {"role": "system", "content": system_prompt()},
            {"role": "user", "content": "Connection test, no market data today: decide hold with confidence 0."},
        ]
        outcome = await self._ask(self.config.model, messages, 1.0, _TimeBudget(self._time_limit_s()))
        return DecisionRecord(
            status=outcome.status,
            engine=self.name,
            model=self.config.model,
            attempts=outcome.attempts,
            decision=outcome.decision,
            error=None if outcome.error is None else self._redact(outcome.error),
            usage=TokenUsage(outcome.prompt_tokens, outcome.completion_tokens),
            latency_ms=round(outcome.latency_ms, 1),
            mode=outcome.mode,
        )

    async def budget_spent(self) -> bool:
        """Whether today's LLM_DAILY_TOKEN_BUDGET is used up (decisions and every other ask share it)."""
        budget = self.config.daily_token_budget
        return budget > 0 and await self.usage.tokens_on(self._clock.now().astimezone(UTC).date()) >= budget

    async def ask_json(self, ask: JsonAsk) -> JsonAnswer:
        """One structured question down the model chain within one LLM_TIMEOUT_S budget; never raises."""
        time_budget = _TimeBudget(self._time_limit_s())
        errors: list[str] = []
        usage = TokenUsage(0, 0)
        model = self.config.model
        for model in (self.config.model, *self.config.fallback_models):
            outcome = await self._ask(model, ask.messages, 0.0, time_budget, ask)
            usage = TokenUsage(usage.prompt_tokens + outcome.prompt_tokens,
                               usage.completion_tokens + outcome.completion_tokens)
            if outcome.status == "ok":
                return JsonAnswer("ok", outcome.value, None, model, usage)
            errors.append(f"{model}: {outcome.error}")
            if outcome.status == "rejected":
                break
        return JsonAnswer("failed", None, self._redact("; ".join(errors)), model, usage)

    async def _degrade(self, snapshot: Snapshot, account: AccountView, day: Any) -> DecisionRecord:
        message = (
            f"LLM daily token budget of {self.config.daily_token_budget:,} tokens is spent for {day}: "
            "decisions come from the rules engine until 00:00 UTC."
        )
        if not await self.usage.alerted_on(day):
            await self.usage.mark_alerted(day)
            log.warning(message)
            if self._on_budget_exhausted is not None:
                try:
                    await self._on_budget_exhausted(message)
                except Exception:  # the alert is best effort; the decision must still come
                    log.exception("budget alert failed")
        if self._fallback is None:
            return DecisionRecord("failed", self.name, self.config.model, 0, None, error="daily token budget spent")
        record = await self._fallback.decide(snapshot, account)
        return replace(record, model=f"{record.model} (LLM budget spent)")

    async def _ask(
        self, model: str, messages: list[dict[str, str]], price: float, budget: _TimeBudget, ask: JsonAsk | None = None
    ) -> _Outcome:
        """One model: structured-output downgrades, transport retries, one repair re-ask. A decision unless
        `ask` says what else to ask for and how to parse it."""
        outcome = _Outcome(status="failed")
        mode: OutputMode = await self.capabilities.mode(self.endpoint, model) or "json_schema"
        conversation = messages
        repaired = False
        while True:
            if budget.remaining_s <= 0:
                outcome.status = "failed"
                outcome.error = f"gave up: the {budget.limit_s:g}s time budget of one decision is spent"
                return outcome
            try:
                content = await self._complete(model, conversation, mode, outcome, budget, ask)
            except _Unsupported as refusal:
                weaker = weaker_mode(mode)
                if weaker is None:
                    outcome.error = f"endpoint refused the request: {refusal}"
                    return outcome
                log.warning("%s %s refused %s output (%s); using %s from now on (aitrader check "
                            "--reset-llm-capabilities forgets it)", self.endpoint, model, mode, refusal, weaker)
                mode = weaker
                await self.capabilities.set_mode(self.endpoint, model, mode)
                continue
            except _TransportFailure as failure:
                outcome.error = str(failure)
                return outcome
            try:
                if ask is not None:
                    outcome.value = ask.parse(content)
                else:
                    outcome.decision = parse_decision(content, price, placeholders=template_placeholders())
                outcome.status, outcome.error = "ok", None
                return outcome
            except (NoJsonError, InvalidDecisionError) as problem:
                if outcome.truncated:
                    problem = type(problem)(f"{problem} (the answer stopped at LLM_MAX_TOKENS={self.config.max_tokens})")
                if repaired:
                    outcome.status = "rejected" if isinstance(problem, InvalidDecisionError) else "failed"
                    outcome.error = str(problem)
                    return outcome
                repaired = True
                log.info("LLM %s answer unusable (%s); asking once more", model, problem)
                conversation = repair_messages(messages, self._scrub(content or ""), self._scrub(str(problem)))

    async def _complete(
        self, model: str, conversation: list[dict[str, str]], mode: OutputMode, outcome: _Outcome, budget: _TimeBudget,
        ask: JsonAsk | None = None,
    ) -> str | None:
        """One chat completion with transport retries; records every HTTP call."""
        kwargs: dict[str, Any] = {
            "model": model,
            "messages": conversation,
            "temperature": self.config.temperature,
            "max_tokens": self.config.max_tokens,
        }
        if mode == "json_schema":
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": ask.schema_name if ask else "decision", "strict": True,
                                "schema": ask.schema if ask else self._schema},
            }
        elif mode == "json_object":
            kwargs["response_format"] = {"type": "json_object"}

        cap = self.config.retry_wait_cap_s

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            hinted = retry_after_seconds(error) if error is not None else None
            if hinted is not None:
                return min(hinted, cap)
            return min(cap, self.config.retry_backoff_s * 2 ** (state.attempt_number - 1))

        async def sleep(seconds: float) -> None:
            budget.spent_s += seconds
            await self._sleep(seconds)

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.config.max_retries + 1) | _StopOutOfTime(budget),
            wait=wait,
            retry=retry_if_exception(_is_transient),
            sleep=sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._call_once(model, mode, kwargs, outcome, budget)
        except (openai.BadRequestError, openai.UnprocessableEntityError) as error:
            text = self._redact(f"HTTP {error.status_code}: {error.message}")
            if mode != "prompt" and is_format_refusal(str(error.message)):
                raise _Unsupported(text) from None
            raise _TransportFailure(text) from None
        except openai.APIStatusError as error:
            raise _TransportFailure(
                self._redact(f"HTTP {error.status_code} after {outcome.attempts} attempt(s): {error.message}")
            ) from None
        except openai.APITimeoutError:
            raise _TransportFailure(
                f"timeout after {outcome.attempts} attempt(s): the {budget.limit_s:g}s budget of one decision "
                f"(LLM_TIMEOUT_S) is spent"
            ) from None
        except openai.APIConnectionError as error:
            raise _TransportFailure(
                self._redact(f"connection failed after {outcome.attempts} attempt(s): {error}")
            ) from None
        except openai.OpenAIError as error:
            raise _TransportFailure(self._redact(f"{type(error).__name__}: {error}")) from None
        raise _TransportFailure("no attempt was made")  # unreachable: tenacity runs at least once

    async def _call_once(
        self, model: str, mode: OutputMode, kwargs: dict[str, Any], outcome: _Outcome, budget: _TimeBudget
    ) -> str | None:
        outcome.attempts += 1
        outcome.mode = mode
        started = time.perf_counter()
        status = "ok"
        prompt_tokens = completion_tokens = 0
        limit = max(0.001, min(self.config.timeout_s, budget.remaining_s))
        try:
            try:
                async with asyncio.timeout(limit):
                    response = await self._client.chat.completions.create(**kwargs, timeout=limit)
            except TimeoutError:
                request = httpx.Request("POST", f"{self.endpoint}/chat/completions")
                raise openai.APITimeoutError(request) from None  # type: ignore[arg-type]  # (openai types it httpx2's)
            usage = response.usage
            if usage is not None:
                prompt_tokens = usage.prompt_tokens or 0
                completion_tokens = usage.completion_tokens or 0
            choice = response.choices[0] if response.choices else None
            content = choice.message.content if choice is not None else None
            outcome.truncated = choice is not None and choice.finish_reason == "length"
            if usage is None:  # some local servers omit usage: estimate ~4 characters per token
                prompt_tokens = _estimate_tokens(kwargs["messages"])
                completion_tokens = len(content or "") // 4
            return content
        except Exception as error:
            status = _status_name(error)
            if status == "timeout":  # unknown but real: the prompt was read and generation may run on
                prompt_tokens = _estimate_tokens(kwargs["messages"])
                completion_tokens = self.config.max_tokens
            raise
        finally:
            latency = (time.perf_counter() - started) * 1000
            outcome.latency_ms += latency
            budget.spent_s += latency / 1000
            outcome.prompt_tokens += prompt_tokens
            outcome.completion_tokens += completion_tokens
            await self.usage.record(
                LlmCall(
                    at=self._clock.now().astimezone(UTC),
                    endpoint=self.endpoint,
                    model=model,
                    mode=mode,
                    prompt_tokens=prompt_tokens,
                    completion_tokens=completion_tokens,
                    latency_ms=round(latency, 1),
                    status=status,
                    cost_usd=estimate_cost(self.config, prompt_tokens, completion_tokens, model),
                )
            )


def _estimate_tokens(messages: list[dict[str, str]]) -> int:
    return sum(len(m["content"]) for m in messages) // 4  # ~4 characters per token
