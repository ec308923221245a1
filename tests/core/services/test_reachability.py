"""The reachability monitor on a fake clock: one alert per outage once it lasts UNREACHABLE_ALERT_MIN, one
recovery line, blips forgotten; the market-data and LLM-usage wrappers classify outcomes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.clock import SimulatedClock
from core.decide.usage import LlmCall, MemoryUsageLog
from core.errors import TemporaryError
from core.market.offline import MissingDataError
from core.services.reachability import ObservedMarketData, ObservedUsageLog, ReachabilityMonitor

START = datetime(2026, 12, 1, 13, 5, tzinfo=UTC)


def monitor(clock: SimulatedClock, minutes: float = 5) -> ReachabilityMonitor:
    return ReachabilityMonitor(clock, timedelta(minutes=minutes),
                               {"exchange": "Exchange (binanceusdm)", "llm": "LLM", "telegram": "Telegram"})


def test_one_alert_per_episode_after_the_threshold_and_one_recovery() -> None:
    clock = SimulatedClock(START)
    m = monitor(clock)
    m.failed("exchange", "binanceusdm candles: RequestTimeout after 4 attempts")
    assert m.due() == []
    for _ in range(4):
        clock.advance(timedelta(minutes=1))
        m.failed("exchange", "binanceusdm candles: RequestTimeout after 4 attempts")
        assert m.due() == []
    clock.advance(timedelta(minutes=1))
    assert m.due() == ["⚠️ Exchange (binanceusdm) unreachable since 13:05 UTC (5 min): "
                       "binanceusdm candles: RequestTimeout after 4 attempts"]
    clock.advance(timedelta(minutes=7))
    m.failed("exchange", "still down")
    assert m.due() == []  # once per episode
    assert m.status("exchange").ok is False
    clock.advance(timedelta(seconds=30))
    m.succeeded("exchange")
    assert m.due() == ["✅ Exchange (binanceusdm) reachable again after 13 min"]
    assert m.due() == []
    assert m.status("exchange").ok is True


def test_a_blip_shorter_than_the_threshold_says_nothing() -> None:
    clock = SimulatedClock(START)
    m = monitor(clock)
    m.failed("llm", "timeout")
    clock.advance(timedelta(minutes=4))
    m.succeeded("llm")
    clock.advance(timedelta(minutes=10))
    assert m.due() == []
    m.failed("llm", "timeout")  # a new episode starts from now
    clock.advance(timedelta(minutes=5))
    assert m.due() == ["⚠️ LLM unreachable since 13:19 UTC (5 min): timeout"]


def test_episodes_of_several_targets_are_separate_and_the_reason_is_the_latest() -> None:
    clock = SimulatedClock(START)
    m = monitor(clock)
    m.failed("telegram", "TelegramNetworkError: first")
    clock.advance(timedelta(minutes=2))
    m.failed("llm", "connection")
    clock.advance(timedelta(minutes=3))
    m.failed("telegram", "TelegramNetworkError: Cannot connect to host http://user:pw@proxy.example:8080/x")
    assert m.due() == ["⚠️ Telegram unreachable since 13:05 UTC (5 min): "
                       "TelegramNetworkError: Cannot connect to host http://***@proxy.example:8080/x"]
    clock.advance(timedelta(minutes=2))
    assert m.due() == ["⚠️ LLM unreachable since 13:07 UTC (5 min): connection"]


def test_an_outage_over_midnight_names_the_date_and_zero_minutes_never_alerts() -> None:
    clock = SimulatedClock(datetime(2026, 12, 1, 23, 58, tzinfo=UTC))
    m = monitor(clock)
    m.failed("exchange", "down")
    clock.advance(timedelta(minutes=6))
    assert m.due() == ["⚠️ Exchange (binanceusdm) unreachable since 2026-12-01 23:58 UTC (6 min): down"]

    quiet = monitor(clock, minutes=0)
    quiet.failed("exchange", "down")
    clock.advance(timedelta(hours=3))
    quiet.succeeded("exchange")
    assert quiet.due() == []
    assert quiet.status("exchange").ok is True
    with pytest.raises(ValueError, match="alert_after"):
        monitor(clock, minutes=-1)


def test_status_and_idle() -> None:
    clock = SimulatedClock(START)
    m = monitor(clock)
    assert m.status("llm").detail == "no call yet"
    assert m.idle("llm", timedelta(minutes=1))
    m.succeeded("llm")
    assert not m.idle("llm", timedelta(minutes=1))
    clock.advance(timedelta(minutes=1))
    assert m.idle("llm", timedelta(minutes=1))
    assert m.status("llm").detail == "reachable (last answer 13:05 UTC)"
    m.failed("llm", "timeout")
    clock.advance(timedelta(minutes=2))
    assert m.status("llm").detail == "unreachable since 13:06 UTC (2 min): timeout"
    m.failed("unknown-target", "ignored")  # a target nobody registered is no error


class FlakyMarket:
    def __init__(self) -> None:
        self.error: Exception | None = None

    async def ticker(self, symbol: str) -> str:
        if self.error is not None:
            raise self.error
        return symbol

    async def order_book(self, symbol: str) -> tuple[list[list[float]], list[list[float]]]:
        if self.error is not None:
            raise self.error
        return [[1.0, 2.0]], [[1.1, 2.0]]

    limit = 5


async def test_observed_market_data_classifies_outcomes_and_passes_extras_through() -> None:
    clock = SimulatedClock(START)
    m = monitor(clock)
    inner = FlakyMarket()
    md = ObservedMarketData(inner, m)
    inner.error = TemporaryError("binanceusdm ticker: NetworkError after 4 attempts: gone")
    with pytest.raises(TemporaryError):
        await md.ticker("BTC/USDT:USDT")
    assert m.status("exchange").detail.endswith("NetworkError after 4 attempts: gone")
    inner.error = MissingDataError("binanceusdm has no market NOPE")  # an answer: the exchange is there
    with pytest.raises(MissingDataError):
        await md.order_book("NOPE")  # an extra, observed too
    assert m.status("exchange").ok
    inner.error = TemporaryError("down")
    with pytest.raises(TemporaryError):
        await md.order_book("BTC/USDT:USDT")
    assert not m.status("exchange").ok
    inner.error = None
    assert await md.order_book("BTC/USDT:USDT") == ([[1.0, 2.0]], [[1.1, 2.0]])
    assert m.status("exchange").ok
    assert md.limit == 5  # plain attributes pass through


async def test_observed_usage_log_reads_the_llm_call_statuses() -> None:
    clock = SimulatedClock(START)
    m = monitor(clock)
    inner = MemoryUsageLog()
    usage = ObservedUsageLog(inner, m)

    def call(status: str) -> LlmCall:
        return LlmCall(START, "http://llm", "main-model", "json_schema", 10, 0, 2500.0, status, 0.0)

    for status, ok in (("connection", False), ("http_400", True), ("timeout", False), ("http_429", True),
                       ("http_503", False), ("ok", True)):
        await usage.record(call(status))
        assert m.status("llm").ok is ok, status
    assert m.status("llm").detail.startswith("reachable")
    await usage.record(call("http_503"))
    assert m.status("llm").detail.endswith("main-model: HTTP 503")
    assert len(await usage.calls()) == 7 and await usage.tokens_on(START.date()) == 70
