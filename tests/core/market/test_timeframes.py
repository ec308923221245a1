from datetime import UTC, datetime, timedelta

import pytest

from core.errors import UserInputError
from core.market.timeframes import (
    bar_is_closed,
    from_ms,
    last_closed_bar_time,
    last_closed_open_ms,
    sort_timeframes,
    tf_delta,
    tf_ms,
    to_ms,
)


@pytest.mark.parametrize(
    ("tf", "ms"), [("1m", 60_000), ("5m", 300_000), ("15m", 900_000), ("1h", 3_600_000), ("4h", 14_400_000),
                   ("8h", 28_800_000), ("1d", 86_400_000), ("1w", 604_800_000)]
)
def test_tf_ms(tf: str, ms: int) -> None:
    assert tf_ms(tf) == ms
    assert tf_delta(tf) == timedelta(milliseconds=ms)


@pytest.mark.parametrize("bad", ["", "h", "0h", "1y", "1H", "60", "1.5h", "-1h"])
def test_bad_timeframe_is_a_user_error(bad: str) -> None:
    with pytest.raises(UserInputError, match="timeframe"):
        tf_ms(bad)


def test_sort_finest_first() -> None:
    assert sort_timeframes(["1d", "5m", "4h", "1h"]) == ["5m", "1h", "4h", "1d"]


def test_ms_round_trip_and_naive_refused() -> None:
    moment = datetime(2024, 3, 1, 12, tzinfo=UTC)
    assert from_ms(to_ms(moment)) == moment
    with pytest.raises(ValueError, match="naive"):
        to_ms(datetime(2024, 3, 1))


def test_last_closed_bar() -> None:
    at = datetime(2024, 3, 1, 12, tzinfo=UTC)
    assert last_closed_bar_time(at, "1h") == datetime(2024, 3, 1, 11, tzinfo=UTC)
    assert last_closed_bar_time(at, "4h") == datetime(2024, 3, 1, 8, tzinfo=UTC)
    assert last_closed_bar_time(at, "1d") == datetime(2024, 2, 29, tzinfo=UTC)
    # One millisecond before the hour the 11:00 bar is still open.
    assert last_closed_bar_time(at - timedelta(milliseconds=1), "1h") == datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert last_closed_open_ms(to_ms(at), tf_ms("1h")) == to_ms(at) - 3_600_000


def test_bar_is_closed_at_its_close_time() -> None:
    open_ms = to_ms(datetime(2024, 3, 1, 11, tzinfo=UTC))
    assert bar_is_closed(open_ms, 3_600_000, open_ms + 3_600_000)
    assert not bar_is_closed(open_ms, 3_600_000, open_ms + 3_599_999)
