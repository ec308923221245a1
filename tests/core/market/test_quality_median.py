"""The spike check's reference — the median close of the five bars before each bar — computed by a selection
network on whole columns (#18: a 5m file's checks 3× faster) gives, bit for bit, the median of the sorted
non-NaN values before each bar, holes and short starts included."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from core.market.quality import SPIKE_LOOKBACK, _median_before


def reference(values: np.ndarray, window: int) -> list[float]:
    out = []
    for i in range(len(values)):
        before = [float(v) for v in values[max(0, i - window) : i] if not math.isnan(v)]
        out.append(statistics.median(before) if before else math.nan)
    return out


@pytest.mark.parametrize("window", [SPIKE_LOOKBACK, 3, 4])
def test_median_before_is_the_sorted_median(window: int) -> None:
    rng = np.random.default_rng(window)
    for trial in range(400):
        n = int(rng.integers(0, 60))
        values = (rng.choice([1.0, 2.0, 2.5, 3.0, 1e300, 5e-324], n) if trial % 2  # ties and extremes
                  else 100 * np.exp(rng.normal(0, 0.05, n).cumsum()))
        values[rng.random(n) < rng.random() * 0.3] = np.nan
        got = _median_before(values, window)
        assert np.array(reference(values, window)).tobytes() == got.tobytes(), values
