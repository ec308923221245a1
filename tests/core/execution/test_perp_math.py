import pytest

from core.execution.perp_math import (
    funding_cash_flow,
    isolated_margin,
    liquidation_price,
    loss_per_unit_at_stop,
    size_for_risk,
    slipped_price,
)


def test_liquidation_price_long_matches_hand_calculation():
    # long 2 BTC at 100, 10x, mmr 0.5 %: margin = 20; equity at p: 20 + 2(p-100) = 0.005*2*p
    # → 2p - 0.01p = 200 - 20 → p = 180 / 1.99 = 90.452261...
    p = liquidation_price(1, 100.0, 2.0, 10, 0.005)
    assert p == pytest.approx(180 / 1.99, rel=1e-12)
    equity = isolated_margin(2.0, 100.0, 10) + 2 * (p - 100)
    assert equity == pytest.approx(0.005 * 2 * p, rel=1e-9)


def test_liquidation_price_short_matches_hand_calculation():
    # short 1 at 50_000, 20x, mmr 0.5 %: margin 2500; 2500 + (50000 - p) = 0.005 p → p = 52500/1.005
    assert liquidation_price(-1, 50_000.0, 1.0, 20, 0.005) == pytest.approx(52_500 / 1.005, rel=1e-12)


def test_funding_paid_moves_liquidation_closer():
    base = liquidation_price(1, 100.0, 1.0, 10, 0.005)
    after_paying = liquidation_price(1, 100.0, 1.0, 10, 0.005, funding=-2.0)
    assert after_paying > base  # a long that paid funding is liquidated sooner
    assert after_paying == pytest.approx((100 - 10 + 2) / 0.995)


def test_liquidation_at_1x_long_never_negative():
    assert liquidation_price(1, 100.0, 1.0, 1, 0.005) == 0.0


def test_funding_sign_longs_pay_positive_rates():
    assert funding_cash_flow(1, 0.0001, 2.0, 30_000.0) == pytest.approx(-6.0)
    assert funding_cash_flow(-1, 0.0001, 2.0, 30_000.0) == pytest.approx(6.0)
    assert funding_cash_flow(1, -0.0002, 1.0, 1_000.0) == pytest.approx(0.2)


def test_slippage_is_against_the_trader():
    assert slipped_price(100.0, 1, 0.001, opening=True) == pytest.approx(100.1)
    assert slipped_price(100.0, 1, 0.001, opening=False) == pytest.approx(99.9)
    assert slipped_price(100.0, -1, 0.001, opening=True) == pytest.approx(99.9)
    assert slipped_price(100.0, -1, 0.001, opening=False) == pytest.approx(100.1)


def test_size_for_risk_loses_exactly_the_budget_at_the_stop():
    qty = size_for_risk(10_000, 1.5, 100.0, 98.0, 10, 10_000, 0.0005, 0.0002)
    assert qty * loss_per_unit_at_stop(100.0, 98.0, 0.0005, 0.0002) == pytest.approx(150.0)


def test_size_for_risk_capped_by_margin():
    qty = size_for_risk(10_000, 1.5, 100.0, 99.9, 1, 1_000, 0.0005, 0.0002)
    assert qty * 100.0 * (1 + 0.0007) == pytest.approx(1_000.0)
    assert size_for_risk(10_000, 1.5, 100.0, 98.0, 5, 0.0, 0.0005, 0.0) == 0.0
