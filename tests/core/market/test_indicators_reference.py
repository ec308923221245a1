"""compute_indicators against pandas-ta's own output on the shared data, recorded before pandas-ta was dropped.

reference/pandas_ta_values.json holds, per window of real Binance bars (several symbols, 5m to 1d, 20 bars
to the whole 4½-year series), the sha256 of every full indicator column pandas-ta produced and its last
value; reference/record_pandas_ta.py wrote it (with pandas-ta installed). The columns must be the same
floats, bit for bit — the replay reports and snapshot JSONs stay byte-identical only so.
"""

from __future__ import annotations

import json
import math

import pytest

from core.market.indicators import compute_indicators
from tests.core.market.reference.cases import CASES, COLUMNS, DATA, VALUES, digest, window
from tests.core.market.reference.pandas_steps import indicator_columns

RECORDED = json.loads(VALUES.read_text())["cases"]

pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=f"needs the shared real data at {DATA}")


def test_the_recorded_cases_are_the_declared_ones() -> None:
    assert [(c["folder"], c["symbol"], c["timeframe"], c["offset"], c["bars"]) for c in RECORDED] == CASES


@pytest.mark.parametrize("case", RECORDED, ids=lambda c: f"{c['symbol']}-{c['timeframe']}-{c['offset']}-{c['bars']}")
def test_indicators_are_pandas_ta_bit_for_bit(case: dict) -> None:
    frame = window(case["folder"], case["symbol"], case["timeframe"], case["offset"], case["bars"])
    assert (frame.index[0].isoformat(), len(frame)) == (case["first_bar"], case["length"])
    columns = compute_indicators(frame, case["timeframe"]).columns
    for key in COLUMNS:
        value, last = float(columns[key][-1]), case["last"][key]
        assert (None if math.isnan(value) else value) == (None if last is None else pytest.approx(last, rel=1e-9)), key
        assert digest(columns[key]) == case["sha256"][key], key


@pytest.mark.parametrize("case", RECORDED[::4], ids=lambda c: f"{c['symbol']}-{c['timeframe']}-{c['offset']}")
def test_the_pandas_level_reference_is_pandas_ta_too(case: dict) -> None:
    frame = window(case["folder"], case["symbol"], case["timeframe"], case["offset"], case["bars"])
    columns = indicator_columns(frame)
    assert {key: digest(columns[key]) for key in COLUMNS} == case["sha256"]
