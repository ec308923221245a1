"""Data folders with one kind of corruption each, cut from the bundled real sample (tests of issue #12)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from core.market.offline import sample_data_dir

STEM = "BTC_USDT_USDT"
CANDLES = f"{STEM}-1h-futures"
# a bar inside the replay windows of the tests, well after the warm-up
BAD_ROW = 1100  # 1-based data row of the sample: 2024-02-29 19:00 UTC
BAD_TIME = pd.Timestamp("2024-02-29T19:00Z")


def sample_lines() -> list[str]:
    return pd.read_csv(sample_data_dir() / f"{CANDLES}.csv.gz").to_csv(index=False).splitlines()


def _edit(row: int, **values: str) -> Callable[[list[str]], list[str]]:
    def edit(lines: list[str]) -> list[str]:
        header = lines[0].split(",")
        cells = lines[row].split(",")
        for name, value in values.items():
            cells[header.index(name)] = value
        return [*lines[:row], ",".join(cells), *lines[row + 1 :]]

    return edit


def _duplicate_conflicting(lines: list[str]) -> list[str]:
    cells = lines[BAD_ROW].split(",")
    twin = [cells[0], *(f"{float(v) * 2:g}" for v in cells[1:5]), cells[5]]  # the same hour at a doubled price
    return [*lines[: BAD_ROW + 1], ",".join(twin), *lines[BAD_ROW + 1 :]]


def _gap_of_days(lines: list[str]) -> list[str]:
    return [*lines[:BAD_ROW], *lines[BAD_ROW + 72 :]]  # three days missing


def _spike(lines: list[str]) -> list[str]:
    cells = lines[BAD_ROW].split(",")
    return _edit(BAD_ROW, high=f"{float(cells[2]) * 100:g}", close=f"{float(cells[4]) * 100:g}")(lines)


def _high_below_low(lines: list[str]) -> list[str]:
    cells = lines[BAD_ROW].split(",")
    return _edit(BAD_ROW, high=cells[3], low=cells[2])(lines)  # swapped


CSV_CORRUPTIONS: dict[str, Callable[[list[str]], list[str]]] = {
    "duplicate_conflicting": _duplicate_conflicting,
    "high_below_low": _high_below_low,
    "negative_low": _edit(BAD_ROW, low="-1"),
    "zero_close": _edit(BAD_ROW, close="0"),
    "nan_bar": _edit(BAD_ROW, open="", high="", low="", close=""),
    "spike_100x": _spike,
    "gap_of_days": _gap_of_days,
    "non_numeric": _edit(BAD_ROW, high="abc"),
    "bad_date": _edit(BAD_ROW, timestamp_ms="2024-13-45"),
    "wrong_header": lambda lines: ["time,o,h,l,c,v", *lines[1:]],
    "empty_csv": lambda lines: [],
}
FEATHER_CORRUPTIONS = ("truncated_feather", "empty_feather")


def corrupt_folder(root: Path, kind: str) -> Path:
    """`root/kind/` holding the sample's BTC candles with that corruption (ETH and funding untouched)."""
    folder = root / kind
    folder.mkdir(parents=True)
    if kind in CSV_CORRUPTIONS:
        lines = CSV_CORRUPTIONS[kind](sample_lines())
        (folder / f"{CANDLES}.csv").write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
    else:
        frame = pd.read_csv(sample_data_dir() / f"{CANDLES}.csv.gz")
        path = folder / f"{CANDLES}.feather"
        frame.to_feather(path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2] if kind == "truncated_feather" else b"")
    for name in ("ETH_USDT_USDT-1h-futures.csv.gz", f"{STEM}-8h-funding_rate.csv.gz"):
        (folder / name).write_bytes((sample_data_dir() / name).read_bytes())
    return folder


ALL_KINDS = (*CSV_CORRUPTIONS, *FEATHER_CORRUPTIONS)
