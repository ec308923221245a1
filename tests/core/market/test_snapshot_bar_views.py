"""#18: a replay source's bars of a snapshot timeframe are views of its indicator rows — the very values of the
candles frame, bit for bit, read-only, with no second copy of the OHLCV."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from core.market.offline import OfflineMarketData, sample_data_dir
from core.market.snapshot import SeriesSnapshotSource

BTC = "BTC/USDT:USDT"


def test_snapshot_timeframe_bars_are_views_of_one_matrix() -> None:
    market = OfflineMarketData(sample_data_dir())
    source = SeriesSnapshotSource.from_offline(market, [BTC], datetime(2024, 3, 1, tzinfo=UTC),
                                               datetime(2024, 4, 1, tzinfo=UTC), warmup_bars=100)
    for tf in ("1h", "4h", "1d"):
        bars = source.bars(BTC, tf)
        frame = market.frame(BTC, tf)
        lo = int(np.searchsorted(frame.index.asi8 // 1_000_000, int(bars.open_time_ms[0])))
        window = frame.iloc[lo : lo + len(bars)]
        assert (window.index.asi8 // 1_000_000).tobytes() == bars.open_time_ms.tobytes()
        for column in ("open", "high", "low", "close", "volume"):
            assert window[column].to_numpy().tobytes() == np.ascontiguousarray(getattr(bars, column)).tobytes()
            assert not getattr(bars, column).flags.writeable
        assert np.may_share_memory(bars.open, bars.volume)  # columns of one matrix, not five arrays
