"""The first-start warm-up of the funding veto: the funding history the engine gets from the market data before
its first cycle is exactly what it would have observed had its cycle run every hour of the warm-up window — checked
against a replay of that window (offline files, the demo's path) and against live snapshots built by the ccxt
gateway from recorded Binance responses (the live path). Point in time; a history that cannot be read is one
warning and an engine that waits for its own samples."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from core.decide.trend import TrendEngine, TrendParams
from core.evaluation.replay import ReplaySpec, run_replay_cycle
from core.market.offline import OfflineMarketData, sample_data_dir
from core.market.snapshot import LiveSnapshotSource
from core.models import AccountView
from core.services.funding_warmup import hourly_means, warm_up_funding
from tests.core.market import test_ccxt_source
from tests.core.market.test_ccxt_source import BTC

wire = test_ccxt_source.wire  # the recorded-Binance fixture: ccxt's real binanceusdm code over recorded responses
SHIPPED = TrendParams(signal="tsmom", allow_shorts=True, regime_filter=True, funding_veto_quantile=0.9)
FLAT = AccountView(equity=10_000.0, available=10_000.0)
SYMBOLS = ("BTC/USDT:USDT", "ETH/USDT:USDT")


async def test_the_warm_up_holds_what_a_replay_of_the_window_before_the_start_observed() -> None:
    since, now = datetime(2024, 2, 20, tzinfo=UTC), datetime(2024, 3, 25, 7, tzinfo=UTC)
    replayed = TrendEngine(SHIPPED)
    market = OfflineMarketData(sample_data_dir())
    await run_replay_cycle(market, ReplaySpec(symbols=SYMBOLS, start=since, end=now, engine="trend"), replayed)
    warmed = TrendEngine(SHIPPED)
    assert await warm_up_funding([(warmed, since)], OfflineMarketData(sample_data_dir()), SYMBOLS, now) == 2
    funding = warmed.memory()["funding"]
    assert funding == replayed.memory()["funding"]
    assert isinstance(funding, dict) and all(len(h["values"]) >= 90 for h in funding.values())
    btc, eth = (len(funding[s]["values"]) for s in SYMBOLS)
    assert warmed.memory_summary() == f"funding samples: BTC/USDT {btc} (veto active), ETH/USDT {eth} (veto active)"


def test_each_hour_sees_only_settlements_at_or_before_it() -> None:
    hour = 3_600_000
    times, rates = [0, 8 * hour, 16 * hour], [0.1, 0.2, 0.3]
    means = hourly_means(times, rates, 0, 17 * hour)
    assert means[0] == 0.1 and means[7] == 0.1 and means[8] == pytest.approx(0.15) and means[16] == pytest.approx(0.2)
    assert len(means) == 18  # [0 h, 17 h], every hour on the hour


async def test_through_ccxt_the_warm_up_equals_an_engine_fed_every_hour_by_live_snapshots(wire) -> None:
    market, fake = wire
    market.exchange.enableRateLimit = False  # recorded answers: no need to pace them
    now = datetime(2024, 3, 1, 11, tzinfo=UTC)
    warmed = TrendEngine(SHIPPED)
    assert await warm_up_funding([(warmed, now - timedelta(days=90))], market, [BTC], now) == 1
    asked = [q for p, q in fake.calls if p.endswith("/fundingRate")]
    assert asked and all(int(q.get("endTime", 0)) <= int(now.timestamp() * 1000) for q in asked)

    lived = TrendEngine(SHIPPED)
    snapshots = LiveSnapshotSource(market)
    hour = datetime(2024, 2, 20, 1, tzinfo=UTC)  # the first recorded 1h bar closes here (a settlement at 00:00)
    while hour <= now:
        lived.decide_sync(await snapshots.snapshot(BTC, hour), FLAT)
        hour += timedelta(hours=1)
    funding = warmed.memory()["funding"]
    assert funding == lived.memory()["funding"]
    assert isinstance(funding, dict)
    assert warmed.memory_summary() == f"funding samples: BTC/USDT {len(funding[BTC]['values'])} of 90 (veto not yet)"


async def test_a_history_that_cannot_be_read_is_a_warning_and_no_samples(
    wire, caplog: pytest.LogCaptureFixture
) -> None:
    market, fake = wire
    fake.failures.append(OSError("connection reset"))
    engine = TrendEngine(SHIPPED)
    now = datetime(2024, 3, 1, 11, tzinfo=UTC)
    with caplog.at_level(logging.WARNING, logger="core.services.funding_warmup"):
        assert await warm_up_funding([(engine, now - timedelta(days=90))], market, [BTC], now) == 0
    assert "funding history of BTC/USDT:USDT not read" in caplog.text
    assert engine.memory()["funding"] == {}


class _Hanging:
    """BTC's history never comes; every other symbol's comes from the bundled files."""

    def __init__(self) -> None:
        self._files = OfflineMarketData(sample_data_dir())

    async def funding_rates(self, symbol: str, *, since: datetime, until: datetime) -> pd.Series:
        if symbol == BTC:
            await asyncio.sleep(3600)
        return await self._files.funding_rates(symbol, since=since, until=until)


async def test_a_hanging_exchange_never_holds_up_the_start_and_the_rest_is_kept(
    caplog: pytest.LogCaptureFixture
) -> None:
    engine = TrendEngine(SHIPPED)
    now = datetime(2024, 5, 1, tzinfo=UTC)
    with caplog.at_level(logging.WARNING, logger="core.services.funding_warmup"):
        read = await warm_up_funding([(engine, now - timedelta(days=90))], _Hanging(), SYMBOLS, now,  # type: ignore[arg-type]
                                     timeout_s=0.5)
    assert read == 1 and "funding history of BTC/USDT:USDT not read within" in caplog.text
    assert not engine.knows_funding(BTC) and engine.knows_funding("ETH/USDT:USDT")


async def test_engines_without_a_funding_memory_are_left_alone() -> None:
    from core.decide.rules import RulesEngine

    assert await warm_up_funding([(RulesEngine(), datetime(2024, 3, 1, tzinfo=UTC))], _Hanging(), [BTC],  # type: ignore[arg-type]
                                 datetime(2024, 3, 1, tzinfo=UTC)) == 0


class _PageLimited:
    """A venue that serves at most 200 settlements a request, the oldest first (Bybit's page)."""

    def __init__(self, market: OfflineMarketData) -> None:
        self._market = market
        self.requests = 0

    async def funding_rates(self, symbol: str, *, since: datetime, until: datetime) -> pd.Series:
        self.requests += 1
        return (await self._market.funding_rates(symbol, since=since, until=until)).iloc[:200]


async def test_a_venue_with_short_pages_still_gives_the_whole_window() -> None:
    """90 days of 8 h funding are 270 rows: one request got the oldest 200 and nothing of the last three weeks."""
    now = datetime(2024, 5, 1, tzinfo=UTC)
    full, limited = TrendEngine(SHIPPED), TrendEngine(SHIPPED)
    await warm_up_funding([(full, now - timedelta(days=90))], OfflineMarketData(sample_data_dir()), [BTC], now)
    venue = _PageLimited(OfflineMarketData(sample_data_dir()))
    await warm_up_funding([(limited, now - timedelta(days=90))], venue, [BTC], now)  # type: ignore[arg-type]
    assert limited.memory() == full.memory() and venue.requests == 13  # 91 days (the first hour's 24 h too), a week each
    funding = full.memory()["funding"]
    assert isinstance(funding, dict) and len(funding[BTC]["values"]) > 200
