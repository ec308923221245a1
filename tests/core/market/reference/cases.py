"""The pandas-ta reference cases: which windows of the shared data, and how a column is fingerprinted."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from core.market.offline import OfflineMarketData

ROOT = Path(__file__).resolve().parents[4]
DATA = ROOT.parent / "shared" / "data"
VALUES = Path(__file__).with_name("pandas_ta_values.json")
COLUMNS = ("rsi_14", "macd", "macd_signal", "macd_hist", "ema_20", "ema_50", "ema_200", "atr_14")
CASES = [  # (folder under ../shared/data, symbol, timeframe, window start: offset from the end or 0, bars)
    *[("binance-perps-train/main", f"{b}/USDT:USDT", tf, off, 500)
      for b in ("BTC", "ETH", "XRP", "SOL") for tf in ("1h", "4h", "1d") for off in (-500, -3000)],
    ("binance-perps-train/main", "BTC/USDT:USDT", "1h", 0, None),
    ("binance-perps-train/main", "ADA/USDT:USDT", "4h", 0, None),
    ("binance-perps-train/main", "LTC/USDT:USDT", "1h", -20, 20),
    ("freqtrade-userdata-cyft_trader/original", "BTC/USDT:USDT", "5m", -500, 500),
    ("freqtrade-userdata-cyft_trader/original", "ETH/USDT:USDT", "15m", -700, 500),
]


def window(folder: str, symbol: str, timeframe: str, offset: int, bars: int | None) -> pd.DataFrame:
    frame = OfflineMarketData(DATA / folder).frame(symbol, timeframe)
    start = max(0, len(frame) + offset) if offset < 0 else offset
    return frame.iloc[start: None if bars is None else start + bars]


def digest(values: np.ndarray) -> str:
    """sha256 of the float64 bytes, every NaN written as the same NaN (0/0 and np.nan differ in sign bit)."""
    canonical = np.where(np.isnan(values), np.nan, values).astype("float64")
    return hashlib.sha256(canonical.tobytes()).hexdigest()
