from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.execution.exit_ladder import (
    LifecycleRules,
    apply_bar,
    apply_funding,
    carry_best,
    quiet_span,
    target_fractions,
)
from core.models import Position

T0 = datetime(2024, 1, 1, tzinfo=UTC)
H = 3_600_000
RULES = LifecycleRules(slippage=0.0)


def pos(side="long", targets=(110.0, 120.0)) -> Position:
    stop = 95.0 if side == "long" else 105.0
    liq = 50.0 if side == "long" else 150.0
    return Position("p", "BTC/USDT:USDT", side, 2.0, 100.0, T0, 2, stop, stop, targets, liq, 100.0)


def bar(p, o, h, low, c, n=1):
    return apply_bar(p, n * H, (n + 1) * H, 0, o, h, low, c, RULES)


def test_stop_first_when_a_bar_touches_stop_and_target():
    assert bar(pos(), 100, 125, 90, 100) == [("stop", 95.0, 2.0)]


def test_gap_through_stop_fills_at_open():
    assert bar(pos(), 90, 91, 89, 90) == [("stop", 90.0, 2.0)]
    assert bar(pos("short", (90.0, 80.0)), 108, 109, 107, 108) == [("stop", 108.0, 2.0)]


def test_tp1_closes_half_moves_stop_to_breakeven_then_tp2_closes_rest():
    p = pos()
    assert bar(p, 100, 111, 99, 109) == [("tp1", 110.0, 1.0)]
    assert p.stop_loss == 100.0 and p.targets_hit == 1
    p.qty = 1.0
    assert bar(p, 109, 121, 108, 120, 2) == [("tp2", 120.0, 1.0)]


def test_breakeven_then_trailing_stop():
    p = pos()
    bar(p, 100, 111, 99, 109)
    p.qty = 1.0
    assert bar(p, 109, 109.5, 99.0, 101, 2) == [("breakeven", 100.0, 1.0)]
    q = pos()
    bar(q, 100, 111, 99, 109)
    q.qty = 1.0
    assert q.stop_loss == 100.0  # the TP1 bar leaves the stop at break-even
    bar(q, 109, 118, 108, 117, 2)  # best 118 → trail 118 - 5 = 113
    assert q.stop_loss == pytest.approx(113.0) and q.trailing_stop == pytest.approx(113.0)
    assert bar(q, 117, 117, 112, 112, 3) == [("trailing", 113.0, 1.0)]


def test_three_targets_tp2_and_tp3_share_what_tp1_left():
    p = pos(targets=(110.0, 120.0, 130.0))
    assert bar(p, 100, 121, 99, 119) == [("tp1", 110.0, 1.0), ("tp2", 120.0, 0.5)]  # was: TP2 closed all, TP3 never
    p.qty = 0.5
    assert bar(p, 119, 131, 118, 130, 2) == [("tp3", 130.0, 0.5)]
    assert p.targets_hit == 3
    assert target_fractions(3, 0.5) == (0.5, 0.25, 0.25) and target_fractions(2, 0.5) == (0.5, 0.5)


def test_single_target_closes_everything():
    assert bar(pos(targets=(110.0,)), 100, 111, 99, 109) == [("tp1", 110.0, 2.0)]


def test_stale_exit_after_48h_under_one_percent():
    p = pos()
    assert apply_bar(p, 46 * H, 47 * H, 0, 100, 100.5, 99.5, 100.4, RULES) == []
    assert apply_bar(p, 47 * H, 48 * H, 0, 100, 100.5, 99.5, 100.4, RULES) == [("stale", 100.4, 2.0)]
    assert apply_bar(pos(), 47 * H, 48 * H, 0, 100, 102, 99.5, 101.5, RULES) == []


def test_funding_erodes_margin_until_liquidation_precedes_the_stop():
    p = pos()
    p.leverage = 10
    p.liquidation_price = 90.45
    flow = apply_funding(p, 0.05, 100.0, 0.005)  # absurd rate to force it: long pays 10
    assert flow == pytest.approx(-10.0)
    # margin 20 less 10 paid: (qty·entry − (margin + F)) / (qty·(1 − mmr)) = (200 − 10) / 1.99
    assert p.liquidation_price == pytest.approx(190 / 1.99)
    assert p.liquidation_price > p.stop_loss  # liquidation now comes before the stop
    assert bar(p, 100, 101, 95.0, 100) == [("liquidation", pytest.approx(190 / 1.99), 2.0)]


def test_gap_through_stop_and_liquidation_is_a_liquidation_at_the_liquidation_price():
    # isolated margin: a position can lose its margin, never more — a gap past the liquidation price is
    # liquidated there, not filled at the open as a stop
    p = pos()
    p.leverage, p.liquidation_price = 10, 90.45
    assert bar(p, 80, 81, 79, 80) == [("liquidation", 90.45, 2.0)]
    s = pos("short", (90.0, 80.0))
    s.leverage, s.liquidation_price = 10, 109.45
    assert bar(s, 120, 121, 119, 120) == [("liquidation", 109.45, 2.0)]
    assert bar(pos(), 90, 91, 89, 90) == [("stop", 90.0, 2.0)]  # a gap short of liquidation stays a stop


# ---- the seed's two-phase trailing (off by default; LOCK_PROFIT_* and TRAIL_AFTER_TP1_PCT) -------------

TWO_PHASE = LifecycleRules(slippage=0.0, lock_trigger_pct=2.5, lock_offset_pct=0.15, trail_after_tp1_pct=2.0)


def test_profit_lock_moves_the_stop_to_entry_plus_offset_from_the_next_bar():
    p = pos()
    assert apply_bar(p, H, 2 * H, 0, 100, 102.4, 99.5, 102, TWO_PHASE) == [] and p.stop_loss == 95.0  # +2.4 %: not yet
    assert apply_bar(p, 2 * H, 3 * H, 0, 102, 102.6, 101, 102, TWO_PHASE) == []
    assert p.stop_loss == pytest.approx(100.15) and p.trailing_stop == pytest.approx(100.15)
    assert apply_bar(p, 3 * H, 4 * H, 0, 101, 101, 99, 99.5, TWO_PHASE) == [("breakeven", pytest.approx(100.15), 2.0)]
    s = pos("short", (90.0, 80.0))
    apply_bar(s, H, 2 * H, 0, 100, 100.5, 97.4, 98, TWO_PHASE)
    assert s.stop_loss == pytest.approx(99.85)


def test_without_the_lock_the_same_bars_leave_the_stop_alone():
    p = pos()
    apply_bar(p, 2 * H, 3 * H, 0, 102, 102.6, 101, 102, RULES)
    assert p.stop_loss == 95.0 and p.trailing_stop is None


def test_after_tp1_the_rest_trails_two_percent_below_the_best_price_and_tp1_keeps_a_lock_beyond_entry():
    p = pos()
    apply_bar(p, H, 2 * H, 0, 100, 103, 100, 102.5, TWO_PHASE)  # locks at 100.15
    assert apply_bar(p, 2 * H, 3 * H, 0, 103, 111, 102, 109, TWO_PHASE) == [("tp1", 110.0, 1.0)]
    assert p.stop_loss == pytest.approx(100.15)  # not loosened back to break-even
    p.qty = 1.0
    apply_bar(p, 3 * H, 4 * H, 0, 109, 115, 108, 114, TWO_PHASE)
    assert p.stop_loss == pytest.approx(115 * 0.98)  # 2 % trail, tighter than the 5-point initial distance
    assert apply_bar(p, 4 * H, 5 * H, 0, 114, 114, 112, 112.5, TWO_PHASE) == [("trailing", pytest.approx(112.7), 1.0)]


def test_a_position_with_a_locked_stop_beyond_entry_can_be_rebuilt_from_storage():
    # regression: Position's own check refused a pre-TP1 stop past entry, so a restart after the lock would crash
    p = pos()
    apply_bar(p, H, 2 * H, 0, 100, 103, 100, 102.5, TWO_PHASE)
    fields = {f: getattr(p, f) for f in p.__dataclass_fields__}
    assert Position(**fields).stop_loss == pytest.approx(100.15)


@settings(max_examples=400, deadline=None)
@given(
    side=st.sampled_from(["long", "short"]),
    path=st.lists(st.tuples(st.floats(-0.015, 0.015), st.floats(0.0, 0.01), st.floats(0.0, 0.01)), min_size=1,
                  max_size=14),
    liq=st.sampled_from([0.0, 50.0, 96.0, 99.0, 101.0, 104.0, 150.0]),
    hit=st.sampled_from([0, 1]),
    age_h=st.sampled_from([0, 20, 34, 40, 47, 48, 100]),
    lock=st.sampled_from([0.0, 1.0]),
    nan_at=st.one_of(st.none(), st.integers(0, 13)),
)
def test_a_quiet_span_is_exactly_the_walk_that_exits_nothing(
    side: str, path: list[tuple[float, float, float]], liq: float, hit: int, age_h: int, lock: float,
    nan_at: int | None,
) -> None:
    """The paper broker skips the bar-by-bar walk over a span quiet_span passes: the walk must then exit nothing
    and leave every field of the position as carry_best does (liquidation inside or outside the stop, stale
    due or not, trailing or profit lock running, a NaN bar)."""
    import copy
    import math

    rules = LifecycleRules(slippage=0.0002, stale_ms=48 * H, lock_trigger_pct=lock)
    bars, price = [], 100.0
    for k, (move, up, down) in enumerate(path):
        o, c = price, price * (1 + move)
        h, low = max(o, c) * (1 + up), min(o, c) * (1 - down)
        if k == nan_at:
            h = math.nan
        bars.append((k * H, o, h, low, c))
        price = c
    start = pos(side)
    start.liquidation_price = liq if side == "long" else (200.0 - liq if liq else 0.0)
    start.targets_hit = hit
    entry_ms = -age_h * H
    walked, skipped = copy.deepcopy(start), copy.deepcopy(start)
    exits = [e for t, o, h, low, c in bars for e in apply_bar(walked, t, t + H, entry_ms, o, h, low, c, rules)]
    _, _, highs, lows, _ = zip(*bars, strict=True)
    if quiet_span(skipped, highs, lows, bars[-1][0] + H, entry_ms, rules):
        carry_best(skipped, highs, lows)
        assert exits == []
        assert walked == skipped
