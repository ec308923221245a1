"""Corrupt data files: refused with one line naming the file, the row and the problem (issue #12, 2 and 7)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from core.errors import UserInputError
from core.market.data_file import DataFileError, read_candles, read_table
from core.market.offline import OfflineMarketData
from tests.core.market.corrupt_data import BAD_ROW, CANDLES, corrupt_folder

EXPECTED = {
    "duplicate_conflicting": rf"rows {BAD_ROW} and {BAD_ROW + 1} are both the bar of 2024-02-29 19:00 UTC with "
                             r"different values \(open 60921.4 vs 121843.0, ",
    "high_below_low": rf"row {BAD_ROW} \(2024-02-29 19:00 UTC\): high .* is below low",
    "negative_low": rf"row {BAD_ROW} \(2024-02-29 19:00 UTC\): a price is zero or negative .*low -1",
    "zero_close": rf"row {BAD_ROW} \(2024-02-29 19:00 UTC\): a price is zero or negative .*close 0\)",
    "nan_bar": rf"row {BAD_ROW} \(2024-02-29 19:00 UTC\): a price is not a number",
    "spike_100x": rf"row {BAD_ROW} \(2024-02-29 19:00 UTC\): a spike",
    "non_numeric": rf"row {BAD_ROW}: high 'abc' is not a number",
    "bad_date": rf"row {BAD_ROW}: timestamp_ms '2024-13-45' is not a whole number of milliseconds",
    "wrong_header": r"no timestamp_ms or date column \(have time, o, h, l, c, v\)",
    "empty_csv": r"the file is empty",
    "truncated_feather": r"cannot be read as an Arrow \(feather\) file; truncated",
    "empty_feather": r"cannot be read as an Arrow \(feather\) file; truncated",
}


def candle_file(folder: Path) -> Path:
    return next(folder.glob(f"{CANDLES}.*"))


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_each_corruption_is_refused_naming_file_row_and_problem(tmp_path: Path, kind: str) -> None:
    folder = corrupt_folder(tmp_path, kind)
    with pytest.raises(DataFileError) as caught:
        OfflineMarketData(folder).frame("BTC/USDT:USDT", "4h")  # through the resampling path too
    message = str(caught.value)
    assert message.startswith(f"{candle_file(folder)}: ") and "\n" not in message
    assert re.search(EXPECTED[kind], message), message
    assert isinstance(caught.value, UserInputError)  # the CLI prints it as one line, exit 2


def test_a_gap_of_days_is_kept_not_refused(tmp_path: Path) -> None:
    frame = read_candles(candle_file(corrupt_folder(tmp_path, "gap_of_days")))
    assert frame.index.to_series().diff().max() == pd.Timedelta(hours=73)


def test_exact_repeats_are_dropped_and_the_rest_sorted(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("timestamp_ms,open,high,low,close,volume\n7200000,2,3,1,2,5\n3600000,1,2,1,2,5\n"
                    "7200000,2,3,1,2,5\n", encoding="utf-8")
    frame = read_candles(path)
    assert list(frame.index.asi8 // 1_000_000) == [3_600_000, 7_200_000]


def test_freqtrade_date_column_with_a_bad_date(tmp_path: Path) -> None:
    path = tmp_path / "y.csv"
    path.write_text("date,open,high,low,close,volume\n2024-03-01 00:00:00+00:00,1,2,1,2,5\n"
                    "2024-03-01 01:00:00+00:00,1,2,1,2,5\nyesterday,1,2,1,2,5\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"y.csv: row 3: date 'yesterday' is not a time"):
        read_table(path)


def test_negative_volume_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "v.csv"
    path.write_text("timestamp_ms,open,high,low,close,volume\n3600000,1,2,1,2,-5\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"row 1 .*volume -5.0 is not a non-negative number"):
        read_candles(path)
