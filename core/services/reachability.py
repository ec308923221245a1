"""Whether the bot can reach what it depends on (exchange, LLM, Telegram), from the outcomes of the calls it
makes anyway, and the admin alerts that follow (issue #16 item 11; `/readyz` reads the same state, #20).

Pure and on a Clock: callers report each call's outcome (`succeeded` / `failed`); a failure starts an episode,
and `due()` — called about once a minute by the probe job — returns one alert per episode once it has lasted
`alert_after`, and one recovery line when a call succeeds again after an alerted episode. A blip shorter than
`alert_after` is forgotten silently. `idle()` tells the probe job which targets had no call lately.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from core.decide.usage import LlmCall, UsageLog
from core.errors import TemporaryError
from core.protocols import Clock, Ticker
from core.urls import scrub_urls_in

REASON_LIMIT = 200


@dataclass(slots=True)
class _Target:
    label: str
    last_seen: datetime | None = None  # the last outcome, either way
    last_ok: datetime | None = None
    down_since: datetime | None = None  # the open episode
    reason: str = ""
    alerted: bool = False


@dataclass(frozen=True, slots=True)
class Reach:
    """One target as `/readyz` shows it."""

    ok: bool
    detail: str


def _minutes(span: timedelta) -> int:
    return max(1, math.ceil(span.total_seconds() / 60 - 1e-9))


def _clock_time(moment: datetime, now: datetime) -> str:
    return f"{moment:%H:%M} UTC" if moment.date() == now.date() else f"{moment:%Y-%m-%d %H:%M} UTC"


@dataclass(slots=True)
class ReachabilityMonitor:
    """`labels`: target name → how the admins read it (`{"exchange": "Exchange (binanceusdm)"}`).
    `alert_after` of zero: outcomes are tracked (for `/readyz`) but nobody is alerted."""

    clock: Clock
    alert_after: timedelta
    labels: Mapping[str, str]
    _targets: dict[str, _Target] = field(init=False)
    _recoveries: list[str] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        if self.alert_after < timedelta(0):
            raise ValueError(f"alert_after must be >= 0, got {self.alert_after}")
        self._targets = {name: _Target(label) for name, label in self.labels.items()}

    @property
    def targets(self) -> Sequence[str]:
        return tuple(self._targets)

    def succeeded(self, target: str) -> None:
        t = self._targets.get(target)
        if t is None:
            return
        now = self.clock.now()
        if t.down_since is not None and t.alerted:
            self._recoveries.append(f"✅ {t.label} reachable again after {_minutes(now - t.down_since)} min")
        t.last_seen = t.last_ok = now
        t.down_since, t.reason, t.alerted = None, "", False

    def failed(self, target: str, reason: str) -> None:
        t = self._targets.get(target)
        if t is None:
            return
        now = self.clock.now()
        t.last_seen = now
        t.reason = scrub_urls_in(" ".join(reason.split()))[:REASON_LIMIT] or "no answer"
        if t.down_since is None:
            t.down_since = now

    def idle(self, target: str, quiet: timedelta) -> bool:
        """No outcome for `quiet` (or none yet): the probe job asks it once itself."""
        t = self._targets[target]
        return t.last_seen is None or self.clock.now() - t.last_seen >= quiet

    def due(self) -> list[str]:
        """The alerts to send now, each once: episodes that reached `alert_after`, then recoveries."""
        now = self.clock.now()
        out: list[str] = []
        if self.alert_after > timedelta(0):
            for t in self._targets.values():
                if t.down_since is not None and not t.alerted and now - t.down_since >= self.alert_after:
                    t.alerted = True
                    out.append(f"⚠️ {t.label} unreachable since {_clock_time(t.down_since, now)} "
                               f"({_minutes(now - t.down_since)} min): {t.reason}")
            out.extend(self._recoveries)
        self._recoveries.clear()
        return out

    def status(self, target: str) -> Reach:
        t = self._targets[target]
        now = self.clock.now()
        if t.down_since is not None:
            minutes = int((now - t.down_since).total_seconds() // 60)
            return Reach(False, f"unreachable since {_clock_time(t.down_since, now)} ({minutes} min): {t.reason}")
        if t.last_ok is None:
            return Reach(True, "no call yet")
        return Reach(True, f"reachable (last answer {_clock_time(t.last_ok, now)})")


def unreachable(error: BaseException) -> bool:
    """An outcome that says nothing answered (a network error after the gateway's retries, a timeout),
    as against an answer that refused the request (bad symbol, bad argument), which proves reachability."""
    return isinstance(error, TemporaryError | TimeoutError | ConnectionError)


class ObservedMarketData:
    """A `MarketData` that reports each call's outcome under `target` (the exchange behind ccxt). Optional
    extras of the wrapped source (`order_book`, `open_interest_history`, …) are passed through, observed too."""

    def __init__(self, inner: Any, monitor: ReachabilityMonitor, target: str = "exchange") -> None:
        self._inner = inner
        self._monitor = monitor
        self._target = target

    async def _observe(self, call: Awaitable[Any]) -> Any:
        try:
            result = await call
        except Exception as error:
            if unreachable(error):
                self._monitor.failed(self._target, str(error) or type(error).__name__)
            else:
                self._monitor.succeeded(self._target)
            raise
        self._monitor.succeeded(self._target)
        return result

    async def candles(self, symbol: str, timeframe: str, *, until: datetime, limit: int) -> Any:
        return await self._observe(self._inner.candles(symbol, timeframe, until=until, limit=limit))

    async def funding_rates(self, symbol: str, *, since: datetime, until: datetime) -> Any:
        return await self._observe(self._inner.funding_rates(symbol, since=since, until=until))

    async def ticker(self, symbol: str) -> Ticker:
        result: Ticker = await self._observe(self._inner.ticker(symbol))
        return result

    async def symbols(self) -> Sequence[str]:
        result: Sequence[str] = await self._observe(self._inner.symbols())
        return result

    async def close(self) -> None:
        await self._inner.close()

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if not callable(value) or name.startswith("_"):
            return value

        def observed(*args: Any, **kwargs: Any) -> Any:
            result = value(*args, **kwargs)
            return self._observe(result) if isinstance(result, Awaitable) else result

        return observed


def _llm_status_unreachable(status: str) -> bool:
    return status in ("timeout", "connection") or status.startswith("http_5")


def _llm_failure(call: LlmCall) -> str:
    if call.status == "timeout":
        return f"no answer within {call.latency_ms / 1000:.1f} s"
    if call.status == "connection":
        return "connection failed"
    return call.status.replace("http_", "HTTP ")


class ObservedUsageLog:
    """A `UsageLog` (every LLM HTTP call is recorded there) that also reports each call's outcome: a timeout,
    a refused connection or a 5xx means the LLM cannot be reached; any other answer means it can."""

    def __init__(self, inner: UsageLog, monitor: ReachabilityMonitor, target: str = "llm") -> None:
        self._inner = inner
        self._monitor = monitor
        self._target = target

    async def record(self, call: LlmCall) -> None:
        if _llm_status_unreachable(call.status):
            self._monitor.failed(self._target, f"{call.model}: {_llm_failure(call)}")
        else:
            self._monitor.succeeded(self._target)
        await self._inner.record(call)

    async def tokens_on(self, day: date) -> int:
        return await self._inner.tokens_on(day)

    async def calls(self, since: datetime | None = None) -> list[LlmCall]:
        return await self._inner.calls(since)

    async def alerted_on(self, day: date) -> bool:
        return await self._inner.alerted_on(day)

    async def mark_alerted(self, day: date) -> None:
        await self._inner.mark_alerted(day)
