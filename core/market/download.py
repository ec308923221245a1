"""Fetch history through ccxt into the offline layout (DESIGN §4.2), resuming where each file ends.

Candles go to `OUT/<stem>-<tf>-futures.feather` (spot markets: `OUT/<stem>-<tf>.feather`) and funding to
`OUT/<stem>-8h-funding_rate.feather`, in freqtrade's columns (`date, open, high, low, close, volume`;
the funding rate in `open`). Only bars closed at `now` are written, so a resumed file never holds a
half-finished bar. Files are replaced atomically (write to a temporary name, then rename).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from core.market.ccxt_source import CcxtMarketData, candles_frame
from core.market.offline import OHLCV, read_table, symbol_to_stem
from core.market.timeframes import index_ms, last_closed_open_ms, tf_ms, to_ms

PAGE = 1000
Progress = Callable[[str, int, int], None]  # (label, done, total)


@dataclass(frozen=True, slots=True)
class DownloadResult:
    label: str
    path: Path
    added: int
    total: int
    first: datetime | None
    last: datetime | None


def candle_path(out: Path, symbol: str, timeframe: str, futures: bool = True) -> Path:
    suffix = "-futures" if futures else ""
    return out / f"{symbol_to_stem(symbol)}-{timeframe}{suffix}.feather"


def funding_path(out: Path, symbol: str) -> Path:
    return out / f"{symbol_to_stem(symbol)}-8h-funding_rate.feather"


def _write(path: Path, frame: pd.DataFrame) -> None:
    table = frame.reset_index()
    table["date"] = pd.DatetimeIndex(table["date"]).as_unit("ms")
    tmp = path.with_name(path.name + ".part")
    table.to_feather(tmp)
    tmp.replace(path)


def _existing(path: Path) -> pd.DataFrame | None:
    if not path.exists():
        return None
    frame = read_table(path)
    return frame.loc[:, list(OHLCV)].astype("float64") if len(frame) else None


async def _merge_and_write(path: Path, label: str, old: pd.DataFrame | None, new: pd.DataFrame) -> DownloadResult:
    """The stored rows plus the new ones (a new row wins at the same time), written when anything was added
    or the file did not exist yet."""
    frame = new if old is None else pd.concat([old, new])
    frame = frame[~frame.index.duplicated(keep="last")].sort_index()
    if len(new) or old is None:
        await asyncio.to_thread(_write, path, frame)
    index = frame.index
    return DownloadResult(label, path, len(new), len(frame), index[0] if len(index) else None,
                          index[-1] if len(index) else None)


async def download_candles(
    market: CcxtMarketData,
    symbol: str,
    timeframe: str,
    *,
    days: int,
    out: Path,
    now: datetime,
    futures: bool = True,
    progress: Progress | None = None,
) -> DownloadResult:
    step = tf_ms(timeframe)
    path = candle_path(out, symbol, timeframe, futures)
    label = f"{symbol} {timeframe}"
    old = await asyncio.to_thread(_existing, path)
    end = last_closed_open_ms(to_ms(now), step)  # open time of the last bar closed at `now`
    since = int(index_ms(old)[-1]) + step if old is not None else to_ms(now - timedelta(days=days)) // step * step
    total = max(0, (end - since) // step + 1)
    rows: list[list] = []
    cursor = since
    while cursor <= end:
        page = await market.ohlcv_page(symbol, timeframe, cursor, PAGE)
        fresh = [r for r in page if cursor <= int(r[0]) <= end]
        if not fresh:
            break
        rows.extend(fresh)
        cursor = int(fresh[-1][0]) + step
        if progress is not None:
            progress(label, min(len(rows), total), total)
    if progress is not None:
        progress(label, total, total)
    return await _merge_and_write(path, label, old, candles_frame(rows))


async def download_funding(
    market: CcxtMarketData,
    symbol: str,
    *,
    days: int,
    out: Path,
    now: datetime,
    progress: Progress | None = None,
) -> DownloadResult:
    path = funding_path(out, symbol)
    label = f"{symbol} funding"
    old = await asyncio.to_thread(_existing, path)
    now_ms = to_ms(now)
    since = int(index_ms(old)[-1]) + 1 if old is not None else to_ms(now - timedelta(days=days))
    total = max(1, (now_ms - since) // (8 * 3_600_000) + 1)
    times: list[int] = []
    rates: list[float] = []
    cursor = since
    while cursor <= now_ms:
        page = await market.funding_page(symbol, cursor, PAGE)
        fresh = [p for p in page if cursor <= int(p["timestamp"]) <= now_ms and p.get("fundingRate") is not None]
        if not fresh:
            break
        times.extend(round(int(p["timestamp"]) / 1000) * 1000 for p in fresh)
        rates.extend(float(p["fundingRate"]) for p in fresh)
        cursor = int(fresh[-1]["timestamp"]) + 1
        if progress is not None:
            progress(label, min(len(times), total), total)
    if progress is not None:
        progress(label, total, total)
    zeros = np.zeros(len(rates))
    new = pd.DataFrame(
        {"open": rates, "high": zeros, "low": zeros, "close": zeros, "volume": zeros},
        index=pd.DatetimeIndex(pd.to_datetime(times, unit="ms", utc=True), name="date").as_unit("ns"),
    )
    return await _merge_and_write(path, label, old, new)


async def download_history(
    market: CcxtMarketData | None = None,
    symbols: Sequence[str] = (),
    timeframes: Sequence[str] = ("1h",),
    *,
    days: int,
    out: Path,
    now: datetime | None = None,
    progress: Progress | None = None,
    exchange_id: str | None = None,
) -> list[DownloadResult]:
    """Every symbol × timeframe, plus funding for perpetual swaps. `now` (default: wall time) decides which
    bars have closed. Without `market`, one is opened on `exchange_id` and closed afterwards."""
    if market is None:
        if exchange_id is None:
            raise ValueError("download_history needs a market or an exchange_id")
        owned = CcxtMarketData.from_id(exchange_id)
        try:
            return await download_history(owned, symbols, timeframes, days=days, out=out, now=now, progress=progress)
        finally:
            await owned.close()
    now = now if now is not None else datetime.now(UTC)
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    results: list[DownloadResult] = []
    for symbol in symbols:
        info = await market.market_info(symbol)
        futures = bool(info.get("swap") or info.get("future"))
        for timeframe in timeframes:
            results.append(await download_candles(
                market, symbol, timeframe, days=days, out=out, now=now, futures=futures, progress=progress
            ))
        if info.get("swap"):
            results.append(await download_funding(market, symbol, days=days, out=out, now=now, progress=progress))
    return results


__all__ = ["DownloadResult", "candle_path", "download_history", "funding_path"]
