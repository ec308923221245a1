"""The deflated Sharpe ratio: how likely the best of N tried configurations has a true Sharpe above zero.

Bailey, D. H. and López de Prado, M. (2014), "The Deflated Sharpe Ratio: Correcting for Selection Bias,
Backtest Overfitting, and Non-Normality", The Journal of Portfolio Management 40 (5), 94–107.

With per-bar (not annualised) Sharpe ratios SR_n of the N trials:

    SR* = sqrt(V[SR_n]) · ((1 − γ) · Φ⁻¹(1 − 1/N) + γ · Φ⁻¹(1 − 1/(N·e)))      (expected maximum under H0)
    DSR = Φ( (SR̂ − SR*) · sqrt(T − 1) / sqrt(1 − γ₃·SR̂ + (γ₄ − 1)/4 · SR̂²) )

where γ is the Euler–Mascheroni constant, SR̂, T, γ₃ (skewness) and γ₄ (kurtosis, not excess) are those of
the selected (best) trial's returns. DSR is a probability: 0.95 or more is the usual bar before calling the
best cell anything but luck of the draw.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

EULER_GAMMA = 0.5772156649015329
_NORMAL = NormalDist()


@dataclass(frozen=True, slots=True)
class ReturnStats:
    """The per-bar return moments of one trial that the DSR needs."""

    sharpe: float | None  # per-bar mean / std (ddof 1); None when undefined
    skew: float
    kurtosis: float  # Pearson's (a normal distribution has 3)
    n: int

    @staticmethod
    def of(returns: np.ndarray) -> ReturnStats:
        r = np.asarray(returns, dtype=np.float64)
        n = len(r)
        if n < 3:
            return ReturnStats(None, 0.0, 3.0, n)
        std = float(np.std(r, ddof=1))
        if not std > 0:
            return ReturnStats(None, 0.0, 3.0, n)
        centred = r - r.mean()
        m2 = float(np.mean(centred**2))
        skew = float(np.mean(centred**3)) / m2**1.5
        kurt = float(np.mean(centred**4)) / m2**2
        return ReturnStats(float(r.mean()) / std, skew, kurt, n)


def expected_max_sharpe(trial_sharpes: Sequence[float]) -> float:
    """SR*: the best per-bar Sharpe one would expect from N trials that all have true Sharpe zero."""
    n = len(trial_sharpes)
    if n < 2:
        return 0.0
    return expected_max_sharpe_of(n, float(np.std(np.asarray(trial_sharpes, dtype=np.float64), ddof=1)))


def expected_max_sharpe_of(n: int, std: float) -> float:
    """SR* from the number of trials and the standard deviation of their Sharpe ratios."""
    if n < 2 or not std > 0:
        return 0.0
    return std * (
        (1 - EULER_GAMMA) * _NORMAL.inv_cdf(1 - 1 / n) + EULER_GAMMA * _NORMAL.inv_cdf(1 - 1 / (n * math.e))
    )


def deflated_sharpe_ratio(best: ReturnStats, trial_sharpes: Sequence[float]) -> float | None:
    """DSR of the selected trial `best` among `trial_sharpes` (per-bar Sharpe of every trial, best included).
    None when the best trial's Sharpe is undefined or it has too few returns."""
    return deflated_sharpe_given(best, expected_max_sharpe(trial_sharpes))


def deflated_sharpe_given(best: ReturnStats, sr_star: float) -> float | None:
    """DSR of `best` against a given SR* (the paper's worked example states V[SR] rather than the trials)."""
    if best.sharpe is None or best.n < 3:
        return None
    sr = best.sharpe
    denominator = 1 - best.skew * sr + (best.kurtosis - 1) / 4 * sr * sr
    if not denominator > 0:
        return None
    z = (sr - sr_star) * math.sqrt(best.n - 1) / math.sqrt(denominator)
    return _NORMAL.cdf(z)


__all__ = [
    "EULER_GAMMA",
    "ReturnStats",
    "deflated_sharpe_given",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "expected_max_sharpe_of",
]
