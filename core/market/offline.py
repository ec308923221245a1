"""`OfflineMarketData`: the `MarketData` protocol over files in freqtrade's futures layout (DESIGN §4.2).

`DIR/<BASE>_<QUOTE>_<SETTLE>-<tf>-futures.{feather,csv,csv.gz}` candles, `...-8h-funding_rate.*` (rate in
`open`, as freqtrade stores it) and `...-8h-mark.*` beside them. A timeframe missing on disk is resampled
from the coarsest present timeframe that divides it (the same bars as from the finest when the data has no
holes, and far fewer rows to read); a resampled bar exists only when all its source bars are there, apart
from holes strictly inside the data, so a half-finished day at either end of a file never becomes a bar.
Files are read once and kept in memory; every request is then an index slice. A file that cannot be trusted
(`core.market.data_file`) raises DataFileError naming the file, the row and the problem.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

from core.errors import UserInputError
from core.market.data_file import OHLCV, read_candles, read_table
from core.market.data_file import DataFileError as DataFileError  # re-exported: callers catch it here
from core.market.scan import MarketStats
from core.market.timeframes import DAY_MS, from_ms, index_ms, tf_ms, to_ms
from core.protocols import Clock, Ticker

_FILE = re.compile(
    r"^(?P<stem>[A-Za-z0-9]+(?:_[A-Za-z0-9]+){1,2})-(?P<tf>\d+[mhdw])(?:-(?P<kind>futures|funding_rate|mark|open_interest))?"
    r"\.(?P<ext>feather|csv\.gz|csv)$"
)
_EXT_PREFERENCE = {"feather": 0, "csv.gz": 1, "csv": 2}


class MissingDataError(UserInputError, LookupError):
    """The folder, symbol, timeframe or time range asked for is not in the data; the message says what is."""


def sample_data_dir() -> Path:
    """Real BTC and ETH candles and funding bundled with the package (see its README) for offline demos."""
    return Path(__file__).resolve().parent / "sample_data"


def symbol_to_stem(symbol: str) -> str:
    """`BTC/USDT:USDT` → `BTC_USDT_USDT` (freqtrade's file naming); `ETH/BTC` → `ETH_BTC`."""
    return symbol.replace("/", "_").replace(":", "_")


def stem_to_symbol(stem: str) -> str:
    parts = stem.split("_")
    if len(parts) == 3:
        return f"{parts[0]}/{parts[1]}:{parts[2]}"
    return f"{parts[0]}/{parts[1]}"


@dataclass(frozen=True, slots=True)
class _Entry:
    path: Path
    ext: str


def open_ms(frame: pd.DataFrame) -> np.ndarray:
    """Bar open times as int64 epoch milliseconds."""
    return index_ms(frame)


def resample(frame: pd.DataFrame, source_ms: int, target_ms: int) -> pd.DataFrame:
    """Aggregate `frame` (bars of `source_ms`) into epoch-aligned bars of `target_ms`.

    Incomplete groups are dropped at both ends of the data (they would be half-finished bars); inside the
    data a group missing a source bar is kept, since every bar it has is closed and a hole is not a future.
    """
    if target_ms % source_ms:
        raise ValueError(f"cannot resample {source_ms} ms bars into {target_ms} ms bars")
    if frame.empty:
        return frame.copy()
    times = open_ms(frame)
    keys = times - times % target_ms
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], len(keys)] - 1
    counts = ends - starts + 1
    values = {c: frame[c].to_numpy() for c in OHLCV}
    out = pd.DataFrame(
        {
            "open": values["open"][starts],
            "high": np.maximum.reduceat(values["high"], starts),
            "low": np.minimum.reduceat(values["low"], starts),
            "close": values["close"][ends],
            "volume": np.add.reduceat(values["volume"], starts),
        },
        index=pd.DatetimeIndex(pd.to_datetime(keys[starts], unit="ms", utc=True)).as_unit("ns"),
    )
    out.index.name = "date"
    complete = counts == target_ms // source_ms
    inner = np.ones(len(starts), dtype=bool)
    inner[0] = inner[-1] = False
    return out[complete | inner]


class OfflineMarketData:
    """Market data from a folder of files. `clock` (optional) is what `ticker` calls "now"; without it the
    ticker describes the end of the data."""

    def __init__(self, folder: Path | str, *, clock: Clock | None = None) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise MissingDataError(f"data folder {self.folder} does not exist")
        self._clock = clock
        self._candle_files: dict[str, dict[str, _Entry]] = {}
        self._funding_files: dict[str, _Entry] = {}
        self._mark_files: dict[str, _Entry] = {}
        self._oi_files: dict[str, _Entry] = {}  # <STEM>-<tf>-open_interest.* (#17)
        self._frames: dict[tuple[str, str], pd.DataFrame] = {}
        self._close_ms: dict[tuple[str, str], tuple[pd.DataFrame, np.ndarray]] = {}  # bar close times per frame
        self._funding_ms: dict[str, tuple[pd.Series, np.ndarray]] = {}  # settlement times per series
        self._funding: dict[str, pd.Series] = {}
        self._scan()

    def _scan(self) -> None:
        def keep(table: dict, key: str, entry: _Entry) -> None:
            old = table.get(key)
            if old is None or _EXT_PREFERENCE[entry.ext] < _EXT_PREFERENCE[old.ext]:
                table[key] = entry

        for path in sorted(self.folder.iterdir()):
            match = _FILE.match(path.name)
            if match is None or not path.is_file():
                continue
            symbol = stem_to_symbol(match["stem"])
            entry = _Entry(path, match["ext"])
            kind = match["kind"]
            if kind == "funding_rate":
                keep(self._funding_files, symbol, entry)
            elif kind == "mark":
                keep(self._mark_files, symbol, entry)
            elif kind == "open_interest":
                keep(self._oi_files, symbol, entry)
            else:
                keep(self._candle_files.setdefault(symbol, {}), match["tf"], entry)

    # ---- what is on disk -----------------------------------------------------------------------

    def symbol_list(self) -> list[str]:
        return sorted(self._candle_files)

    def native_timeframes(self, symbol: str) -> list[str]:
        """Timeframes stored on disk for `symbol`, finest first."""
        return sorted(self._files_for(symbol), key=tf_ms)

    def data_files(self, symbols: Iterable[str]) -> list[Path]:
        """Every file a replay of `symbols` may read (candles of each timeframe, funding, mark), sorted."""
        paths: set[Path] = set()
        for symbol in symbols:
            paths.update(e.path for e in self._files_for(symbol).values())
            for table in (self._funding_files, self._mark_files):
                if symbol in table:
                    paths.add(table[symbol].path)
        return sorted(paths)

    def has_funding(self, symbol: str) -> bool:
        return symbol in self._funding_files

    def _files_for(self, symbol: str) -> dict[str, _Entry]:
        files = self._candle_files.get(symbol)
        if files is None:
            have = ", ".join(self.symbol_list()) or "no candle files"
            raise MissingDataError(f"no data for {symbol} in {self.folder} (have: {have})")
        return files

    # ---- whole series (sync, cached) --------------------------------------------------------

    def frame(self, symbol: str, timeframe: str) -> pd.DataFrame:
        """Every bar of `symbol` on `timeframe` (stored or resampled), indexed by UTC open time."""
        key = (symbol, timeframe)
        cached = self._frames.get(key)
        if cached is not None:
            return cached
        files = self._files_for(symbol)
        target = tf_ms(timeframe)
        if timeframe in files:
            entry = files[timeframe]
            frame = read_candles(entry.path)
        else:
            divisors = [tf for tf in files if target % tf_ms(tf) == 0 and tf_ms(tf) < target]
            if not divisors:
                raise MissingDataError(
                    f"no {timeframe} candles for {symbol} in {self.folder} and none finer to build them from "
                    f"(have: {', '.join(self.native_timeframes(symbol))})"
                )
            source = max(divisors, key=tf_ms)
            frame = resample(self.frame(symbol, source), tf_ms(source), target)
        self._frames[key] = frame
        return frame

    def forget(self, symbol: str, timeframe: str) -> None:
        """Drop a frame from the cache (replay keeps its own compact copy of the 5m bars it uses)."""
        self._frames.pop((symbol, timeframe), None)

    def funding_series(self, symbol: str) -> pd.Series:
        """All settled funding rates of `symbol` indexed by settlement time (rounded to the second); empty if none."""
        cached = self._funding.get(symbol)
        if cached is not None:
            return cached
        entry = self._funding_files.get(symbol)
        if entry is None:
            series: pd.Series = pd.Series([], index=pd.DatetimeIndex([], tz="UTC").as_unit("ns"), dtype="float64")
        else:
            raw = read_table(entry.path)
            column = "funding_rate" if "funding_rate" in raw.columns else "open"
            series = raw[column].astype("float64")
            series.index = cast(pd.DatetimeIndex, series.index).round("s")
            series = series[~series.index.duplicated(keep="last")].dropna()
        series.name = "funding_rate"
        self._funding[symbol] = series
        return series

    def open_interest_series(self, symbol: str) -> pd.Series:
        """Open interest readings of `symbol` from `<STEM>-<tf>-open_interest.*` (if present), indexed by the
        time each reading was taken (a `date`/`timestamp_ms` column as in candle files; the value in an
        `open_interest` column, else `open`); empty when there is no such file."""
        entry = self._oi_files.get(symbol)
        if entry is None:
            return pd.Series([], index=pd.DatetimeIndex([], tz="UTC").as_unit("ns"), dtype="float64")
        raw = read_table(entry.path)
        column = "open_interest" if "open_interest" in raw.columns else "open"
        series = raw[column].astype("float64")
        return series[~series.index.duplicated(keep="last")].dropna()

    async def open_interest_history(self, symbol: str, *, since: datetime, until: datetime) -> pd.Series | None:
        """The stored readings in [since, until] (None when there is no open interest file)."""
        if symbol not in self._oi_files:
            return None
        series = self.open_interest_series(symbol)
        return series[(series.index >= since) & (series.index <= until)]

    def data_start(self, symbol: str) -> datetime:
        """Close time of the first bar of the finest timeframe on disk: nothing is known before it."""
        finest = self.native_timeframes(symbol)[0]
        frame = self.frame(symbol, finest)
        if frame.empty:
            raise MissingDataError(f"the {finest} candles of {symbol} in {self.folder} are empty")
        return from_ms(int(open_ms(frame)[0]) + tf_ms(finest))

    def data_end(self, symbol: str) -> datetime:
        """Close time of the last bar of the finest timeframe on disk."""
        finest = self.native_timeframes(symbol)[0]
        return from_ms(int(open_ms(self.frame(symbol, finest))[-1]) + tf_ms(finest))

    # ---- MarketData protocol ------------------------------------------------------------------

    async def candles(self, symbol: str, timeframe: str, *, until: datetime, limit: int) -> pd.DataFrame:
        if (symbol, timeframe) not in self._frames:  # first use: read (and maybe resample) off the loop
            await asyncio.to_thread(self.frame, symbol, timeframe)
        return self.candles_sync(symbol, timeframe, until=until, limit=limit)

    def candles_sync(self, symbol: str, timeframe: str, *, until: datetime, limit: int) -> pd.DataFrame:
        frame = self.frame(symbol, timeframe)
        cached = self._close_ms.get((symbol, timeframe))
        if cached is None or cached[0] is not frame:
            cached = self._close_ms[(symbol, timeframe)] = (frame, open_ms(frame) + tf_ms(timeframe))
        closes = cached[1]
        end = int(np.searchsorted(closes, to_ms(until), side="right"))
        return frame.iloc[max(0, end - max(limit, 0)) : end]

    async def funding_rates(self, symbol: str, *, since: datetime, until: datetime) -> pd.Series:
        series = self._funding.get(symbol)
        if series is None:
            series = await asyncio.to_thread(self.funding_series, symbol)
        times = self._funding_ms.get(symbol)
        if times is None or times[0] is not series:
            times = self._funding_ms[symbol] = (series, index_ms(series))
        if not series.index.is_monotonic_increasing:
            return series[(series.index >= since) & (series.index <= until)]
        lo = int(np.searchsorted(times[1], to_ms(since), side="left"))
        hi = int(np.searchsorted(times[1], to_ms(until), side="right"))
        return series.iloc[lo:hi]

    async def mark_prices(self, symbol: str, *, since: datetime, until: datetime) -> pd.Series | None:
        """Mark price at each mark bar's open (freqtrade's 8h mark files), or None when there is no mark file."""
        entry = self._mark_files.get(symbol)
        if entry is None:
            return None
        raw = read_table(entry.path)
        series = raw["open"].astype("float64")
        times = cast(pd.DatetimeIndex, series.index).round("s")
        series.index = times
        return series[(times >= pd.Timestamp(since)) & (times <= pd.Timestamp(until))]

    def _last_day(self, symbol: str) -> tuple[pd.DataFrame, int, str, datetime]:
        """The symbol's finest bars of the 24 h closed at the clock's now (or its data end) and the bar before
        them (the 24 h change's reference) when there is one; with bars per day, that timeframe and that now."""
        finest = self.native_timeframes(symbol)[0]
        until = self._clock.now() if self._clock is not None else self.data_end(symbol)
        bars_per_day = max(1, DAY_MS // tf_ms(finest))
        return self.candles_sync(symbol, finest, until=until, limit=bars_per_day + 1), bars_per_day, finest, until

    async def ticker(self, symbol: str) -> Ticker:
        recent, bars_per_day, finest, until = self._last_day(symbol)
        if recent.empty:
            raise MissingDataError(f"no {finest} bar of {symbol} has closed by {until.isoformat()}")
        day = recent.iloc[-bars_per_day:]
        return Ticker(symbol=symbol, last=float(day["close"].iloc[-1]), bid=None, ask=None,
                      quote_volume_24h=float((day["close"] * day["volume"]).sum()),
                      change_24h_pct=_change_24h_pct(recent, bars_per_day))

    async def market_stats(self) -> list[MarketStats]:
        """Every symbol of the folder with a closed day of bars at the clock's now (or each symbol's data end):
        volume, range and change of its last 24 h; no bid/ask (files have no book)."""
        out = []
        for symbol in self.symbol_list():
            recent, bars_per_day, _, until = self._last_day(symbol)
            if len(recent) <= bars_per_day or recent.index[-1] + pd.Timedelta(days=1) < pd.Timestamp(until):
                continue  # no whole day of bars, or the data ended more than a day before now
            day = recent.iloc[-bars_per_day:]
            out.append(MarketStats(
                symbol=symbol,
                last=float(day["close"].iloc[-1]),
                quote_volume_24h=float((day["close"] * day["volume"]).sum()),
                high_24h=float(day["high"].max()),
                low_24h=float(day["low"].min()),
                change_24h_pct=_change_24h_pct(recent, bars_per_day),
            ))
        return out

    async def open_interest(self, symbol: str) -> float | None:
        return None  # not in freqtrade's layout

    async def order_book_top(self, symbol: str) -> None:
        return None  # history has no order book

    async def symbols(self) -> Sequence[str]:
        return self.symbol_list()

    async def close(self) -> None:
        self._frames.clear()
        self._funding.clear()


def _change_24h_pct(recent: pd.DataFrame, bars_per_day: int) -> float | None:
    """% change of the last close against the close a day before it (None without that bar)."""
    if len(recent) <= bars_per_day:
        return None
    return (float(recent["close"].iloc[-1]) / float(recent["close"].iloc[0]) - 1.0) * 100.0
