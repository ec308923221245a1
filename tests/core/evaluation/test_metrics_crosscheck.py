"""The report's Sharpe, Sortino, max drawdown, CAGR and Calmar against empyrical-reloaded (Quantopian's
metrics library, a test dependency) on the same per-bar returns: hourly bars, annualised by 24·365, risk-free
rate 0 — on constructed curves (a losing first bar, a deep drawdown) and on a real replay's equity."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from core.evaluation.metrics import compute_metrics, equity_returns

empyrical = pytest.importorskip("empyrical", reason="empyrical-reloaded is in the test extra")

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "freqtrade-userdata-cyft_trader" / "original"
HOURS_PER_YEAR = 24 * 365
HOUR_MS = 3_600_000


def ours(equity: np.ndarray, initial: float) -> dict[str, object]:
    steps = 1_672_531_200_000 + HOUR_MS * np.arange(len(equity), dtype=np.int64)
    return compute_metrics(initial_equity=initial, equity=equity, trades=(), bar_seconds=3600, step_ms=steps)


def theirs(returns: np.ndarray) -> dict[str, float]:
    return {
        "sharpe": empyrical.sharpe_ratio(returns, annualization=HOURS_PER_YEAR),
        "sortino": empyrical.sortino_ratio(returns, annualization=HOURS_PER_YEAR),
        "max_drawdown_pct": -empyrical.max_drawdown(returns) * 100.0,
        "cagr_pct": empyrical.annual_return(returns, annualization=HOURS_PER_YEAR) * 100.0,
        "calmar": empyrical.calmar_ratio(returns, annualization=HOURS_PER_YEAR),
    }


def curve(returns: np.ndarray, initial: float = 10_000.0) -> np.ndarray:
    """equity[0] is the window start (initial equity), then one mark per bar."""
    return initial * np.cumprod(np.concatenate(([1.0], 1.0 + returns)))


CASES = {
    "noisy drift": np.random.default_rng(1).normal(0.0001, 0.004, 3000),
    "losing first bar, fat tails": np.concatenate(([-0.03], np.random.default_rng(2).standard_t(3, 4000) * 0.003)),
    "deep drawdown then recovery": np.concatenate((np.full(500, -0.001), np.full(900, 0.0012),
                                                   np.random.default_rng(3).normal(0, 0.002, 600))),
}


@pytest.mark.parametrize("name", list(CASES))
def test_metrics_agree_with_empyrical(name: str) -> None:
    returns = CASES[name]
    equity = curve(returns)
    assert np.allclose(equity_returns(equity), returns)
    mine, ref = ours(equity, 10_000.0), theirs(returns)
    for key, expected in ref.items():
        assert mine[key] == pytest.approx(expected, rel=1e-9), key


@pytest.mark.skipif(not DATA.is_dir(), reason=f"real data not found at {DATA}")
def test_a_real_replay_agrees_with_empyrical() -> None:
    from core.decide.rules import RulesEngine
    from core.evaluation.replay import ReplaySpec, run_replay_cycle
    from core.evaluation.report import build_report
    from core.market.offline import OfflineMarketData

    spec = ReplaySpec(symbols=("BTC/USDT:USDT", "ETH/USDT:USDT"), start=datetime(2023, 1, 15, tzinfo=UTC),
                      end=datetime(2023, 7, 1, tzinfo=UTC), engine="rules")
    result = asyncio.run(run_replay_cycle(OfflineMarketData(DATA), spec, RulesEngine()))
    metrics = build_report(result)["metrics"]
    ref = theirs(equity_returns(result.equity))
    for key, expected in ref.items():
        # report.json rounds to 8 decimals
        assert metrics[key] == pytest.approx(expected, rel=1e-6, abs=1e-7), key
