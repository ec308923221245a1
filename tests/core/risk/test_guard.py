import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.config import CostModel, RiskLimits
from core.execution.perp_math import loss_per_unit_at_stop
from core.models import (
    AccountView,
    ClosedTrade,
    Decision,
    KeyEvent,
    Position,
    Regime,
    RuntimeState,
    Sentiment,
    Snapshot,
    TimeframeView,
)
from core.protocols import Ticker
from core.risk.guard import Reason, ReviewContext, RiskGuard

NOW = datetime(2024, 3, 1, 12, tzinfo=UTC)
STATE = RuntimeState(paused=False, dry_run=True, max_leverage=10, symbols=("BTC/USDT:USDT", "ETH/USDT:USDT"))
LIMITS = RiskLimits(correlation_groups=(("BTC/USDT:USDT", "ETH/USDT:USDT"),))


def snap(symbol="BTC/USDT:USDT", price=100.0, atr=0.5, funding=0.0001, quality=(), volume=1e9) -> Snapshot:
    view = TimeframeView(bar_time=NOW - timedelta(hours=1), open=price, high=price, low=price, close=price,
                         volume=1.0, atr_14=atr)
    return Snapshot(symbol, NOW, price, {"1h": view}, funding, Regime.RANGING, quality,
                    {"quote_volume_24h": volume})


def account(equity=10_000.0, positions=(), trades=(), day_start=10_000.0, peak=10_000.0) -> AccountView:
    return AccountView(equity, equity, tuple(positions), tuple(trades), day_start, peak)


def ctx(state=STATE, ticker=None) -> ReviewContext:
    return ReviewContext(state, NOW, "2024-03-01T12", "2024-03-01T12-BTCUSDT", ticker)


def long(**kw) -> Decision:
    base = dict(action="long", confidence=0.8, stop_loss=98.0, take_profit=(104.0, 106.0), leverage=5)
    base.update(kw)
    return Decision(**base)


def position(symbol="ETH/USDT:USDT", side="long") -> Position:
    stop = 95.0 if side == "long" else 105.0
    return Position("p1", symbol, side, 1.0, 100.0, NOW, 5, stop, stop, (110.0,) if side == "long" else (90.0,),
                    80.0 if side == "long" else 120.0, 20.0)


def review(decision, acct=None, snapshot=None, context=None, limits=LIMITS):
    return RiskGuard(limits, CostModel()).review(decision, acct or account(), snapshot or snap(), context or ctx())


def test_approves_a_sound_long_and_sizes_by_risk():
    verdict = review(long())
    assert verdict.approved, verdict
    intent = verdict.intent
    assert intent.leverage == 5 and intent.stop_loss == 98.0
    assert intent.risk_amount == pytest.approx(150.0)
    assert "liquidation" in verdict.checks


@dataclass
class Raw:  # an engine output the Decision model would refuse: the guard must still stand
    action: str = "long"
    confidence: object = 0.8
    stop_loss: object = 98.0
    take_profit: tuple = (104.0, 106.0)
    leverage: object = 5


@pytest.mark.parametrize(
    ("reason", "kwargs"),
    [
        (Reason.PAUSED, dict(context=ctx(replace(STATE, paused=True)))),
        (Reason.NOT_ENTRY, dict(decision=Decision.hold())),
        (Reason.INVALID_DECISION, dict(decision=Raw(confidence=1.7))),
        (Reason.STALE_DATA, dict(snapshot=snap(quality=("stale:1h",)))),  # real flags: test_guard_data.py
        (Reason.BAD_DATA, dict(snapshot=snap(quality=("bad:1h",)))),
        (Reason.LOW_CONFIDENCE, dict(decision=long(confidence=0.3))),
        (Reason.DAILY_LOSS_BREAKER, dict(acct=account(equity=9_400, day_start=10_000, peak=10_000))),
        (Reason.DRAWDOWN_KILL_SWITCH, dict(acct=account(equity=7_900, day_start=7_900, peak=10_000))),
        (Reason.POSITION_EXISTS, dict(acct=account(positions=[position("BTC/USDT:USDT")]))),
        (Reason.MAX_POSITIONS, dict(acct=account(positions=[position(f"X{i}/USDT:USDT") for i in range(3)]))),
        (Reason.CORRELATED_EXPOSURE, dict(acct=account(positions=[position("ETH/USDT:USDT", "long")]))),
        (Reason.COOLDOWN, dict(acct=account(trades=[ClosedTrade(
            "p0", "BTC/USDT:USDT", "long", NOW - timedelta(hours=5), 100, NOW - timedelta(hours=1), 98, 1, 5, 98,
            "stop", -2, 0.1, 0, -2.1)]))),
        (Reason.EXTREME_FUNDING, dict(snapshot=snap(funding=0.003))),
        (Reason.BTC_FILTER, dict(context=replace(ctx(), btc_change_4h_pct=-3.0))),  # more: test_guard_btc_filter.py
        (Reason.NEWS_VETO, dict(snapshot=replace(snap(), sentiment=Sentiment(None, -2.0, (  # more: test_guard_news.py
            KeyEvent(NOW - timedelta(hours=1), "Exchange hacked", -2),))), limits=replace(LIMITS, news_veto_hours=6))),
        (Reason.VOLUME_TOO_LOW, dict(snapshot=snap(volume=10_000))),
        (Reason.SPREAD_TOO_WIDE, dict(context=ctx(ticker=Ticker("BTC/USDT:USDT", 100, 99.5, 100.5, 1e9)))),
        (Reason.NO_STOP, dict(decision=Raw(stop_loss="nan-ish"))),
        (Reason.STOP_WRONG_SIDE, dict(decision=long(stop_loss=101.0))),
        (Reason.STOP_TOO_TIGHT, dict(decision=long(stop_loss=99.95))),
        (Reason.STOP_TOO_WIDE, dict(decision=long(stop_loss=60.0))),
        (Reason.TARGETS_NOT_ORDERED, dict(decision=long(take_profit=(106.0, 104.0)))),
        (Reason.REWARD_RISK_TOO_LOW, dict(decision=long(take_profit=(101.0, 102.0)))),
        (Reason.STOP_BEYOND_LIQUIDATION, dict(decision=long(stop_loss=95.0, take_profit=(110.0,), leverage=20),
                                              context=ctx(replace(STATE, max_leverage=20)), snapshot=snap(atr=0.1))),
        (Reason.SIZE_TOO_SMALL, dict(acct=account(equity=1.0, day_start=1.0, peak=1.0))),
    ],
)
def test_each_reason_code_fires(reason, kwargs):
    decision = kwargs.pop("decision", long())
    verdict = review(decision, **kwargs)
    assert not verdict.approved
    assert verdict.reason == reason.value, verdict


def test_every_reason_code_has_a_test():
    from pathlib import Path

    source = Path(__file__).read_text()
    for reason in Reason:
        assert f"Reason.{reason.name}" in source


def test_missing_stop_is_repaired_with_a_bounded_atr_stop():
    verdict = review(Raw(stop_loss=None, take_profit=(110.0, 115.0)), snapshot=snap(atr=0.1))
    assert verdict.approved and "atr_stop_repaired" in verdict.checks
    assert verdict.intent.stop_loss == pytest.approx(98.5)  # 2×ATR = 0.2 % → bounded up to 1.5 %
    wide = review(Raw(stop_loss=None, take_profit=(120.0, 130.0)), snapshot=snap(atr=5.0))
    assert wide.intent.stop_loss == pytest.approx(95.0)  # 10 % → bounded down to 5 %


def test_leverage_capped_by_admin_hard_cap_and_volatility():
    assert review(long(leverage=125)).intent.leverage == 10  # admin cap
    assert review(long(leverage=125), snapshot=snap(atr=2.0)).intent.leverage == 5  # 2 % ATR → 10/2
    assert review(long(leverage=3)).intent.leverage == 3


def test_short_with_funding_it_receives_is_not_vetoed():
    d = Decision("short", 0.8, 102.0, (96.0, 94.0), 5)
    assert review(d, snapshot=snap(funding=0.003)).approved


def test_counts_are_kept_per_reason():
    guard = RiskGuard(LIMITS)
    guard.review(long(), account(), snap(), ctx())
    guard.review(long(confidence=0.1), account(), snap(), ctx())
    guard.review(long(confidence=0.1), account(), snap(), ctx())
    assert guard.counts["approved"] == 1 and guard.reject_counts() == {"low_confidence": 2}


finite = st.floats(min_value=1e-6, max_value=1e7, allow_nan=False, allow_infinity=False)
hostile_numbers = st.one_of(finite, st.just(float("nan")), st.just(float("inf")), st.just(-5.0), st.just(0.0),
                            st.none(), st.just("abc"))


@settings(max_examples=400, deadline=None)
@given(
    action=st.sampled_from(["long", "short", "hold", "close", "LONG", ""]),
    confidence=st.one_of(st.floats(-1, 2), st.just(1.7), st.just(float("nan"))),
    stop_pct=st.one_of(st.floats(-50, 50), st.sampled_from([0.05, 40.0, -0.05, -40.0, 1.5, 5.0])),
    raw_stop=hostile_numbers,
    use_raw=st.booleans(),
    targets=st.lists(hostile_numbers, max_size=4),
    leverage=st.one_of(st.integers(-5, 200), st.just(125)),
    price=st.floats(0.001, 1e6),
    atr_pct=st.one_of(st.none(), st.floats(0.0, 20.0)),
    equity=st.floats(1.0, 1e7),
    admin_cap=st.integers(1, 20),
)
def test_no_approved_intent_ever_breaks_the_invariants(
    action, confidence, stop_pct, raw_stop, use_raw, targets, leverage, price, atr_pct, equity, admin_cap
):
    stop = raw_stop if use_raw else price * (1 - stop_pct / 100)
    decision = Raw(action, confidence, stop, tuple(targets), leverage)
    state = replace(STATE, max_leverage=admin_cap)
    snapshot = snap(price=price, atr=None if atr_pct is None else price * atr_pct / 100)
    guard = RiskGuard(LIMITS, CostModel())
    verdict = guard.review(decision, account(equity, day_start=equity, peak=equity), snapshot, ctx(state))
    if not verdict.approved:
        assert verdict.reason in {r.value for r in Reason}
        return
    intent = verdict.intent
    sign = 1 if intent.side == "long" else -1
    assert intent.stop_loss > 0 and sign * (price - intent.stop_loss) > 0
    assert 1 <= intent.leverage <= min(admin_cap, 20)
    distance = abs(price - intent.stop_loss) / price * 100
    assert LIMITS.min_stop_pct - 1e-6 <= distance <= LIMITS.max_stop_pct + 1e-6
    loss = intent.qty * loss_per_unit_at_stop(price, intent.stop_loss, 0.0005, 0.0002)
    assert loss <= equity * LIMITS.risk_per_trade_pct / 100 * (1 + 1e-9)
    assert sign * (intent.est_liquidation - intent.stop_loss) < 0
    assert intent.qty * price / intent.leverage <= equity * (1 + 1e-9)
    assert math.isfinite(intent.qty)


def test_reward_risk_counts_fees_and_slippage():
    # gross 2.30 / 1.50 = 1.53 passes a bare-distance check, but after the entry fee and slippage, the
    # exit fee at the target and the stop's costs the plan earns 2.18 per 1.64 risked: 1.33 < 1.5
    thin = review(long(stop_loss=98.5, take_profit=(102.3,)))
    assert not thin.approved and thin.reason == Reason.REWARD_RISK_TOO_LOW.value, thin
    short = review(Decision("short", 0.8, 101.5, (97.7,), 5), snapshot=snap(funding=0.0))
    assert not short.approved and short.reason == Reason.REWARD_RISK_TOO_LOW.value, short
    assert review(long(stop_loss=98.5, take_profit=(102.6,))).approved  # net 2.48 / 1.64 = 1.51


def test_daily_loss_breaker_holds_until_the_next_utc_day():
    guard = RiskGuard(LIMITS, CostModel())
    late = replace(ctx(), now=NOW.replace(hour=20))
    tripped = guard.review(long(), account(equity=9_400, day_start=10_000), snap(), late)
    assert tripped.reason == Reason.DAILY_LOSS_BREAKER.value
    # an open position bounces back to -4 % the same day: still no new entries
    bounced = guard.review(long(), account(equity=9_600, day_start=10_000), snap(), replace(late, now=NOW.replace(hour=23)))
    assert not bounced.approved and bounced.reason == Reason.DAILY_LOSS_BREAKER.value, bounced
    next_day = replace(late, now=NOW.replace(hour=0) + timedelta(days=1))
    assert guard.review(long(), account(equity=9_600, day_start=9_600), snap(), next_day).approved
