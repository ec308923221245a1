"""IndicatorState carries compute_indicators forward bar by bar with the very same floats, and the live source
that uses it gives, hour after hour, the snapshots replay computes from the same start."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from core.market.indicator_state import Bar, IndicatorState
from core.market.indicators import compute_indicators
from core.market.offline import OfflineMarketData, resample, sample_data_dir
from core.market.snapshot import LiveSnapshotSource, SeriesSnapshotSource
from core.market.timeframes import index_ms
from tests.core.market.reference.cases import DATA

BTC = "BTC/USDT:USDT"
KEEP = 64


@pytest.fixture(scope="module")
def sample() -> OfflineMarketData:
    return OfflineMarketData(sample_data_dir())


def bars_of(frame: pd.DataFrame) -> list[Bar]:
    return list(zip(index_ms(frame).tolist(), *(frame[c].tolist() for c in ("open", "high", "low", "close", "volume")),
                    strict=True))


def assert_same(got, want) -> None:
    assert list(got.columns) == list(want.columns)
    for key in want.columns:
        np.testing.assert_array_equal(got.columns[key], want.columns[key], err_msg=key)  # NaN == NaN here
    for attr in ("open_ms", "close_ms", "gaps_cum", "outliers", "bad_cum"):
        np.testing.assert_array_equal(getattr(got, attr), getattr(want, attr), err_msg=attr)
    assert got.recursions == want.recursions


def frames_to_check(sample: OfflineMarketData) -> list[tuple[pd.DataFrame, str]]:
    hourly = sample.frame(BTC, "1h")
    out = [(hourly, "1h"), (resample(hourly, 3_600_000, 4 * 3_600_000), "4h"), (sample.frame("ETH/USDT:USDT", "1h"), "1h")]
    if DATA.is_dir():  # real 5m bars (a 288-bar day) and a series with holes in it
        shared = OfflineMarketData(DATA / "freqtrade-userdata-cyft_trader" / "original")
        out.append((shared.frame(BTC, "5m").iloc[-3000:], "5m"))
        train = OfflineMarketData(DATA / "binance-perps-train" / "main")
        out.append((train.frame("ETH/USDT:USDT", "1h").iloc[:4000], "1h"))
    return out


@pytest.mark.parametrize("batch", [1, 5])
def test_extending_bar_by_bar_equals_one_pass_over_everything(sample: OfflineMarketData, batch: int) -> None:
    for frame, tf in frames_to_check(sample):
        start = len(frame) - 500 - 40
        state = IndicatorState.start(compute_indicators(frame.iloc[start:start + 500], tf), KEEP)
        assert state is not None
        new = bars_of(frame.iloc[start + 500:])
        for k in range(0, len(new), batch):
            got = state.extend(new[k:k + batch])
            assert got is not None
            assert_same(got, compute_indicators(frame.iloc[start:start + 500 + k + batch], tf).tail(KEEP))


def test_what_cannot_be_carried_forward_exactly_is_refused(sample: OfflineMarketData) -> None:
    hourly = sample.frame(BTC, "1h")
    window, after = hourly.iloc[-600:-100], bars_of(hourly.iloc[-100:-90])
    assert IndicatorState.start(compute_indicators(hourly.iloc[:150], "1h"), KEEP) is None  # EMA 200 still seeding

    def state() -> IndicatorState:
        made = IndicatorState.start(compute_indicators(window, "1h"), KEEP)
        assert made is not None
        return made

    t, o, h, lo, c, v = after[0]
    assert state().extend([(t, o, h, h, h, v)]) is None  # high == low: pandas-ta would add epsilon to every range
    assert state().extend([(t, o, h, lo, float("nan"), v)]) is None
    assert state().extend([(t - 3_600_000, o, h, lo, c, v)]) is None  # not after the last bar
    assert state().extend([]) is not None


class CountingMarketData:
    """The sample files, counting candle requests per timeframe."""

    def __init__(self, data: OfflineMarketData) -> None:
        self._data = data
        self.requests: Counter[str] = Counter()

    async def candles(self, symbol: str, timeframe: str, *, until: datetime, limit: int) -> pd.DataFrame:
        self.requests[timeframe] += 1
        return await self._data.candles(symbol, timeframe, until=until, limit=limit)

    async def funding_rates(self, symbol: str, *, since: datetime, until: datetime) -> pd.Series:
        return await self._data.funding_rates(symbol, since=since, until=until)


async def test_live_snapshots_hour_after_hour_equal_replays_from_the_same_start(sample: OfflineMarketData) -> None:
    start = datetime(2024, 4, 10, tzinfo=UTC)
    hours = 60  # several 4h and daily bars close on the way
    market = CountingMarketData(sample)
    live = LiveSnapshotSource(market)
    replay = SeriesSnapshotSource.from_offline(sample, [BTC], start, start + timedelta(hours=hours), warmup_bars=500)
    for h in range(hours):
        as_of = start + timedelta(hours=h)
        assert await live.snapshot(BTC, as_of) == replay.snapshot_sync(BTC, as_of), as_of
    assert live._cache[(BTC, "1h")].state is not None  # carried forward, not recomputed
    # a frame is asked for again only once its next bar can have closed
    assert market.requests == {"1h": hours, "4h": hours // 4, "1d": 60 // 24 + 1}


async def test_a_revised_bar_makes_the_live_source_compute_the_window_again(sample: OfflineMarketData) -> None:
    as_of = datetime(2024, 4, 10, tzinfo=UTC)
    frames = [await sample.candles(BTC, tf, until=as_of, limit=500) for tf in ("1h", "4h", "1d")]
    funding = await sample.funding_rates(BTC, since=as_of - timedelta(days=3), until=as_of)
    source = LiveSnapshotSource(sample)
    source.build(BTC, as_of, frames, funding)
    later = as_of + timedelta(hours=1)
    hourly = (await sample.candles(BTC, "1h", until=later, limit=500)).copy()
    hourly.iloc[-2, hourly.columns.get_loc("close")] *= 1.01  # the bar the state ended on, revised
    revised = source.build(BTC, later, [hourly, *frames[1:]], funding)
    expected = compute_indicators(hourly, "1h")
    assert revised.timeframes["1h"].ema_20 == expected.columns["ema_20"][-1]
    assert revised.timeframes["1h"].rsi_14 == expected.columns["rsi_14"][-1]
