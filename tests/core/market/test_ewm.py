"""core.market.ewm: pandas' EWM kernel called directly gives what Series.ewm gives, float for float."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.market import ewm
from core.market.ewm import alpha_com, ewm_mean, ewm_means, span_com


def public(values: np.ndarray, **kwargs: float) -> np.ndarray:
    return pd.Series(values).ewm(adjust=False, **kwargs).mean().to_numpy()


SERIES = [
    np.random.default_rng(3).normal(100, 5, 700),
    np.r_[np.nan, np.nan, 4.0, 4.0, 4.0, 5.0, np.nan, 6.0, 6.0],  # leading and inner NaN, values equal to the mean
    np.r_[0.0, 0.0, 0.0, 1.5, 0.0, 2.0],  # an RSI gain series: the kernel skips equal observations
    np.array([7.0]),
]


@pytest.mark.parametrize("kwargs", [{"span": 20}, {"span": 200}, {"alpha": 1 / 14}])
def test_kernel_equals_series_ewm(kwargs: dict) -> None:
    com = span_com(kwargs["span"]) if "span" in kwargs else alpha_com(kwargs["alpha"])
    for values, out in zip(SERIES, ewm_means(SERIES, com), strict=True):
        np.testing.assert_array_equal(out, public(values, **kwargs))
        np.testing.assert_array_equal(ewm_mean(values, com), out)


def test_fallback_without_the_kernel_gives_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = ewm_means(SERIES, span_com(12))
    monkeypatch.setattr(ewm, "_kernel", None)
    for a, b in zip(fast, ewm_means(SERIES, span_com(12)), strict=True):
        np.testing.assert_array_equal(a, b)
    assert [len(x) for x in ewm_means([np.array([]), SERIES[3]], 1.0)] == [0, 1]
