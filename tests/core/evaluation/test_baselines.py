"""Buy-and-hold and flat baselines under the replay's accounting, on hand-checkable synthetic bars."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.config import CostModel
from core.evaluation.baselines import buy_and_hold, flat
from core.evaluation.feed import MS_PER_HOUR, Bars, SymbolBars
from core.models import DomainError

H = MS_PER_HOUR


def symbol_bars(symbol: str, opens: list[float], closes: list[float], funding: dict[int, float] | None = None,
                start_ms: int = 0) -> SymbolBars:
    n = len(opens)
    times = np.arange(n, dtype=np.int64) * H + start_ms
    o, c = np.array(opens), np.array(closes)
    base = Bars(H, times, o, np.maximum(o, c) + 1, np.minimum(o, c) - 1, c)
    fms = np.array(sorted((funding or {}).keys()), dtype=np.int64)
    rates = np.array([(funding or {})[int(k)] for k in fms], dtype=np.float64)
    return SymbolBars(symbol, base, funding_ms=fms, funding_rate=rates)


def test_flat_never_moves() -> None:
    run = flat(np.arange(5, dtype=np.int64) * H, 1000.0)
    assert run.trades == () and np.all(run.equity == 1000.0) and not run.exposure.any()


def test_buy_and_hold_without_costs_tracks_price() -> None:
    bars = symbol_bars("A/USDT:USDT", [100, 110, 120, 130], [110, 120, 130, 140])
    steps = np.array([0, 1, 2, 3, 4], dtype=np.int64) * H  # decide at 0h, buy at the open of the 0h bar
    run = buy_and_hold([bars], steps, 1000.0, CostModel(taker_fee_bps=0, slippage_bps=0))
    # qty = 10; equity after each bar close: 1000 (not held yet), 1100, 1200, 1300 ... wait: step 1 closes bar 0
    assert run.equity.tolist() == pytest.approx([1000.0, 1100.0, 1200.0, 1300.0, 1400.0])
    (trade,) = run.trades
    assert trade.net_pnl == pytest.approx(400.0) and trade.exit_reason == "end" and trade.qty == pytest.approx(10)
    assert run.exposure.tolist() == [False, True, True, True, True]


def test_buy_and_hold_pays_fees_slippage_and_funding_after_entry_only() -> None:
    funding = {0: 0.01, 2 * H: 0.001, 4 * H: 0.5}  # at entry and at the end: not charged
    bars = symbol_bars("A/USDT:USDT", [100, 100, 100, 100], [100, 100, 100, 100], funding)
    cost = CostModel(taker_fee_bps=10, slippage_bps=10)
    run = buy_and_hold([bars], np.arange(5, dtype=np.int64) * H, 1000.0, cost)
    entry = 100 * 1.001
    qty = 1000.0 / entry
    exit_price = 100.0  # the end close is at the last price (fee, no slippage), as the broker's
    fees = qty * entry * 0.001 + qty * exit_price * 0.001
    funding_paid = 0.001 * qty * 100.0
    (trade,) = run.trades
    assert trade.fees == pytest.approx(fees)
    assert trade.funding == pytest.approx(-funding_paid)  # cash received, as the broker books it
    assert trade.net_pnl == pytest.approx(qty * (exit_price - entry) - fees - funding_paid)
    assert run.equity[-1] == pytest.approx(1000.0 + trade.net_pnl)
    # before the 2h settlement only the entry fee and the mark's slippage are in equity
    assert run.equity[1] == pytest.approx(1000 + qty * (100 - entry) - qty * entry * 0.001)
    assert run.equity[2] == pytest.approx(run.equity[1])  # the 2h settlement is booked with the 2h bar
    assert run.equity[3] == pytest.approx(run.equity[2] - funding_paid)


def test_buy_and_hold_equal_weight_identity() -> None:
    a = symbol_bars("A/USDT:USDT", [10, 11, 12], [11, 12, 9])
    b = symbol_bars("B/USDT:USDT", [50, 40, 30], [40, 30, 60])
    run = buy_and_hold([a, b], np.arange(4, dtype=np.int64) * H, 2000.0, CostModel())
    assert len(run.trades) == 2
    assert run.equity[-1] == pytest.approx(2000.0 + sum(t.net_pnl for t in run.trades))
    assert run.trades[0].qty * run.trades[0].entry_price == pytest.approx(1000.0)


def test_buy_and_hold_refuses_a_window_without_bars() -> None:
    bars = symbol_bars("A/USDT:USDT", [1, 1], [1, 1], start_ms=10 * H)
    with pytest.raises(DomainError):
        buy_and_hold([bars], np.arange(3, dtype=np.int64) * H, 100.0, CostModel())


async def test_buy_and_hold_matches_the_paper_broker() -> None:
    """The baseline is the paper broker's accounting: the same 1× long through PaperBroker ends identical."""
    from datetime import UTC, datetime

    from core.clock import SimulatedClock
    from core.config import RiskLimits
    from core.evaluation.feed import ReplayBarFeed
    from core.execution.paper_book import MemoryBookStore
    from core.execution.paper_broker import PaperBroker
    from core.models import OrderIntent

    rng = np.random.default_rng(3)
    n = 60
    closes = 100 * np.cumprod(1 + rng.normal(0, 0.01, n))
    opens = np.r_[100.0, closes[:-1]]
    t0 = 1_700_006_400_000  # a multiple of 8 h
    funding = {t0 + k * 8 * H: float(rng.normal(0.0001, 0.0002)) for k in range(0, 9)}
    bars = symbol_bars("A/USDT:USDT", opens.tolist(), closes.tolist(), funding, start_ms=t0)
    steps = t0 + np.arange(0, 41, dtype=np.int64) * H
    cost = CostModel()
    baseline = buy_and_hold([bars], steps, 1000.0, cost)
    (bh,) = baseline.trades

    def at(ms: int) -> datetime:
        return datetime.fromtimestamp(ms / 1000, tz=UTC)

    clock = SimulatedClock(at(int(steps[0])))
    feed = ReplayBarFeed([bars], base_timeframe_ms=H, window_ms=(int(steps[0]), int(steps[-1])))
    store = MemoryBookStore()
    broker = PaperBroker(feed=feed, store=store, clock=clock, initial_equity=2000.0, costs=cost,
                         limits=RiskLimits(stale_exit_h=1e6))
    await broker.execute(OrderIntent(
        symbol="A/USDT:USDT", side="long", qty=bh.qty, leverage=1, stop_loss=0.001, take_profit=(1e9,),
        reference_price=float(opens[0]), est_liquidation=0.0, risk_amount=1.0, confidence=1.0, signal_id="bh",
        cycle_id="c0", created_at=at(int(steps[0])),
    ))
    curve = []
    for ms in steps.tolist():
        clock.set(at(ms))
        await broker.sync(at(ms))
        curve.append(broker.equity() - 1000.0)
    await broker.close_all(reason="end")
    curve[-1] = broker.equity() - 1000.0
    assert np.allclose(curve, baseline.equity, rtol=0, atol=1e-9)
    (trade,) = store.trades
    assert trade.funding == pytest.approx(bh.funding, abs=1e-12) and trade.fees == pytest.approx(bh.fees)
    assert trade.net_pnl == pytest.approx(bh.net_pnl, abs=1e-9) and trade.exit_time == bh.exit_time


def test_buy_and_hold_is_liquidated_when_funding_eats_its_margin_and_never_goes_below_zero() -> None:
    """A regression of #13: the 1× perp buy-and-hold paid funding forever and reached −9.2 k on 2020–24.
    Here a huge funding rate drains the margin: the position is liquidated and the account stays at 0."""
    n = 12
    prices = [100.0] * n
    funding = {k * H: 0.3 for k in range(1, n)}  # 30 % of notional per settlement
    bars = symbol_bars("A/USDT:USDT", prices, prices, funding)
    run = buy_and_hold([bars], np.arange(n, dtype=np.int64) * H, 1000.0, CostModel(taker_fee_bps=0, slippage_bps=0))
    assert run.liquidations == 1
    assert run.equity.min() >= 0.0 and run.equity[-1] == pytest.approx(0.0, abs=1e-9)
    assert [t.exit_reason for t in run.trades] == ["liquidation"]
    assert sum(t.net_pnl for t in run.trades) == pytest.approx(-1000.0)
    assert not run.exposure[-1]


def test_spot_buy_and_hold_pays_no_funding_and_is_labelled() -> None:
    from core.evaluation.baselines import buy_and_hold_spot

    funding = {1 * H: 0.01, 2 * H: 0.01}
    bars = symbol_bars("A/USDT:USDT", [100, 100, 100, 100], [100, 100, 100, 100], funding)
    steps = np.arange(5, dtype=np.int64) * H
    spot = buy_and_hold_spot([bars], steps, 1000.0, CostModel(taker_fee_bps=0, slippage_bps=0))
    perp = buy_and_hold([bars], steps, 1000.0, CostModel(taker_fee_bps=0, slippage_bps=0))
    assert spot.name == "buy_and_hold_spot" and spot.equity[-1] == pytest.approx(1000.0)
    assert perp.equity[-1] == pytest.approx(1000.0 - 2 * 10.0)  # two settlements of 1 % on 1,000 notional


def test_a_short_is_liquidated_at_its_liquidation_price_on_a_spike() -> None:
    from core.evaluation.baselines import simulate_targets

    opens = [100.0, 100.0, 100.0, 150.0, 150.0]
    bars = symbol_bars("A/USDT:USDT", opens, [100.0, 100.0, 100.0, 150.0, 150.0])
    bars = SymbolBars("A/USDT:USDT", Bars(H, bars.base.open_ms, bars.base.open, np.array([101, 101, 250, 151, 151.0]),
                                          bars.base.low, bars.base.close))
    cost = CostModel(taker_fee_bps=0, slippage_bps=0, maintenance_margin_rate=0.005)
    run = simulate_targets("short", [bars], np.arange(6, dtype=np.int64) * H, 1000.0, cost,
                           lambda sym, steps: -np.ones(len(steps)))
    (leg,) = [t for t in run.trades if t.exit_reason == "liquidation"]
    # 1× short of 10 at 100: equity 2000 − 10·p = 0.005·10·p → p = 2000 / 10.05
    assert leg.exit_price == pytest.approx(2000 / 10.05)
    assert run.equity.min() >= 0.0 and run.equity[-1] == pytest.approx(0.0, abs=1e-9)
    assert sum(t.net_pnl for t in run.trades) == pytest.approx(run.equity[-1] - 1000.0)


def test_tsmom_goes_with_the_trend_scaled_by_volatility() -> None:
    from core.evaluation.baseline_engines import TsMom

    days = 120
    hours = days * 24
    rng = np.random.default_rng(7)
    up = 100.0 * np.exp(np.cumsum(0.0005 + rng.normal(0, 0.004, hours)))
    bars = symbol_bars("A/USDT:USDT", list(up), list(up))
    steps = np.arange(hours // 2, hours, dtype=np.int64) * H
    weights = TsMom(lookback_days=30, vol_target=0.4, max_leverage=2.0).targets(bars, steps)
    assert weights.min() > 0  # a steady uptrend: long throughout
    assert weights.max() <= 2.0
    down = symbol_bars("A/USDT:USDT", list(up[::-1]), list(up[::-1]))
    assert TsMom().targets(down, steps).max() < 0


def test_ema_cross_is_causal() -> None:
    from core.evaluation.baseline_engines import EmaCross

    prices = list(100 + np.sin(np.arange(600) / 30) * 10)
    bars = symbol_bars("A/USDT:USDT", prices, prices)
    steps = np.arange(300, 500, dtype=np.int64) * H
    full = EmaCross(fast=10, slow=40).targets(bars, steps)
    cut = symbol_bars("A/USDT:USDT", prices[:500], prices[:500])
    assert np.array_equal(full, EmaCross(fast=10, slow=40).targets(cut, steps))  # later bars change nothing
    assert set(np.unique(full)) <= {-1.0, 0.0, 1.0}


@settings(max_examples=60, deadline=None)
@given(
    moves=st.lists(st.floats(-0.2, 0.2), min_size=8, max_size=40),
    targets=st.lists(st.sampled_from([-2.0, -1.0, -0.3, 0.0, 0.5, 1.0, 3.0]), min_size=8, max_size=40),
    rate=st.floats(-0.01, 0.05),
)
def test_any_target_path_keeps_the_identity_and_never_goes_below_zero(
    moves: list[float], targets: list[float], rate: float
) -> None:
    from core.evaluation.baselines import simulate_targets

    n = min(len(moves), len(targets))
    closes = list(100.0 * np.cumprod(1.0 + np.array(moves[:n])))
    opens = [100.0, *closes[:-1]]
    bars = symbol_bars("A/USDT:USDT", opens, closes, {k * H: rate for k in range(1, n)})
    weights = np.array([*targets[:n], 0.0])
    run = simulate_targets("random", [bars], np.arange(n + 1, dtype=np.int64) * H, 1000.0, CostModel(),
                           lambda sym, steps: weights[: len(steps)], band=0.0)
    assert run.equity.min() >= -1e-9
    assert run.equity[-1] == pytest.approx(1000.0 + sum(t.net_pnl for t in run.trades), abs=1e-6)


def _held(bars: list[SymbolBars], steps: np.ndarray, equity: float, cost: CostModel, weight: float, band: float,
          **flags: bool) -> object:
    """A constant target held over `steps` (band ∞: the numpy tail; a huge finite band: the step loop)."""
    from core.evaluation.baselines import simulate_targets

    return simulate_targets("held", bars, steps, equity, cost, lambda sym, at: np.full(len(at), weight), band=band,
                            **flags)


def _same_run(a: object, b: object) -> None:
    assert np.array_equal(a.equity, b.equity) and np.array_equal(a.exposure, b.exposure)  # type: ignore[attr-defined]
    assert a.trades == b.trades and a.liquidations == b.liquidations  # type: ignore[attr-defined]


@settings(max_examples=80, deadline=None)
@given(
    moves=st.lists(st.floats(-0.3, 0.3), min_size=4, max_size=60),
    missing=st.sets(st.integers(0, 59), max_size=12),
    settle=st.sets(st.integers(0, 200), max_size=25),
    rate=st.floats(-0.05, 0.2),
    side=st.sampled_from([1.0, -1.0, 2.5]),
)
def test_a_held_position_runs_to_the_end_in_numpy_with_the_loops_floats(
    moves: list[float], missing: set[int], settle: set[int], rate: float, side: float
) -> None:
    """band=∞ (buy-and-hold) takes the rest of the window at once after the fill; a huge finite band keeps
    the step loop and must decide the same: equal floats, trades and liquidations, also with missing bars,
    settlements between bars and at odd minutes, and liquidations (where the loop carries on by itself)."""
    closes = list(100.0 * np.cumprod(1.0 + np.array(moves)))
    opens = [100.0, *closes[:-1]]
    keep = [k for k in range(len(opens)) if k == 0 or k not in missing]
    funding = {k * H // 4: rate * (1 if k % 3 else -0.5) for k in settle}
    full = symbol_bars("A/USDT:USDT", opens, closes, funding)
    b = full.base
    bars = SymbolBars("A/USDT:USDT", Bars(H, b.open_ms[keep], b.open[keep], b.high[keep], b.low[keep], b.close[keep]),
                      funding_ms=full.funding_ms, funding_rate=full.funding_rate)
    steps = np.arange(len(opens) + 1, dtype=np.int64) * H
    cost = CostModel(taker_fee_bps=5, slippage_bps=2, maintenance_margin_rate=0.005)
    for liquidation in (True, False):
        for funding_on in (True, False):
            _same_run(*(_held([bars], steps, 1000.0, cost, side, band, funding=funding_on, liquidation=liquidation)
                        for band in (math.inf, 1e300)))


def test_buy_and_hold_on_real_data_equals_the_step_loop() -> None:
    """The README window's data (funding every 8 h): the numpy tail and the loop agree to the last bit."""
    from core.evaluation.replay import ReplaySpec, plan_steps, replay_bars
    from core.market.offline import OfflineMarketData
    from core.market.snapshot import SeriesSnapshotSource
    from core.market.timeframes import from_ms

    data = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "freqtrade-userdata-cyft_trader" / "original"
    if not data.is_dir():
        pytest.skip(f"needs the shared data at {data}")
    market = OfflineMarketData(data)
    spec = ReplaySpec(symbols=("BTC/USDT:USDT", "ETH/USDT:USDT"), start=datetime(2023, 1, 15, tzinfo=UTC),
                      end=datetime(2024, 5, 14, tzinfo=UTC), engine="rules", intrabar=False)
    steps = plan_steps(market, spec)
    source = SeriesSnapshotSource.from_offline(market, spec.symbols, from_ms(int(steps[0])), from_ms(int(steps[-1])),
                                               bar_timeframes=())
    bars = replay_bars(market, spec, source, (int(steps[0]), int(steps[-1])))
    cost = CostModel()
    for liquidation, funding_on in ((True, True), (False, False)):
        _same_run(*(_held(bars, steps, 10_000.0, cost, 1.0, band, funding=funding_on, liquidation=liquidation)
                    for band in (math.inf, 1e300)))
