"""The coin hunter: ranking rules, ccxt's real binanceusdm path over recorded all-market responses, offline files."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import ccxt
import ccxt.async_support as ccxt_async
import pytest
from tenacity import wait_none

from core.errors import TemporaryError
from core.market.ccxt_source import CcxtMarketData
from core.market.offline import OfflineMarketData
from core.market.scan import MarketStats, ScanFilters, rank_markets

RECORDED = Path(__file__).resolve().parents[2] / "fixtures" / "ccxt" / "binanceusdm"
TRAIN = Path(__file__).resolve().parents[4] / "shared" / "data" / "binance-perps-train"


def stats(symbol: str, volume: float | None, *, spread_bps: float | None = 1.0, high: float = 105.0,
          low: float = 95.0, change: float = 1.0) -> MarketStats:
    bid = ask = None
    if spread_bps is not None:
        bid, ask = 100.0 - spread_bps / 200, 100.0 + spread_bps / 200
    return MarketStats(symbol=symbol, last=100.0, quote_volume_24h=volume, bid=bid, ask=ask, high_24h=high,
                       low_24h=low, change_24h_pct=change)


def test_filters_leave_out_thin_and_wide_markets_and_count_why() -> None:
    result = rank_markets(
        [stats("A", 50e6), stats("B", 5e6), stats("C", 80e6, spread_bps=30), stats("D", None), stats("E", 20e6)],
        ScanFilters(min_volume_usd=10e6, max_spread_pct=0.2),
    )
    assert [r.symbol for r in result.rows] == ["A", "E"]
    assert result.markets == 5
    assert result.excluded == {"volume below the minimum": 1, "spread above the maximum": 1, "no 24h volume": 1}


def test_score_rewards_volume_tight_spread_range_and_momentum_and_marks_watched() -> None:
    best = stats("BEST", 900e6, spread_bps=0.5, high=110, low=90, change=-8.0)  # big move down counts as momentum
    mid = stats("MID", 300e6, spread_bps=2.0, high=104, low=97, change=2.0)
    dull = stats("DULL", 100e6, spread_bps=5.0, high=101, low=99.5, change=0.1)
    result = rank_markets([dull, mid, best], ScanFilters(), watched={"MID"}, top=2)
    assert [r.symbol for r in result.rows] == ["BEST", "MID"] and [r.rank for r in result.rows] == [1, 2]
    assert result.rows[0].score == 1.0 and result.rows[1].watched and not result.rows[0].watched
    assert result.proposals == ("BEST",)
    assert result.rows[0].range_pct == pytest.approx(20.0) and result.rows[0].spread_pct == pytest.approx(0.005)


def test_unknown_spread_is_not_refused_and_scores_mid_field() -> None:
    result = rank_markets([stats("A", 50e6, spread_bps=None), stats("B", 50e6, spread_bps=1.0)], ScanFilters())
    assert {r.symbol for r in result.rows} == {"A", "B"}
    assert next(r for r in result.rows if r.symbol == "A").spread_pct is None


def test_bad_inputs_are_refused_where_built() -> None:
    with pytest.raises(ValueError, match="last price"):
        MarketStats(symbol="X", last=float("nan"), quote_volume_24h=1.0)
    with pytest.raises(ValueError, match="max spread"):
        ScanFilters(max_spread_pct=0)
    with pytest.raises(ValueError, match="top"):
        rank_markets([], ScanFilters(), top=0)


class AllMarketsBinance:
    """Binance USDT-M answering exchangeInfo, /ticker/24hr and /ticker/bookTicker for every market (recorded shape)."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.failures: list[Exception] = []

    async def fetch(self, url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        path = urlparse(url).path
        self.paths.append(path)
        if self.failures:
            raise self.failures.pop(0)
        files = {"/fapi/v1/exchangeInfo": "exchangeInfo_scan.json", "/fapi/v1/ticker/24hr": "ticker24hr_all.json",
                 "/fapi/v1/ticker/bookTicker": "bookTicker_all.json"}
        if path not in files:
            raise ccxt.ExchangeError(f"no recording for {path}")
        return json.loads((RECORDED / files[path]).read_text())


@pytest.fixture
async def venue():
    exchange = ccxt_async.binanceusdm({"enableRateLimit": True})
    fake = AllMarketsBinance()
    exchange.fetch = fake.fetch
    market = CcxtMarketData(exchange, attempts=2, wait=wait_none())
    yield market, fake
    await market.close()


async def test_ccxt_stats_cover_active_perpetuals_with_book_from_bids_asks(venue) -> None:
    market, fake = venue
    found = {s.symbol: s for s in await market.market_stats()}
    # the quarterly future and the settling (delisted) perpetual are not offered
    assert sorted(found) == sorted(f"{a}/USDT:USDT" for a in ("BTC", "ETH", "DOGE", "XRP", "MATIC", "CELO", "ONE", "ZRX"))
    btc = found["BTC/USDT:USDT"]
    assert btc.last == 29895.5 and btc.quote_volume_24h == pytest.approx(8943435307.65)
    assert btc.bid == pytest.approx(29895.45) and btc.ask == pytest.approx(29895.55)
    assert btc.high_24h is not None and btc.low_24h is not None and btc.change_24h_pct is not None
    assert fake.paths.count("/fapi/v1/ticker/24hr") == 1 and fake.paths.count("/fapi/v1/ticker/bookTicker") == 1


async def test_ccxt_scan_ranks_and_leaves_out_the_wide_spread(venue) -> None:
    market, _ = venue
    result = rank_markets(await market.market_stats(), ScanFilters(min_volume_usd=50e6, max_spread_pct=0.2),
                          watched={"BTC/USDT:USDT"}, top=10)
    symbols = [r.symbol for r in result.rows]
    assert "CELO/USDT:USDT" not in symbols  # 0.3 % spread
    assert "ONE/USDT:USDT" not in symbols and "ZRX/USDT:USDT" not in symbols  # below 50 M
    assert result.excluded == {"spread above the maximum": 1, "volume below the minimum": 2}
    assert "BTC/USDT:USDT" not in result.proposals and len(symbols) == 5


async def test_ccxt_outage_is_a_temporary_error_not_a_crash(venue) -> None:
    market, fake = venue
    fake.failures = [ccxt.RequestTimeout("timed out"), ccxt.RequestTimeout("timed out")]
    with pytest.raises(TemporaryError, match="markets"):
        await market.market_stats()


@pytest.mark.skipif(not TRAIN.is_dir(), reason="needs ../shared/data/binance-perps-train")
async def test_offline_stats_are_point_in_time_from_the_files() -> None:
    from core.clock import SimulatedClock

    folder = TRAIN / "sources" / "Alpergulsen_freqtrade"
    at = datetime(2023, 7, 20, tzinfo=UTC)
    found = {s.symbol: s for s in await OfflineMarketData(folder, clock=SimulatedClock(at)).market_stats()}
    recorded = {t["symbol"]: t for t in json.loads((RECORDED / "ticker24hr_all.json").read_text())}
    doge = found["DOGE/USDT:USDT"]  # the recording was made from the same files and day
    assert doge.quote_volume_24h == pytest.approx(float(recorded["DOGEUSDT"]["quoteVolume"]), rel=1e-9)
    assert doge.high_24h == float(recorded["DOGEUSDT"]["highPrice"]) and doge.bid is None
    before = {s.symbol for s in await OfflineMarketData(folder, clock=SimulatedClock(datetime(2023, 7, 1, tzinfo=UTC))).market_stats()}
    assert before == set()  # the month of data starts on 2023-07-04: nothing is known on 07-01
