"""The derivatives keys of the snapshot (#17) are point-in-time: perturbing any funding settlement or open
interest reading after as_of changes nothing (hypothesis), in the replay source and the live one over files;
the values match an independent computation; without an open interest file the keys are null."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.market.context import CONTEXT_KEYS
from core.market.offline import OfflineMarketData
from core.market.snapshot import LiveSnapshotSource, SeriesSnapshotSource
from tests.core.market.test_snapshot import (  # noqa: F401  (fixtures)
    BTC,
    as_of_strategy,
    frames_from,
    funding,
    hourly,
    perturb,
    sample,
    utc,
    write_folder,
)


def open_interest(hourly: pd.DataFrame) -> pd.Series:  # noqa: F811
    """One reading per bar close, a seeded random walk (the layout's values, not real ones)."""
    rng = np.random.default_rng(7)
    values = 80_000 * np.exp(np.cumsum(rng.normal(0, 0.004, len(hourly))))
    return pd.Series(values, index=hourly.index + pd.Timedelta(hours=1), name="open_interest")


def perturb_oi(oi: pd.Series, as_of: datetime, seed: int) -> pd.Series:
    out = oi.copy()
    future = out.index > as_of
    out[future] = np.random.default_rng(seed).uniform(1, 1e6, int(future.sum()))
    return out


def write_oi(folder: Path, oi: pd.Series) -> None:
    pd.DataFrame({"date": oi.index, "open_interest": oi.to_numpy()}).to_feather(
        folder / "BTC_USDT_USDT-1h-open_interest.feather")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(as_of=as_of_strategy, seed=st.integers(0, 2**32 - 1))
def test_series_context_keys_ignore_everything_after_as_of(
    hourly: pd.DataFrame, funding: pd.Series, as_of: datetime, seed: int  # noqa: F811
) -> None:
    oi = open_interest(hourly)
    original = SeriesSnapshotSource({BTC: frames_from(hourly)}, {BTC: funding}, oi_by_symbol={BTC: oi})
    bad_hourly, bad_funding = perturb(hourly, funding, as_of, seed)
    altered = SeriesSnapshotSource({BTC: frames_from(bad_hourly)}, {BTC: bad_funding},
                                   oi_by_symbol={BTC: perturb_oi(oi, as_of, seed)})
    a, b = original.snapshot_sync(BTC, as_of), altered.snapshot_sync(BTC, as_of)
    assert a == b and a.to_json_dict() == b.to_json_dict()
    assert set(CONTEXT_KEYS) <= set(a.extra)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(as_of=as_of_strategy, seed=st.integers(0, 2**32 - 1))
async def test_live_context_keys_over_files_ignore_everything_after_as_of(
    tmp_path: Path, hourly: pd.DataFrame, funding: pd.Series, as_of: datetime, seed: int  # noqa: F811
) -> None:
    oi = open_interest(hourly)
    clean, dirty = tmp_path / f"clean{seed}", tmp_path / f"dirty{seed}"
    write_folder(clean, hourly, funding)
    write_oi(clean, oi)
    write_folder(dirty, *perturb(hourly, funding, as_of, seed))
    write_oi(dirty, perturb_oi(oi, as_of, seed))
    a = await LiveSnapshotSource(OfflineMarketData(clean)).snapshot(BTC, as_of)
    b = await LiveSnapshotSource(OfflineMarketData(dirty)).snapshot(BTC, as_of)
    assert a == b


async def test_values_match_an_independent_computation_and_are_null_without_data(
    tmp_path: Path, hourly: pd.DataFrame, funding: pd.Series  # noqa: F811
) -> None:
    as_of = utc(2024, 4, 20, 12, 30)
    oi = open_interest(hourly)
    folder = tmp_path / "data"
    write_folder(folder, hourly, funding)
    write_oi(folder, oi)
    market = OfflineMarketData(folder)
    series = SeriesSnapshotSource.from_offline(market, [BTC], as_of, as_of).snapshot_sync(BTC, as_of)
    live = await LiveSnapshotSource(market).snapshot(BTC, as_of)
    window = funding[(funding.index > as_of - timedelta(hours=24)) & (funding.index <= as_of)]
    now, hour_ago, day_ago = oi.loc["2024-04-20T12:00Z"], oi.loc["2024-04-20T11:00Z"], oi.loc["2024-04-19T12:00Z"]
    for snap in (series, live):
        assert snap.extra["funding_avg_24h"] == pytest.approx(window.mean()) and len(window) == 3
        assert snap.extra["open_interest"] == pytest.approx(now)
        assert snap.extra["oi_change_1h_pct"] == pytest.approx((now / hour_ago - 1) * 100)
        assert snap.extra["oi_change_24h_pct"] == pytest.approx((now / day_ago - 1) * 100)
        assert snap.extra["spread_pct"] is None and snap.extra["book_imbalance"] is None  # no book in files
    bare = tmp_path / "bare"
    write_folder(bare, hourly, funding)
    snap = SeriesSnapshotSource.from_offline(OfflineMarketData(bare), [BTC], as_of, as_of).snapshot_sync(BTC, as_of)
    assert snap.to_json_dict()["open_interest"] is None and snap.to_json_dict()["oi_change_24h_pct"] is None


def test_the_prompt_form_leaves_out_null_context_but_keeps_the_design_keys(
    hourly: pd.DataFrame, funding: pd.Series  # noqa: F811
) -> None:
    as_of = utc(2024, 4, 20, 12)
    snap = SeriesSnapshotSource({BTC: frames_from(hourly)}, {BTC: funding}).snapshot_sync(BTC, as_of)
    full, prompt = snap.to_json_dict(), snap.to_json_dict(prompt=True)
    assert full["open_interest"] is None and "open_interest" not in prompt and "book_imbalance" not in prompt
    assert {"symbol", "as_of", "price", "timeframes", "funding_rate", "regime", "funding_avg_24h"} <= set(prompt)
    assert prompt["price"] == full["price"] and prompt["timeframes"]["1h"]["close"] == full["timeframes"]["1h"]["close"]
    assert prompt["funding_avg_24h"] == pytest.approx(full["funding_avg_24h"], rel=1e-3)
