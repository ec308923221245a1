"""CcxtMarketData through ccxt's real binanceusdm code path; only `exchange.fetch` (HTTP) is replaced."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import ccxt
import ccxt.async_support as ccxt_async
import pandas as pd
import pytest
from tenacity import wait_none

from core.errors import TemporaryError, UserInputError
from core.market.ccxt_source import CcxtMarketData
from core.market.offline import MissingDataError
from core.protocols import MarketData

RECORDED = Path(__file__).resolve().parents[2] / "fixtures" / "ccxt" / "binanceusdm"
BTC = "BTC/USDT:USDT"


def recorded(name: str) -> Any:
    return json.loads((RECORDED / name).read_text())


class RecordedBinance:
    """Answers Binance USDT-M REST URLs from the recorded responses; pages klines/funding like the API."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.failures: list[Exception] = []  # raised, in order, before answering
        self.klines = recorded("klines_BTCUSDT_1h.json")
        self.funding = recorded("fundingRate_BTCUSDT.json")

    async def fetch(self, url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        parsed = urlparse(url)
        query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
        self.calls.append((parsed.path, query))
        if self.failures:
            raise self.failures.pop(0)
        path = parsed.path.removeprefix("/fapi/v1/")
        if path == "exchangeInfo":
            return recorded("exchangeInfo.json")
        if path in ("klines", "markPriceKlines"):
            start, limit = int(query.get("startTime", 0)), int(query.get("limit", 500))
            return [k for k in self.klines if k[0] >= start][:limit]
        if path == "fundingRate":
            start, limit = int(query.get("startTime", 0)), int(query.get("limit", 100))
            return [f for f in self.funding if f["fundingTime"] >= start][:limit]
        simple: dict[str, Callable[[], Any]] = {
            "ticker/24hr": lambda: recorded("ticker24hr_BTCUSDT.json"),
            "depth": lambda: recorded("depth_BTCUSDT.json"),
            "premiumIndex": lambda: recorded("premiumIndex_BTCUSDT.json"),
            "openInterest": lambda: recorded("openInterest_BTCUSDT.json"),
        }
        if path in simple:
            return simple[path]()
        if parsed.path.endswith("/futures/data/openInterestHist"):
            start, limit = int(query.get("startTime", 0)), int(query.get("limit", 30))
            return [r for r in recorded("openInterestHist_BTCUSDT_1h.json") if r["timestamp"] >= start][:limit]
        raise ccxt.ExchangeError(f"no recording for {parsed.path}")


@pytest.fixture
async def wire():
    exchange = ccxt_async.binanceusdm({"enableRateLimit": True})
    fake = RecordedBinance()
    exchange.fetch = fake.fetch  # the one method every ccxt request goes through
    market = CcxtMarketData(exchange, attempts=3, wait=wait_none())
    yield market, fake
    await market.close()


async def test_is_market_data_with_rate_limit(wire) -> None:
    market, fake = wire
    assert isinstance(market, MarketData)
    assert market.exchange.enableRateLimit is True
    assert list(await market.symbols()) == [BTC, "ETH/USDT:USDT"]
    assert fake.calls[0][0] == "/fapi/v1/exchangeInfo"


async def test_candles_closed_only_with_pagination(wire, monkeypatch: pytest.MonkeyPatch) -> None:
    market, fake = wire
    until = datetime(2024, 3, 1, 12, 30, tzinfo=UTC)
    frame = await market.candles(BTC, "1h", until=until, limit=50)
    assert len(frame) == 50 and list(frame.columns) == ["open", "high", "low", "close", "volume"]
    assert frame.index[-1] == pd.Timestamp("2024-03-01T11:00Z")
    assert frame["close"].iloc[-1] == 61927.7
    assert frame.index.is_monotonic_increasing and str(frame.index.tz) == "UTC"
    klines = [q for p, q in fake.calls if p.endswith("/klines")]
    assert klines[0]["symbol"] == "BTCUSDT" and klines[0]["interval"] == "1h"
    # Force small pages: the same 200 bars arrive across several requests, in order, no duplicates.
    monkeypatch.setattr("core.market.ccxt_source.MAX_PAGE", 60)
    fake.calls.clear()
    paged = await market.candles(BTC, "1h", until=until, limit=200)
    assert len([p for p, _ in fake.calls if p.endswith("/klines")]) >= 4
    assert len(paged) == 200 and paged.index.is_unique
    assert (paged.index[1:] - paged.index[:-1] == pd.Timedelta(hours=1)).all()


async def test_funding_history_and_current(wire) -> None:
    market, _ = wire
    rates = await market.funding_rates(
        BTC, since=datetime(2024, 2, 28, tzinfo=UTC), until=datetime(2024, 3, 1, 8, tzinfo=UTC)
    )
    assert rates.index[0] == pd.Timestamp("2024-02-28T00:00Z")
    assert rates.index[-1] == pd.Timestamp("2024-03-01T08:00Z")
    assert rates.iloc[-1] == pytest.approx(0.00064824)
    assert await market.funding_rate(BTC) == pytest.approx(0.00064824)


async def test_ticker_book_and_open_interest(wire) -> None:
    market, _ = wire
    ticker = await market.ticker(BTC)
    assert ticker.last == 61927.7
    assert (ticker.bid, ticker.ask) == (61927.6, 61927.7)  # from the book: the 24h ticker has none
    assert ticker.quote_volume_24h == pytest.approx(27497508921.37)
    assert ticker.change_24h_pct == pytest.approx(-1.733)
    assert ticker.spread_bps == pytest.approx(0.1 / 61927.65 * 10_000)
    top = await market.order_book_top(BTC)
    assert top is not None and top.bid_size == 3.512 and top.ask_size == 7.201
    assert await market.open_interest(BTC) == pytest.approx(81736.142)


async def test_retries_network_errors_then_succeeds(wire) -> None:
    market, fake = wire
    await market.symbols()
    fake.failures = [ccxt.NetworkError("connection reset"), ccxt.RateLimitExceeded("429")]
    ticker = await market.ticker(BTC)
    assert ticker.last == 61927.7
    assert [p for p, _ in fake.calls].count("/fapi/v1/ticker/24hr") == 3


async def test_gives_up_as_temporary_error(wire) -> None:
    market, fake = wire
    await market.symbols()
    fake.failures = [ccxt.RequestTimeout("timeout")] * 3
    with pytest.raises(TemporaryError, match="RequestTimeout after 3 attempts"):
        await market.ticker(BTC)


async def test_unknown_symbol_and_exchange(wire) -> None:
    market, _ = wire
    with pytest.raises(MissingDataError, match="no market NOPE/USDT:USDT"):
        await market.candles("NOPE/USDT:USDT", "1h", until=datetime(2024, 3, 1, tzinfo=UTC), limit=5)
    with pytest.raises(UserInputError, match="not a ccxt exchange id"):
        CcxtMarketData.from_id("nosuchexchange")


async def test_from_id_enables_rate_limit() -> None:
    market = CcxtMarketData.from_id("binanceusdm")
    try:
        assert market.exchange.enableRateLimit is True and market.exchange.id == "binanceusdm"
    finally:
        await market.close()


async def test_a_settlement_stamped_a_millisecond_late_counts_at_its_own_hour(wire) -> None:
    """Binance stamps some settlements at 00:00:00.001; the offline files (replay) hold them at 00:00, so a live
    snapshot at 00:00 must count them too — it left them out, and live funding_avg_24h differed from replay's."""
    market, fake = wire
    jittered = next(f for f in fake.funding if f["fundingTime"] % 1000)
    until = datetime.fromtimestamp(jittered["fundingTime"] // 1000, tz=UTC)
    rates = await market.funding_rates(BTC, since=until - pd.Timedelta(days=1), until=until)
    assert rates.index[-1] == pd.Timestamp(until)
    assert rates.iloc[-1] == pytest.approx(float(jittered["fundingRate"]))
