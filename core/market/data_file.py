"""Reading one data file (feather, csv, csv.gz) of the offline layout (DESIGN §4.2), and refusing it — one
line naming the file, the row and the problem — when it cannot be trusted.

Refused: a file that cannot be read (empty, truncated, not Arrow/CSV), no `timestamp_ms`/`date` column, a
timestamp that is not a time, a value that is not a number, two rows at one time with different values
(which one is true cannot be known; exact repeats are dropped), and for candles a bar failing
`quality.bar_problems` (NaN, zero or negative prices, high below low, open/close outside the bar's range, a
spike) or with a negative volume. Gaps are kept: they are real (exchange outages) and the snapshot flags
them. Rows are counted from 1 after the header, in file order.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

from core.errors import UserInputError
from core.market.quality import bar_problems

OHLCV = ("open", "high", "low", "close", "volume")
NUMERIC_COLUMNS = (*OHLCV, "funding_rate")
MESSAGE_CHARS = 160


class DataFileError(UserInputError, ValueError):
    """A data file that cannot be used as it is; the message names the file, the row and the problem."""


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 1] + "…"


def _read_raw(path: Path) -> pd.DataFrame:
    feather = path.name.endswith(".feather")
    try:
        # one thread: the files are small, and each of pyarrow's pool threads would keep a malloc arena of its own
        return pd.read_feather(path, use_threads=False) if feather else pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise DataFileError(f"{path}: the file is empty") from None
    except Exception as error:  # pyarrow, gzip, the CSV parser and the OS each raise their own kinds
        kind = "an Arrow (feather) file; truncated or not feather data?" if feather else "CSV"
        raise DataFileError(f"{path}: cannot be read as {kind} ({_one_line(error)})") from None


def _times(raw: pd.DataFrame, path: Path) -> pd.DatetimeIndex:
    if "timestamp_ms" in raw.columns:
        column = raw.pop("timestamp_ms")
        numeric = pd.to_numeric(column, errors="coerce")
        with np.errstate(invalid="ignore"):
            bad = numeric.isna() | (numeric % 1 != 0) | (numeric.abs() > 2**62)
        if bad.any():
            k = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataFileError(
                f"{path}: row {k + 1}: timestamp_ms {column.iloc[k]!r} is not a whole number of milliseconds"
            )
        index = pd.to_datetime(numeric.astype("int64"), unit="ms", utc=True)
    elif "date" in raw.columns:
        column = raw.pop("date")
        try:
            index = pd.to_datetime(column, utc=True)
        except (ValueError, TypeError, OverflowError):
            parsed = pd.to_datetime(column, utc=True, errors="coerce", format="mixed")
            bad_rows = np.flatnonzero(parsed.isna().to_numpy())
            k = int(bad_rows[0]) if len(bad_rows) else 0
            raise DataFileError(f"{path}: row {k + 1}: date {column.iloc[k]!r} is not a time") from None
        if index.isna().any():
            k = int(np.flatnonzero(index.isna().to_numpy())[0])
            raise DataFileError(f"{path}: row {k + 1}: date {column.iloc[k]!r} is not a time")
    else:
        have = ", ".join(map(str, raw.columns)) or "none"
        raise DataFileError(f"{path}: no timestamp_ms or date column (have {have})")
    return pd.DatetimeIndex(index).as_unit("ns")


def _numbers(raw: pd.DataFrame, path: Path) -> None:
    for name in (c for c in raw.columns if c in NUMERIC_COLUMNS):
        column = raw[name]
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            continue
        numeric = pd.to_numeric(column, errors="coerce")
        bad = np.flatnonzero((numeric.isna() & column.notna()).to_numpy())
        if len(bad):
            k = int(bad[0])
            raise DataFileError(f"{path}: row {k + 1}: {name} {column.iloc[k]!r} is not a number")
        raw[name] = numeric.astype("float64")


def _when(stamp: pd.Timestamp) -> str:
    return f"{stamp:%Y-%m-%d %H:%M} UTC"


def _shown(value: object) -> str:
    return repr(float(value)) if isinstance(value, (int, float, np.number)) else repr(value)


def _duplicates(raw: pd.DataFrame, rows: np.ndarray, path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """Exact repeats dropped; two rows at one time with different values refuse the file."""
    if not raw.index.has_duplicates:
        return raw, rows
    keyed = raw.reset_index()
    repeat = keyed.duplicated(keep="first").to_numpy()
    raw, rows = raw[~repeat], rows[~repeat]
    clash = raw.index.duplicated(keep=False)
    if clash.any():
        first = raw.index[clash][0]
        same = np.flatnonzero(raw.index == first)[:2]
        a, b = raw.iloc[same[0]], raw.iloc[same[1]]
        differ = [c for c in raw.columns if not (a[c] == b[c] or (pd.isna(a[c]) and pd.isna(b[c])))]
        values = ", ".join(f"{c} {_shown(a[c])} vs {_shown(b[c])}" for c in differ[:3])
        raise DataFileError(
            f"{path}: rows {rows[same[0]]} and {rows[same[1]]} are both the bar of {_when(first)} with "
            f"different values ({values}); keep the right one"
        )
    return raw, rows


def _table(path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    raw = _read_raw(path)
    raw.index = _times(raw, path)
    raw.index.name = "date"
    _numbers(raw, path)
    rows = np.arange(1, len(raw) + 1)
    raw, rows = _duplicates(raw, rows, path)
    order = np.argsort(cast(pd.DatetimeIndex, raw.index).asi8, kind="stable")
    return raw.iloc[order], rows[order]


def read_table(path: Path) -> pd.DataFrame:
    """A candles/funding file → frame indexed by UTC open time (ns), sorted, exact repeats dropped."""
    return _table(path)[0]


def read_candles(path: Path) -> pd.DataFrame:
    """A candles file → OHLCV float64 frame indexed by UTC open time, every bar checked (module docstring)."""
    raw, rows = _table(path)
    missing = [c for c in OHLCV if c not in raw.columns]
    if missing:
        raise DataFileError(f"{path}: missing candle columns {', '.join(missing)}")
    if raw.empty:
        raise DataFileError(f"{path}: has a header but no rows")
    frame = raw.loc[:, list(OHLCV)].astype("float64")
    values = {c: frame[c].to_numpy() for c in OHLCV}
    problems = bar_problems(values["open"], values["high"], values["low"], values["close"])
    volume = values["volume"]
    with np.errstate(invalid="ignore"):
        bad_volume = np.isnan(volume) | (volume < 0)
    for k in np.flatnonzero(bad_volume)[:1].tolist():
        problems.setdefault(k, f"volume {volume[k]} is not a non-negative number")
    if problems:
        first = min(problems)
        raise DataFileError(f"{path}: row {rows[first]} ({_when(frame.index[first])}): {problems[first]}")
    return frame
