"""Buy-and-hold and flat baselines under the replay's accounting, on hand-checkable synthetic bars."""

from __future__ import annotations

import numpy as np
import pytest

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
