from datetime import UTC, datetime

import pytest

from core.models import (
    Action,
    Decision,
    DecisionRecord,
    DomainError,
    OrderIntent,
    Regime,
    RuntimeState,
    Snapshot,
    TimeframeView,
)

T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)


def _view(bar_time: datetime = datetime(2024, 3, 1, 11, tzinfo=UTC)) -> TimeframeView:
    return TimeframeView(bar_time=bar_time, open=1.0, high=2.0, low=0.5, close=1.5, volume=10.0, rsi_14=55.123456789)


def test_snapshot_json_has_contract_keys_and_z_times() -> None:
    snap = Snapshot("BTC/USDT:USDT", T0, 61234.5, {"1h": _view()}, 0.0001, Regime.RANGING)
    out = snap.to_json_dict()
    assert out["as_of"] == "2024-03-01T12:00:00Z"
    assert out["regime"] == "ranging"
    frame = out["timeframes"]["1h"]
    assert frame["bar_time"] == "2024-03-01T11:00:00Z"
    for key in ("open", "high", "low", "close", "volume", "rsi_14", "macd", "macd_signal", "macd_hist",
                "ema_20", "ema_50", "ema_200", "atr_14"):
        assert key in frame
    assert frame["rsi_14"] == 55.1235  # compact: six significant digits


def test_snapshot_refuses_future_bar_and_naive_time() -> None:
    with pytest.raises(DomainError, match="look-ahead"):
        Snapshot("X/USDT:USDT", T0, 1.0, {"4h": _view(datetime(2024, 3, 1, 9, tzinfo=UTC))}, None, Regime.RANGING)
    with pytest.raises(DomainError, match="timezone-aware"):
        Snapshot("X/USDT:USDT", datetime(2024, 3, 1), 1.0, {}, None, Regime.RANGING)


def test_decision_invariants_name_the_values() -> None:
    with pytest.raises(DomainError, match=r"1\.7"):
        Decision(Action.LONG, 1.7, 90.0, (110.0,), 2)
    with pytest.raises(DomainError, match="500"):
        Decision(Action.LONG, 0.7, 90.0, (110.0,), 500)
    with pytest.raises(DomainError, match="take_profit"):
        Decision(Action.SHORT, 0.7, 110.0, (), 2)
    with pytest.raises(DomainError, match="stop_loss"):
        Decision(Action.LONG, 0.7, None, (110.0,), 2)
    Decision(Action.HOLD, 0.0)  # a hold needs no prices


def test_decision_price_logic() -> None:
    Decision(Action.LONG, 0.7, 95.0, (105.0, 110.0), 3).check_prices(100.0)
    with pytest.raises(DomainError, match="below price"):
        Decision(Action.LONG, 0.7, 101.0, (105.0,), 3).check_prices(100.0)
    with pytest.raises(DomainError, match="move up"):
        Decision(Action.LONG, 0.7, 95.0, (110.0, 105.0), 3).check_prices(100.0)
    with pytest.raises(DomainError, match="above price"):
        Decision(Action.SHORT, 0.7, 99.0, (95.0,), 3).check_prices(100.0)


def test_decision_record_failure_is_a_hold_with_reason() -> None:
    record = DecisionRecord(status="failed", engine="llm", model="m", attempts=3, decision=None, error="timeout")
    assert record.effective.action is Action.HOLD
    assert "timeout" in record.effective.reasoning
    assert record.to_json_dict()["decision"] is None
    with pytest.raises(DomainError):
        DecisionRecord(status="failed", engine="llm", model="m", attempts=1, decision=Decision.hold())


def test_order_intent_cannot_exist_without_a_proper_stop() -> None:
    base = dict(symbol="BTC/USDT:USDT", side="long", qty=1.0, leverage=3, take_profit=(110.0,),
                reference_price=100.0, est_liquidation=70.0, risk_amount=5.0, confidence=0.7,
                signal_id="s", cycle_id="c", created_at=T0)
    OrderIntent(stop_loss=95.0, **base)
    with pytest.raises(DomainError, match="losing side"):
        OrderIntent(stop_loss=101.0, **base)
    with pytest.raises(DomainError, match="liquidation"):
        OrderIntent(stop_loss=65.0, **base)


def test_runtime_state_caps_leverage() -> None:
    with pytest.raises(DomainError, match="max_leverage"):
        RuntimeState(paused=False, dry_run=True, max_leverage=21, symbols=())
