"""The BTC filter (#17, DESIGN §5): no new longs while BTC fell more than BTC_FILTER_DROP_PCT over 4 h."""

from dataclasses import replace

import pytest

from core.config import RiskLimits
from core.risk.guard import Reason, RiskGuard
from tests.core.risk.test_guard import LIMITS, account, ctx, long, snap


def short():
    return long(action="short", stop_loss=102.0, take_profit=(96.0, 94.0))


def review(decision, btc_change, limits=LIMITS):
    guard = RiskGuard(limits)
    verdict = guard.review(decision, account(), snap("ETH/USDT:USDT"), replace(ctx(), btc_change_4h_pct=btc_change))
    return verdict, guard


def test_a_long_is_refused_after_btc_fell_more_than_the_limit_and_counted():
    verdict, guard = review(long(), -2.5)
    assert not verdict.approved
    assert verdict.reason == Reason.BTC_FILTER == "btc_filter"
    assert "2.50%" in verdict.detail and "BTC/USDT:USDT" in verdict.detail
    assert guard.reject_counts() == {"btc_filter": 1}


@pytest.mark.parametrize("change", [-1.99, -2.0, 0.0, 3.0, None])
def test_a_long_is_allowed_at_or_below_the_limit_or_when_unknown(change):
    verdict, _ = review(long(), change)
    assert verdict.approved, verdict
    assert ("btc_filter" if change is not None else "btc_filter_unknown") in verdict.checks


def test_shorts_are_unaffected_by_a_btc_drop():
    verdict, _ = review(short(), -8.0)
    assert verdict.approved, verdict


def test_zero_turns_the_filter_off():
    verdict, _ = review(long(), -8.0, replace(LIMITS, btc_filter_drop_pct=0.0))
    assert verdict.approved, verdict
    assert not any(c.startswith("btc_filter") for c in verdict.checks)


def test_the_default_is_two_percent():
    assert RiskLimits().btc_filter_drop_pct == 2.0
