"""Live derivatives context (#17) through ccxt's real binanceusdm code path on recorded responses: open
interest history and the order book reach the snapshot's keys; failures mean null keys, never a crash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import ccxt
import pytest

from core.market.context import CONTEXT_KEYS, book_context, funding_avg_24h, oi_context
from core.market.snapshot import LiveSnapshotSource
from tests.core.market.test_ccxt_source import BTC, recorded, wire  # noqa: F401  (the fixture)

AS_OF = datetime(2024, 3, 1, 12, tzinfo=UTC)


async def test_open_interest_history_through_ccxt(wire) -> None:  # noqa: F811
    market, fake = wire
    series = await market.open_interest_history(BTC, since=datetime(2024, 2, 29, 10, tzinfo=UTC), until=AS_OF)
    assert series is not None and len(series) == 27
    assert series.index[-1] == AS_OF and series.iloc[-1] == pytest.approx(81736.142)
    assert [q["period"] for p, q in fake.calls if p.endswith("openInterestHist")] == ["1h"]


async def test_live_snapshot_carries_oi_spread_and_imbalance(wire) -> None:  # noqa: F811
    market, _ = wire
    source = LiveSnapshotSource(market, timeframes=("1h",), bars=100, now=lambda: AS_OF + timedelta(seconds=30))
    snap = await source.snapshot(BTC, AS_OF)
    extra = snap.extra
    assert set(CONTEXT_KEYS) <= set(extra)
    assert extra["open_interest"] == pytest.approx(81736.142)
    assert extra["oi_change_1h_pct"] == pytest.approx((81736.142 / (81736.142 - 55.5) - 1) * 100)
    assert extra["oi_change_24h_pct"] == pytest.approx((81736.142 / (81736.142 - 24 * 55.5) - 1) * 100)
    depth = recorded("depth_BTCUSDT.json")
    bid_depth = sum(float(q) for _, q in depth["bids"])
    ask_depth = sum(float(q) for _, q in depth["asks"])
    assert extra["book_imbalance"] == pytest.approx(bid_depth / (bid_depth + ask_depth))
    assert extra["spread_pct"] == pytest.approx(0.1 / 61927.65 * 100)
    rates = recorded("fundingRate_BTCUSDT.json")
    window = [float(r["fundingRate"]) for r in rates
              if AS_OF.timestamp() * 1000 - 86_400_000 < r["fundingTime"] <= AS_OF.timestamp() * 1000]
    assert window and extra["funding_avg_24h"] == pytest.approx(sum(window) / len(window))


async def test_a_past_as_of_gets_no_book_and_failures_give_null_keys(wire) -> None:  # noqa: F811
    market, _ = wire
    snap = await LiveSnapshotSource(market, timeframes=("1h",), bars=100).snapshot(BTC, AS_OF)
    assert snap.extra["spread_pct"] is None and snap.extra["book_imbalance"] is None  # read now, not at as_of

    async def broken(*args, **kwargs):
        raise ccxt.ExchangeError("openInterestHist 500")

    market.open_interest_history = broken
    snap = await LiveSnapshotSource(market, timeframes=("1h",), bars=100).snapshot(BTC, AS_OF)
    assert snap.extra["open_interest"] is None and snap.extra["oi_change_24h_pct"] is None


def test_pure_context_functions_on_edges() -> None:
    hour = 3_600_000
    assert funding_avg_24h([], [], 0) is None
    # (as_of − 24 h, as_of]: the settlement exactly 24 h back is out, the one at as_of is in
    assert funding_avg_24h([0, 8 * hour, 16 * hour, 24 * hour], [1.0, 2.0, 3.0, 4.0], 24 * hour) == 3.0
    assert oi_context([0], [100.0], 3 * hour) == dict.fromkeys(("open_interest", "oi_change_1h_pct",
                                                                "oi_change_24h_pct"))  # too old a reading
    got = oi_context([0, hour], [100.0, 110.0], hour)
    assert got["open_interest"] == 110.0 and got["oi_change_1h_pct"] == pytest.approx(10.0)
    assert got["oi_change_24h_pct"] is None
    assert book_context([], [[1, 1]]) == {"spread_pct": None, "book_imbalance": None}
    assert book_context([[99, 3]], [[101, 1]]) == {"spread_pct": pytest.approx(2.0), "book_imbalance": 0.75}
    assert book_context([["x", 1]], [[101, 1]])["spread_pct"] is None
