"""Snapshots: point-in-time (hypothesis: the future never leaks in), both sources, flags, accessors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.market.offline import OfflineMarketData, resample, sample_data_dir
from core.market.snapshot import LiveSnapshotSource, SeriesSnapshotSource, SnapshotUnavailable
from core.models import Regime

BTC = "BTC/USDT:USDT"
HOUR = 3_600_000


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture(scope="module")
def sample() -> OfflineMarketData:
    return OfflineMarketData(sample_data_dir())


@pytest.fixture(scope="module")
def hourly(sample: OfflineMarketData) -> pd.DataFrame:
    return sample.frame(BTC, "1h")


@pytest.fixture(scope="module")
def funding(sample: OfflineMarketData) -> pd.Series:
    return sample.funding_series(BTC)


def frames_from(hourly: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {"1h": hourly, "4h": resample(hourly, HOUR, 4 * HOUR), "1d": resample(hourly, HOUR, 24 * HOUR)}


def perturb(hourly: pd.DataFrame, funding: pd.Series, as_of: datetime, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    """Every candle not closed at as_of (open_time + 1h > as_of) and every rate settled after it: scrambled."""
    rng = np.random.default_rng(seed)
    out = hourly.copy()
    future = out.index + pd.Timedelta(hours=1) > as_of
    k = int(future.sum())
    factor = rng.uniform(0.7, 1.4, size=k)  # scrambled but sane: a file with a 5x spike is refused as a whole
    base = out.loc[future, "close"].to_numpy() * factor
    out.loc[future, "open"] = base * rng.uniform(0.9, 1.1, size=k)
    out.loc[future, "close"] = base
    out.loc[future, "high"] = np.maximum(out.loc[future, "open"], base) * 1.2
    out.loc[future, "low"] = np.minimum(out.loc[future, "open"], base) * 0.8
    out.loc[future, "volume"] = rng.uniform(0, 1e6, size=k)
    rates = funding.copy()
    rates[rates.index > as_of] = rng.uniform(-0.01, 0.01, size=int((rates.index > as_of).sum()))
    return out, rates


def write_folder(folder: Path, hourly: pd.DataFrame, funding: pd.Series) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    hourly.reset_index().to_feather(folder / "BTC_USDT_USDT-1h-futures.feather")
    pd.DataFrame({"date": funding.index, "open": funding.to_numpy()}).to_feather(
        folder / "BTC_USDT_USDT-8h-funding_rate.feather"
    )


as_of_strategy = st.builds(
    lambda hours, minutes: utc(2024, 2, 10) + timedelta(hours=hours, minutes=minutes),
    st.integers(min_value=0, max_value=24 * 90),
    st.sampled_from([0, 0, 1, 30, 59]),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(as_of=as_of_strategy, seed=st.integers(0, 2**32 - 1))
def test_series_snapshot_ignores_everything_not_closed_at_as_of(
    hourly: pd.DataFrame, funding: pd.Series, as_of: datetime, seed: int
) -> None:
    original = SeriesSnapshotSource({BTC: frames_from(hourly)}, {BTC: funding}).snapshot_sync(BTC, as_of)
    bad_hourly, bad_funding = perturb(hourly, funding, as_of, seed)
    altered = SeriesSnapshotSource({BTC: frames_from(bad_hourly)}, {BTC: bad_funding}).snapshot_sync(BTC, as_of)
    assert altered == original
    assert altered.to_json_dict() == original.to_json_dict()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(as_of=as_of_strategy, seed=st.integers(0, 2**32 - 1))
async def test_live_snapshot_over_files_ignores_everything_not_closed_at_as_of(
    tmp_path: Path, hourly: pd.DataFrame, funding: pd.Series, as_of: datetime, seed: int
) -> None:
    clean, dirty = tmp_path / f"clean{seed}", tmp_path / f"dirty{seed}"
    write_folder(clean, hourly, funding)
    write_folder(dirty, *perturb(hourly, funding, as_of, seed))
    original = await LiveSnapshotSource(OfflineMarketData(clean)).snapshot(BTC, as_of)
    altered = await LiveSnapshotSource(OfflineMarketData(dirty)).snapshot(BTC, as_of)
    assert altered == original


async def test_live_and_series_agree_except_the_window_seeded_ema_200(
    sample: OfflineMarketData, hourly: pd.DataFrame, funding: pd.Series
) -> None:
    as_of = utc(2024, 4, 20, 12, 30)
    live = await LiveSnapshotSource(sample).snapshot(BTC, as_of)
    series = SeriesSnapshotSource({BTC: frames_from(hourly)}, {BTC: funding}).snapshot_sync(BTC, as_of)
    assert live.price == series.price == hourly.close.loc["2024-04-20T11:00Z"]
    assert live.funding_rate == series.funding_rate == funding.loc["2024-04-20T08:00Z"]
    assert live.regime == series.regime
    for tf in ("1h", "4h", "1d"):
        a, b = live.timeframes[tf], series.timeframes[tf]
        assert a.bar_time == b.bar_time
        for key in ("rsi_14", "atr_14", "macd", "macd_signal", "ema_20", "ema_50"):
            assert getattr(a, key) == pytest.approx(getattr(b, key), rel=1e-6, nan_ok=True), (tf, key)
    assert live.timeframes["1h"].bar_time == utc(2024, 4, 20, 11)
    assert live.timeframes["4h"].bar_time == utc(2024, 4, 20, 8)
    assert live.timeframes["1d"].bar_time == utc(2024, 4, 19)
    day = hourly.loc["2024-04-19T12:00Z":"2024-04-20T11:00Z"]
    assert live.extra["quote_volume_24h"] == pytest.approx(float((day.close * day.volume).sum()))


def test_snapshot_flags_missing_stale_gap_and_funding_at_settlement(hourly: pd.DataFrame, funding: pd.Series) -> None:
    holed = hourly.drop(pd.Timestamp("2024-03-05T03:00Z"))
    source = SeriesSnapshotSource({BTC: frames_from(holed)}, {BTC: funding})
    snap = source.snapshot_sync(BTC, utc(2024, 3, 5, 8))
    assert "gap:1h" in snap.quality
    assert snap.funding_rate == funding.loc["2024-03-05T08:00Z"]  # settled exactly at as_of counts
    # Past the end of the data the last bar is stale.
    end = source.snapshot_sync(BTC, utc(2024, 6, 1))
    assert "stale:1h" in end.quality and "stale:4h" in end.quality
    # Early on: 1h and 4h exist but no full day yet.
    early = source.snapshot_sync(BTC, utc(2024, 1, 15, 5))
    assert "missing:1d" in early.quality and "1d" not in early.timeframes
    assert early.timeframes["1h"].rsi_14 is None and early.regime is Regime.RANGING
    with pytest.raises(SnapshotUnavailable, match="no 1h bar"):
        source.snapshot_sync(BTC, utc(2024, 1, 15, 0, 30))


def test_series_accessors_and_from_offline(sample: OfflineMarketData) -> None:
    source = SeriesSnapshotSource.from_offline(
        sample, [BTC], utc(2024, 3, 1), utc(2024, 4, 1), warmup_bars=100
    )
    bars = source.bars(BTC, "1h")
    assert bars.open_time_ms[0] == int(pd.Timestamp("2024-03-01T00:00Z").timestamp() * 1000) - 100 * HOUR
    assert bars.open_time_ms[-1] == int(pd.Timestamp("2024-04-01T00:00Z").timestamp() * 1000)
    assert not bars.close.flags.writeable
    assert (bars.close_time_ms - bars.open_time_ms == HOUR).all()
    assert source.timeframes(BTC) == ["1h", "4h", "1d"]
    assert source.bar_timeframes(BTC) == ["1h", "4h", "1d"]  # the sample has no 5m/15m files
    rates = source.funding(BTC)
    assert len(rates.time_ms) == len(rates.rate) > 0 and rates.time_ms[-1] <= bars.open_time_ms[-1]
    with pytest.raises(KeyError, match="no 5m bars"):
        source.bars(BTC, "5m")
    snap = source.snapshot_sync(BTC, utc(2024, 3, 20, 12))
    assert snap.timeframes["4h"].bar_time == utc(2024, 3, 20, 8)


async def test_live_source_reuses_indicators_of_unchanged_frames(sample: OfflineMarketData) -> None:
    source = LiveSnapshotSource(sample)
    first = await source.snapshot(BTC, utc(2024, 4, 2, 13))
    cached_1d = source._cache[(BTC, "1d")].rows
    second = await source.snapshot(BTC, utc(2024, 4, 2, 14))
    assert source._cache[(BTC, "1d")].rows is cached_1d  # same day: not recomputed
    assert second.timeframes["1d"] is first.timeframes["1d"]
    assert second.timeframes["1h"].bar_time == utc(2024, 4, 2, 13)


@pytest.mark.parametrize("hole", [None, -3, -48, -52, -80])
def test_live_snapshot_from_the_tail_equals_one_from_every_row(hourly: pd.DataFrame, funding: pd.Series,
                                                              hole: int | None) -> None:
    # the live source keeps only the tail of each frame after computing indicators on all 500 bars;
    # gap flags look back 50 bars, so holes just inside and outside that window must read the same
    from core.market.context import FundingWindow
    from core.market.indicators import compute_indicators
    from core.market.snapshot import _Rows, assemble_snapshot

    rng = np.random.default_rng(7)
    flagged: list[bool] = []
    for as_of in [utc(2024, 3, 1, 12) + timedelta(hours=int(h)) for h in rng.integers(0, 24 * 40, size=12)]:
        window = hourly[hourly.index + pd.Timedelta(hours=1) <= as_of].tail(500)
        if hole is not None:
            window = window.drop(window.index[hole])
        frames = [window, resample(window, HOUR, 4 * HOUR), resample(window, HOUR, 24 * HOUR)]
        frames = [f[f.index + pd.Timedelta(milliseconds=HOUR * k) <= as_of] for f, k in zip(frames, (1, 4, 24), strict=True)]
        rates = funding[funding.index <= as_of]
        live = LiveSnapshotSource(OfflineMarketData(sample_data_dir())).build(BTC, as_of, frames, rates)
        full = assemble_snapshot(
            BTC, as_of, [_Rows(compute_indicators(f, tf)) for f, tf in zip(frames, ("1h", "4h", "1d"), strict=True)],
            FundingWindow(rates.index.as_unit("ms").asi8.tolist(), rates.to_numpy(dtype="float64").tolist()),
        )
        assert live == full
        flagged.append("gap:1h" in live.quality)
    assert any(flagged) == (hole is not None and hole > -50)  # a hole inside the 50-bar window is flagged


def test_a_view_built_from_its_fields_is_the_dataclass_built_one() -> None:
    """TimeframeView.from_fields (replay's once-per-bar constructor) equals the frozen __init__, field for field,
    and refuses a field list of the wrong length."""
    from dataclasses import fields

    from core.models import TimeframeView

    values = (utc(2024, 3, 1, 11), 1.0, 2.0, 0.5, 1.5, 10.0, 55.0, 0.1, None, 0.02, 1.4, 1.3, None, 0.2)
    extra = {"atr_pct": 1.0, "vol_ratio": None, "rv_20": 0.3}
    fast, slow = TimeframeView.from_fields(values, extra), TimeframeView(*values, extra)  # type: ignore[arg-type]
    assert fast == slow and repr(fast) == repr(slow) and hash(fast.bar_time) == hash(slow.bar_time)
    assert [getattr(fast, f.name) for f in fields(TimeframeView)] == [*values, extra]
    with pytest.raises(ValueError):
        TimeframeView.from_fields(values[:-1], extra)
