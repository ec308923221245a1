from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.clock import SimulatedClock
from core.errors import UserInputError
from core.market.offline import (
    MissingDataError,
    OfflineMarketData,
    resample,
    sample_data_dir,
    stem_to_symbol,
    symbol_to_stem,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "data"
SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "freqtrade-userdata-cyft_trader" / "original"
BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def market() -> OfflineMarketData:
    return OfflineMarketData(FIXTURES)


def test_symbol_names() -> None:
    assert symbol_to_stem("BTC/USDT:USDT") == "BTC_USDT_USDT"
    assert stem_to_symbol("1000PEPE_USDT_USDT") == "1000PEPE/USDT:USDT"
    assert stem_to_symbol("ETH_BTC") == "ETH/BTC"


async def test_symbols_and_timeframes(market: OfflineMarketData) -> None:
    assert list(await market.symbols()) == [BTC, ETH]
    assert market.native_timeframes(BTC) == ["1h"]
    assert market.has_funding(BTC) and not market.has_funding(ETH)


async def test_candles_only_closed_bars_and_limit(market: OfflineMarketData) -> None:
    frame = await market.candles(BTC, "1h", until=utc(2024, 3, 1, 12), limit=3)
    assert list(frame.columns) == ["open", "high", "low", "close", "volume"]
    assert str(frame.index.tz) == "UTC"
    assert list(frame.index) == [pd.Timestamp(f"2024-03-01T{h:02d}:00Z") for h in (9, 10, 11)]
    assert frame["close"].iloc[-1] == 61927.7  # the real close of the 11:00 bar
    # Half past twelve: the 12:00 bar is still open.
    later = await market.candles(BTC, "1h", until=utc(2024, 3, 1, 12, 30), limit=1)
    assert later.index[-1] == pd.Timestamp("2024-03-01T11:00Z")
    assert (await market.candles(BTC, "1h", until=utc(2024, 2, 1), limit=10)).empty


async def test_resampled_4h_and_1d_match_pandas_and_drop_the_unfinished_day(market: OfflineMarketData) -> None:
    hourly = market.frame(BTC, "1h")
    daily = market.frame(BTC, "1d")
    # Data runs 2024-03-01 00:00 → 2024-03-03 13:00: the 3rd is unfinished and must not be a bar.
    assert list(daily.index) == [pd.Timestamp("2024-03-01T00:00Z"), pd.Timestamp("2024-03-02T00:00Z")]
    expected = hourly.resample("1D").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    ).iloc[:2]
    np.testing.assert_allclose(daily.to_numpy(), expected.to_numpy())
    four = await market.candles(BTC, "4h", until=utc(2024, 3, 3, 14), limit=100)
    assert four.index[-1] == pd.Timestamp("2024-03-03T08:00Z")  # 12:00-16:00 has only 12:00 and 13:00
    first = hourly.iloc[:4]
    assert four.iloc[0].tolist() == [first.open.iloc[0], first.high.max(), first.low.min(), first.close.iloc[-1],
                                     pytest.approx(first.volume.sum())]


def test_resample_keeps_a_group_with_a_hole_inside_the_data(market: OfflineMarketData) -> None:
    eth_4h = market.frame(ETH, "4h")
    assert pd.Timestamp("2024-03-02T04:00Z") in eth_4h.index  # 05:00 is missing but the bar has closed
    assert len(market.frame(ETH, "1d")) == 2


def test_resample_refuses_non_divisible() -> None:
    frame = pd.DataFrame(
        {c: [1.0] for c in ("open", "high", "low", "close", "volume")},
        index=pd.DatetimeIndex([pd.Timestamp("2024-01-01T00:00Z")]),
    )
    with pytest.raises(ValueError, match="cannot resample"):
        resample(frame, 3_600_000 * 3, 3_600_000 * 4)


async def test_funding_rates_and_mark(market: OfflineMarketData) -> None:
    rates = await market.funding_rates(BTC, since=utc(2024, 3, 1), until=utc(2024, 3, 1, 16))
    assert list(rates.index) == [pd.Timestamp(f"2024-03-01T{h:02d}:00Z") for h in (0, 8, 16)]
    assert rates.iloc[1] == pytest.approx(0.00064824)
    marks = await market.mark_prices(BTC, since=utc(2024, 3, 1), until=utc(2024, 3, 1, 8))
    assert marks is not None and marks.iloc[-1] == pytest.approx(61475.96607447)
    assert await market.mark_prices(ETH, since=utc(2024, 3, 1), until=utc(2024, 3, 2)) is None
    assert (await market.funding_rates(ETH, since=utc(2024, 3, 1), until=utc(2024, 3, 2))).empty


def test_funding_jitter_is_rounded_and_feather_preferred(tmp_path: Path) -> None:
    index = pd.to_datetime(["2024-03-01 00:00:00.000", "2024-03-01 08:00:00.008"], utc=True)
    pd.DataFrame({"date": index, "open": [0.0001, 0.0002], "high": 0.0, "low": 0.0, "close": 0.0, "volume": 0.0}
                 ).to_feather(tmp_path / "XRP_USDT_USDT-8h-funding_rate.feather")
    candles = pd.DataFrame({"date": index, "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0})
    candles.to_feather(tmp_path / "XRP_USDT_USDT-8h-futures.feather")
    candles.assign(close=2.0).to_csv(tmp_path / "XRP_USDT_USDT-8h-futures.csv", index=False)
    market = OfflineMarketData(tmp_path)
    assert list(market.funding_series("XRP/USDT:USDT").index) == list(index.round("s"))
    assert market.frame("XRP/USDT:USDT", "8h")["close"].tolist() == [1.0, 1.0]


async def test_ticker_at_clock_time(market: OfflineMarketData) -> None:
    ticked = OfflineMarketData(FIXTURES, clock=SimulatedClock(utc(2024, 3, 2, 12)))
    ticker = await ticked.ticker(BTC)
    day = market.frame(BTC, "1h").loc["2024-03-01T12:00Z":"2024-03-02T11:00Z"]
    assert ticker.last == day.close.iloc[-1]
    assert ticker.quote_volume_24h == pytest.approx(float((day.close * day.volume).sum()))
    day_ago = market.frame(BTC, "1h").close.loc["2024-03-01T11:00Z"]
    assert ticker.change_24h_pct == pytest.approx((day.close.iloc[-1] / day_ago - 1) * 100)
    assert await market.open_interest(BTC) is None


def test_errors_are_user_errors_with_what_is_there(market: OfflineMarketData, tmp_path: Path) -> None:
    with pytest.raises(MissingDataError, match=r"no data for NOPE/USDT:USDT .*have: BTC/USDT:USDT, ETH/USDT:USDT"):
        market.frame("NOPE/USDT:USDT", "1h")
    with pytest.raises(UserInputError, match="does not exist"):
        OfflineMarketData(tmp_path / "nope")
    with pytest.raises(MissingDataError, match="none finer"):
        market.frame(BTC, "30m")
    assert market.data_start(BTC) == utc(2024, 3, 1, 1)
    assert market.data_end(BTC) == utc(2024, 3, 3, 14)


async def test_sample_data_is_bundled_and_readable() -> None:
    market = OfflineMarketData(sample_data_dir())
    assert list(await market.symbols()) == [BTC, ETH]
    hourly = market.frame(BTC, "1h")
    assert len(hourly) > 2000 and hourly.index.is_monotonic_increasing
    assert len(market.funding_series(ETH)) > 300
    total = sum(p.stat().st_size for p in sample_data_dir().iterdir())
    assert total < 400_000


def test_real_data_resamples_from_the_coarsest_stored_divisor() -> None:
    if not SHARED.is_dir():
        pytest.skip(f"real data folder {SHARED} absent")
    market = OfflineMarketData(SHARED)
    assert market.native_timeframes(BTC) == ["5m", "15m", "1h"]
    daily = market.frame(BTC, "1d")
    from_5m = resample(market.frame(BTC, "5m"), 300_000, 86_400_000)
    common = daily.index.intersection(from_5m.index)
    assert len(common) > 400
    prices = ["open", "high", "low", "close"]
    np.testing.assert_allclose(daily.loc[common, prices].to_numpy(), from_5m.loc[common, prices].to_numpy())
    # The exchange's 5m and 1h volumes disagree slightly on one maintenance day; elsewhere they sum up.
    np.testing.assert_allclose(daily.loc[common, "volume"], from_5m.loc[common, "volume"], rtol=0.005)
    assert daily.index[-1] + timedelta(days=1) <= market.data_end(BTC)
