"""Test stand-ins over the real data in ../shared/data: a BarFeed from the converted CSV files
(standing in for engineer D's replay feed) and a tiny deterministic engine."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
CYFT = SHARED / "data" / "freqtrade-userdata-cyft_trader"
HOUR_MS = 3_600_000


def have_data() -> bool:
    return (CYFT / "BTCUSDT_perp_1h.csv").exists()


def load_bars(pair: str) -> np.ndarray:
    frame = pd.read_csv(CYFT / f"{pair}_perp_1h.csv")
    return frame[["timestamp_ms", "open", "high", "low", "close"]].to_numpy(dtype=float)


def load_funding(pair: str) -> np.ndarray:
    frame = pd.read_csv(CYFT / f"{pair}_perp_funding_8h.csv")
    return frame[["timestamp_ms", "funding_rate"]].to_numpy(dtype=float)


class ArrayBarFeed:
    timeframe_ms = HOUR_MS

    def __init__(self, bars: dict[str, np.ndarray], funding: dict[str, np.ndarray]) -> None:
        self._bars = {s: (a[:, 0].astype(np.int64).tolist(), a.tolist()) for s, a in bars.items()}
        self._funding = {s: (a[:, 0].astype(np.int64).tolist(), a[:, 1].tolist()) for s, a in funding.items()}

    async def bars(self, symbol: str, start_ms: int, until_ms: int) -> Sequence[tuple]:
        times, rows = self._bars[symbol]
        i = bisect.bisect_left(times, start_ms)
        j = bisect.bisect_right(times, until_ms - self.timeframe_ms)
        return [(times[k], rows[k][1], rows[k][2], rows[k][3], rows[k][4]) for k in range(i, j)]

    async def funding(self, symbol: str, after_ms: int, until_ms: int) -> Sequence[tuple[int, float]]:
        if symbol not in self._funding:
            return ()
        times, rates = self._funding[symbol]
        i = bisect.bisect_right(times, after_ms)
        j = bisect.bisect_right(times, until_ms)
        return [(times[k], rates[k]) for k in range(i, j)]
