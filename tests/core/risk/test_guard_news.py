"""The guard's news rules (#17), both off by default: `news_veto` on a fresh critical negative headline, and the
PANIC / DIGESTING regimes that scale leverage down and widen the stop (smaller size at the same risk)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from core.models import KeyEvent, Sentiment
from core.risk.guard import Reason
from tests.core.risk.test_guard import LIMITS, NOW, long, review, snap


def with_news(*events: tuple[float, int], score: float | None = None):
    key = tuple(KeyEvent(NOW - timedelta(hours=age), f"headline {k}", impact) for k, (age, impact) in enumerate(events))
    return replace(snap(atr=0.2), sentiment=Sentiment(50, score, key))


def test_news_changes_nothing_with_the_default_settings() -> None:
    plain = review(long(), snapshot=snap(atr=0.2))
    shocked = review(long(), snapshot=with_news((0.5, -2), score=-2.0))
    assert plain.approved and shocked.approved
    assert plain.intent == shocked.intent
    assert not any(c.startswith("news") for c in shocked.checks)


def test_a_critical_negative_headline_vetoes_entries_within_the_window() -> None:
    limits = replace(LIMITS, news_veto_hours=6)
    fresh = review(long(), snapshot=with_news((5.5, -2)), limits=limits)
    assert not fresh.approved and fresh.reason == Reason.NEWS_VETO.value
    assert "headline 0" in fresh.detail and "6 h" in fresh.detail
    short = review(long(action="short", stop_loss=102.0, take_profit=(96.0, 94.0)), snapshot=with_news((1, -2)),
                   limits=limits)
    assert short.reason == Reason.NEWS_VETO.value  # every new entry, not only longs
    for events in (((6.5, -2),), ((1, -1),), ((1, 2),)):  # too old, not critical, positive
        verdict = review(long(), snapshot=with_news(*events), limits=limits)
        assert verdict.approved and "news_veto" in verdict.checks, events
    unknown = review(long(), snapshot=snap(atr=0.2), limits=limits)
    assert unknown.approved and "news_unknown" in unknown.checks


@pytest.mark.parametrize(
    ("events", "score", "regime", "lev_factor", "stop_factor"),
    [
        (((1.0, -2),), None, "panic", 0.5, 1.5),
        ((), -1.6, "panic", 0.5, 1.5),
        (((10.0, -2),), None, "digesting", 0.75, 1.25),
    ],
)
def test_news_regimes_cut_leverage_and_widen_the_stop(events, score, regime, lev_factor, stop_factor) -> None:
    limits = replace(LIMITS, news_regime=True)
    calm = review(long(), snapshot=snap(atr=0.2), limits=limits)
    hit = review(long(take_profit=(108.0, 112.0)), snapshot=with_news(*events, score=score), limits=limits)
    assert calm.approved and hit.approved, hit
    assert f"news_{regime}" in hit.checks
    assert hit.intent.leverage == max(1, int(calm.intent.leverage * lev_factor))
    assert 100.0 - hit.intent.stop_loss == pytest.approx((100.0 - calm.intent.stop_loss) * stop_factor)
    # the same money at risk over a wider stop: a smaller position
    assert hit.intent.qty < calm.intent.qty
    assert hit.intent.risk_amount == pytest.approx(calm.intent.risk_amount, rel=0.01)


def test_the_widened_stop_stays_within_the_widest_allowed() -> None:
    limits = replace(LIMITS, news_regime=True)
    verdict = review(long(stop_loss=95.5, take_profit=(110.0, 120.0), leverage=2), snapshot=with_news((1, -2)),
                     limits=limits)
    assert verdict.approved
    assert 100.0 - verdict.intent.stop_loss == pytest.approx(LIMITS.max_stop_pct)


def test_old_critical_news_is_no_regime() -> None:
    limits = replace(LIMITS, news_regime=True)
    verdict = review(long(), snapshot=with_news((30.0, -2)), limits=limits)
    assert verdict.approved and not any(c.startswith("news_") for c in verdict.checks)
