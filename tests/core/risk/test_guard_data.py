"""The guard's data defences on snapshots built by the real snapshot code (the flags it really emits)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from core.config import CostModel, RiskLimits
from core.market.offline import OfflineMarketData, resample, sample_data_dir
from core.market.snapshot import LiveSnapshotSource, SeriesSnapshotSource
from core.market.timeframes import tf_ms
from core.models import AccountView, Decision, RuntimeState, Snapshot
from core.risk.guard import Reason, ReviewContext, RiskGuard, data_problem

BTC = "BTC/USDT:USDT"
HOUR = 3_600_000
STATE = RuntimeState(paused=False, dry_run=True, max_leverage=5, symbols=(BTC,))
AS_OF = datetime(2024, 3, 5, 8, tzinfo=UTC)


@pytest.fixture(scope="module")
def hourly() -> pd.DataFrame:
    return OfflineMarketData(sample_data_dir()).frame(BTC, "1h")


def series_snapshot(hourly: pd.DataFrame, as_of: datetime = AS_OF) -> Snapshot:
    frames = {"1h": hourly, "4h": resample(hourly, HOUR, 4 * HOUR), "1d": resample(hourly, HOUR, 24 * HOUR)}
    return SeriesSnapshotSource({BTC: frames}).snapshot_sync(BTC, as_of)


def a_sound_long(snap: Snapshot) -> Decision:
    price = snap.price
    return Decision(action="long", confidence=0.8, stop_loss=price * 0.98, take_profit=(price * 1.04, price * 1.06),
                    leverage=3)


def review(snap: Snapshot, guard: RiskGuard | None = None):
    guard = guard or RiskGuard(RiskLimits(), CostModel())
    ctx = ReviewContext(STATE, snap.as_of, "c", "s")
    return guard.review(a_sound_long(snap), AccountView(10_000.0, 10_000.0), snap, ctx), guard


def test_the_same_long_on_clean_data_is_approved(hourly: pd.DataFrame) -> None:
    snap = series_snapshot(hourly)
    assert data_problem(snap) is None, snap.quality
    verdict, _ = review(snap)
    assert verdict.approved, verdict


def test_live_snapshot_of_old_files_at_a_later_wall_time_is_stale_and_refused() -> None:
    market = OfflineMarketData(sample_data_dir())
    now = datetime(2026, 12, 1, 11, 0, 0, 400_000, tzinfo=UTC)  # a wall clock long after the data
    snap = asyncio.run(LiveSnapshotSource(market).snapshot(BTC, now))
    assert {"stale:1h", "stale:4h", "stale:1d"} <= set(snap.quality)  # what real snapshots emit
    verdict, guard = review(snap)
    assert not verdict.approved and verdict.reason == Reason.STALE_DATA.value
    assert "fresh_data" not in verdict.checks
    assert "2024-05-14 14:00 UTC" in verdict.detail  # the last 1h bar on hand
    assert guard.counts[Reason.STALE_DATA.value] == 1


def test_one_missing_hour_before_as_of_is_stale(hourly: pd.DataFrame) -> None:
    snap = series_snapshot(hourly.drop(pd.Timestamp("2024-03-05T07:00Z")))
    assert "stale:1h" in snap.quality
    assert review(snap)[0].reason == Reason.STALE_DATA.value


@pytest.mark.parametrize(
    ("corrupt", "flag"),
    [
        (lambda f, t: f.assign(high=f.high.where(f.index != t, f.low[t] * 0.9)), "bad:1h"),
        (lambda f, t: f.assign(low=f.low.where(f.index != t, -1.0)), "bad:1h"),
        (lambda f, t: f.assign(close=f.close.where(f.index != t, float("nan"))), "bad:1h"),
        (lambda f, t: f.assign(high=f.high.where(f.index != t, f.high[t] * 100),
                               close=f.close.where(f.index != t, f.close[t] * 100)), "bad:1h"),
        (lambda f, t: f.drop(pd.date_range(t - pd.Timedelta(days=3), t, freq="1h")), "gap:1h"),
    ],
    ids=["high_below_low", "negative_low", "nan_close", "spike_100x", "gap_of_days"],
)
def test_a_bad_bar_in_the_window_refuses_with_bad_data(hourly: pd.DataFrame, corrupt, flag: str) -> None:
    bad_time = pd.Timestamp("2024-03-04T20:00Z")  # 12 bars before as_of: the 1h ATR still carries it
    snap = series_snapshot(corrupt(hourly, bad_time))
    assert flag in snap.quality, snap.quality
    verdict, guard = review(snap)
    assert not verdict.approved and verdict.reason == Reason.BAD_DATA.value, verdict
    assert flag in verdict.detail and guard.counts[Reason.BAD_DATA.value] == 1


def test_a_bad_bar_long_gone_no_longer_blocks(hourly: pd.DataFrame) -> None:
    bad_time = pd.Timestamp("2024-03-01T00:00Z")  # over 50 bars before as_of
    snap = series_snapshot(hourly.assign(low=hourly.low.where(hourly.index != bad_time, -1.0)))
    assert not any(f.startswith("bad:1h") for f in snap.quality)


def test_an_outlier_last_bar_blocks_on_the_base_timeframe(hourly: pd.DataFrame) -> None:
    last = AS_OF - timedelta(hours=1)
    t = pd.Timestamp(last)
    frame = hourly.assign(high=hourly.high.where(hourly.index != t, hourly.close[t] * 1.15))  # +15 % wick
    snap = series_snapshot(frame)
    assert "outlier:1h" in snap.quality and not any(f.startswith("bad:") for f in snap.quality)
    assert review(snap)[0].reason == Reason.BAD_DATA.value


class _Frames:
    """A MarketData that hands out given frames, as the ccxt source does (no file checks on the way)."""

    def __init__(self, hourly: pd.DataFrame) -> None:
        self._frames = {"1h": hourly, "4h": resample(hourly, HOUR, 4 * HOUR), "1d": resample(hourly, HOUR, 24 * HOUR)}

    async def candles(self, symbol: str, timeframe: str, *, until: datetime, limit: int) -> pd.DataFrame:
        frame = self._frames[timeframe]
        return frame[frame.index + pd.Timedelta(milliseconds=tf_ms(timeframe)) <= until].iloc[-limit:]

    async def funding_rates(self, symbol: str, *, since: datetime, until: datetime) -> pd.Series:
        return pd.Series([], index=pd.DatetimeIndex([], tz="UTC"), dtype="float64")


def test_live_source_flags_a_bad_exchange_bar_too(hourly: pd.DataFrame) -> None:
    t = pd.Timestamp("2024-03-05T02:00Z")
    broken = hourly.assign(high=hourly.high.where(hourly.index != t, hourly.low[t] * 0.5))  # high < low
    snap = asyncio.run(LiveSnapshotSource(_Frames(broken)).snapshot(BTC, AS_OF))  # type: ignore[arg-type]
    assert "bad:1h" in snap.quality
    assert review(snap)[0].reason == Reason.BAD_DATA.value
