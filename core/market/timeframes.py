"""Timeframe strings ("5m", "1h", "4h", "1d") ↔ milliseconds, and the "bar closed at as_of" rule.

A bar is identified by its open time; it counts as closed at `as_of` once `open_time + timeframe <= as_of`
(DESIGN §3). Bars are aligned to the UTC epoch, as exchanges and freqtrade align them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, cast

from core.errors import UserInputError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_PATTERN = re.compile(r"^(\d+)([mhdw])$")

HOUR_MS = _UNIT_MS["h"]
DAY_MS = _UNIT_MS["d"]


def tf_ms(timeframe: str) -> int:
    """Length of a timeframe in milliseconds; UserInputError for anything that is not like 5m/1h/4h/1d/1w."""
    match = _PATTERN.match(timeframe.strip()) if isinstance(timeframe, str) else None
    if match is None or int(match.group(1)) <= 0:
        raise UserInputError(f"timeframe {timeframe!r} is not like 5m, 15m, 1h, 4h, 1d or 1w")
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def tf_delta(timeframe: str) -> timedelta:
    return timedelta(milliseconds=tf_ms(timeframe))


def is_timeframe(text: str) -> bool:
    return bool(_PATTERN.match(text))


def sort_timeframes(timeframes: list[str] | tuple[str, ...]) -> list[str]:
    """Finest first."""
    return sorted(timeframes, key=tf_ms)


def to_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: pass timezone-aware UTC")
    return int(moment.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def bar_is_closed(open_time_ms: int, timeframe_ms: int, as_of_ms: int) -> bool:
    return open_time_ms + timeframe_ms <= as_of_ms


def last_closed_open_ms(as_of_ms: int, timeframe_ms: int) -> int:
    """Open time of the last epoch-aligned bar fully closed at `as_of` (the bar whose close is <= as_of)."""
    return (as_of_ms // timeframe_ms) * timeframe_ms - timeframe_ms


def last_closed_bar_time(as_of: datetime, timeframe: str) -> datetime:
    return from_ms(last_closed_open_ms(to_ms(as_of), tf_ms(timeframe)))


def index_ms(frame: pd.DataFrame | pd.Series) -> np.ndarray:
    """The UTC DatetimeIndex of candles or funding rates as int64 epoch milliseconds."""
    index = cast("pd.DatetimeIndex", frame.index)
    if index.unit == "ns":  # whole milliseconds (always, for bars and settlements): skip as_unit's copy
        nanoseconds = index.asi8
        if not (nanoseconds % 1_000_000).any():
            return nanoseconds // 1_000_000
    return index.as_unit("ms").asi8
