"""The trend engine's round-2 research variants (docs/strategy.md): the TSMOM direction with an ATR stop, the
funding veto by its own history's percentile, the regime filter; and the memories behind them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.decide.memory import DailyCloses, FundingHistory
from core.decide.trend import TrendEngine, TrendParams
from core.models import AccountView, Action, Position, Regime, Snapshot, TimeframeView
from tests.core.decide.test_trend import TRAIN_DATA, perturbed_after

T0 = datetime(2024, 1, 1, tzinfo=UTC)
FLAT = AccountView(equity=10_000.0, available=10_000.0)
TSMOM = TrendParams(signal="tsmom", lookback_days=3, allow_shorts=True)


def _snap(day: int, close: float, *, regime: Regime = Regime.RANGING, funding_24h: float | None = None) -> Snapshot:
    as_of = T0 + timedelta(days=day, hours=1)
    daily = TimeframeView(as_of - timedelta(hours=25), close, close, close, close, 1.0, atr_14=close * 0.04)
    hourly = TimeframeView(as_of - timedelta(hours=1), close, close, close, close, 1.0)
    return Snapshot("BTC/USDT:USDT", as_of, close, {"1h": hourly, "1d": daily}, 0.0001, regime,
                    extra={"funding_avg_24h": funding_24h})


def _holding(side: str, close: float) -> AccountView:
    stop = close * (0.9 if side == "long" else 1.1)
    p = Position("p", "BTC/USDT:USDT", side, 1.0, close, T0, 1, stop, stop,  # type: ignore[arg-type]
                 (close * (1.5 if side == "long" else 0.5),), close * (0.5 if side == "long" else 1.5), close)
    return AccountView(equity=10_000.0, available=9_000.0, positions=(p,))


def test_daily_closes_give_the_sign_of_the_lookback_return_once_enough_are_seen() -> None:
    m = DailyCloses(lookback=2)
    for day, close in enumerate((100.0, 90.0)):
        m.observe(T0 + timedelta(days=day), close)
        assert m.sign() is None
    m.observe(T0 + timedelta(days=1), 500.0)  # the same daily bar again (hourly snapshots): ignored
    m.observe(T0 + timedelta(days=2), 101.0)
    assert m.sign() == 1 and m.closes == [100.0, 90.0, 101.0]
    m.observe(T0 + timedelta(days=3), 80.0)
    assert m.sign() == -1 and len(m.closes) == 3


def test_tsmom_enters_with_an_atr_stop_once_warm_and_closes_when_the_sign_flips() -> None:
    engine = TrendEngine(TSMOM)
    closes = [100.0, 101.0, 102.0, 104.0]
    for day, close in enumerate(closes[:-1]):
        assert engine.decide_sync(_snap(day, close), FLAT).effective.action is Action.HOLD  # warming up
    d = engine.decide_sync(_snap(3, 104.0), FLAT).effective
    assert d.action is Action.LONG and d.stop_loss == pytest.approx(104.0 * (1 - 2 * 0.04))
    d.check_prices(104.0)
    assert "3-day return" in d.reasoning
    assert engine.decide_sync(_snap(4, 103.0), _holding("long", 104.0)).effective.action is Action.HOLD  # 103 > 101
    assert engine.decide_sync(_snap(5, 100.0), _holding("long", 104.0)).effective.action is Action.CLOSE  # < 102


def test_tsmom_takes_one_position_per_signal_flip() -> None:
    engine = TrendEngine(TSMOM)
    for day, close in enumerate((100.0, 101.0, 102.0)):
        engine.decide_sync(_snap(day, close), FLAT)
    assert engine.decide_sync(_snap(3, 104.0), FLAT).effective.action is Action.LONG
    engine.decide_sync(_snap(4, 105.0), _holding("long", 104.0))  # the position was opened
    # stopped out while the momentum is still up: no second long on the same signal
    held = engine.decide_sync(_snap(5, 106.0), FLAT).effective
    assert held.action is Action.HOLD and "flip" in held.reasoning
    # the sign flips: a short is a new signal
    assert engine.decide_sync(_snap(6, 90.0), FLAT).effective.action is Action.SHORT
    # and back up again later: a long is allowed again
    for day, close in ((7, 95.0), (8, 99.0)):
        engine.decide_sync(_snap(day, close), FLAT)
    assert engine.decide_sync(_snap(9, 120.0), FLAT).effective.action is Action.LONG


def test_tsmom_is_long_only_unless_shorts_are_allowed() -> None:
    engine = TrendEngine(replace(TSMOM, allow_shorts=False))
    for day, close in enumerate((100.0, 99.0, 98.0, 97.0)):
        d = engine.decide_sync(_snap(day, close), FLAT).effective
    assert d.action is Action.HOLD and "long-only" in d.reasoning


def test_long_only_tsmom_is_re_armed_by_a_down_signal_it_does_not_trade() -> None:
    # regression: the flip to a downtrend was never seen while long-only, so no second long ever came
    engine = TrendEngine(replace(TSMOM, allow_shorts=False))
    for day, close in enumerate((100.0, 101.0, 102.0)):
        engine.decide_sync(_snap(day, close), FLAT)
    assert engine.decide_sync(_snap(3, 104.0), FLAT).effective.action is Action.LONG
    engine.decide_sync(_snap(4, 105.0), _holding("long", 104.0))
    assert engine.decide_sync(_snap(5, 90.0), FLAT).effective.action is Action.HOLD  # down: long-only
    for day, close in ((6, 95.0), (7, 99.0)):
        engine.decide_sync(_snap(day, close), FLAT)
    assert engine.decide_sync(_snap(8, 120.0), FLAT).effective.action is Action.LONG


def test_funding_history_percentile_counts_only_what_was_seen() -> None:
    h = FundingHistory(min_samples=3)
    for rate in (0.0001, 0.0001, 0.0002):
        h.observe(rate)
    assert h.percentile(0.0002) is None  # two distinct samples so far
    h.observe(0.0003)
    assert h.percentile(0.0003) == 1.0 and h.percentile(0.0001) == pytest.approx(1 / 3)
    h.observe(None)
    assert len(h.values) == 3


def test_funding_veto_skips_longs_in_the_top_decile_of_its_own_history() -> None:
    params = replace(TSMOM, funding_veto_quantile=0.9)
    engine = TrendEngine(params)
    engine._funding["BTC/USDT:USDT"] = FundingHistory(min_samples=10, values=[i * 1e-5 for i in range(20)])
    for day, close in enumerate((100.0, 101.0, 102.0)):
        engine.decide_sync(_snap(day, close, funding_24h=1e-5), FLAT)
    crowded = engine.decide_sync(_snap(3, 104.0, funding_24h=5e-4), FLAT).effective  # above all 20 samples
    assert crowded.action is Action.HOLD and "funding" in crowded.reasoning
    assert engine.decide_sync(_snap(4, 105.0, funding_24h=5e-5), FLAT).effective.action is Action.LONG


def test_regime_filter_needs_the_snapshots_regime_to_trend_the_trades_way() -> None:
    engine = TrendEngine(replace(TSMOM, regime_filter=True))
    for day, close in enumerate((100.0, 101.0, 102.0)):
        engine.decide_sync(_snap(day, close), FLAT)
    d = engine.decide_sync(_snap(3, 104.0, regime=Regime.RANGING), FLAT).effective
    assert d.action is Action.HOLD and "regime ranging" in d.reasoning
    assert engine.decide_sync(_snap(4, 105.0, regime=Regime.TRENDING_UP), FLAT).effective.action is Action.LONG


def test_an_unknown_signal_is_refused() -> None:
    with pytest.raises(ValueError, match="signal"):
        TrendEngine(TrendParams(signal="macd"))


# ---- TSMOM on real snapshots (binance-perps-train), pinned; and point-in-time -------------------------

PINNED_TSMOM = [
    ("BTC/USDT:USDT", datetime(2020, 11, 15, tzinfo=UTC), Action.LONG, 14646.7, (24571.0, 44419.6)),
    ("BTC/USDT:USDT", datetime(2022, 5, 15, tzinfo=UTC), Action.SHORT, 34591.7, (16543.9, 3007.98)),
    ("ETH/USDT:USDT", datetime(2023, 8, 1, tzinfo=UTC), Action.SHORT, 1947.62, (1302.02, 185.539)),
    ("XRP/USDT:USDT", datetime(2023, 10, 1, tzinfo=UTC), Action.LONG, 0.477896, (0.734819, 1.24866)),
]


def _tsmom_decision(folder: Path, symbol: str, at: datetime):  # type: ignore[no-untyped-def]
    """The engine fed one snapshot a day for the 31 days before `at` (its momentum memory), then `at`'s."""
    from core.market.offline import OfflineMarketData
    from core.market.snapshot import SeriesSnapshotSource

    source = SeriesSnapshotSource.from_offline(OfflineMarketData(folder), [symbol], at - timedelta(days=31), at)
    engine = TrendEngine(TrendParams(signal="tsmom", allow_shorts=True))
    for days in range(31, 0, -1):
        engine.decide_sync(source.snapshot_sync(symbol, at - timedelta(days=days)), FLAT)
    snapshot = source.snapshot_sync(symbol, at)
    return snapshot, engine.decide_sync(snapshot, FLAT)


@pytest.mark.parametrize(("symbol", "at", "action", "stop", "targets"), PINNED_TSMOM)
def test_tsmom_pinned_decisions_on_real_snapshots(symbol: str, at: datetime, action: Action, stop: float,
                                                  targets: tuple[float, ...]) -> None:
    if not TRAIN_DATA.is_dir():
        pytest.skip(f"training data not found at {TRAIN_DATA}")
    snapshot, record = _tsmom_decision(TRAIN_DATA, symbol, at)
    d = record.effective
    assert d.action is action and d.stop_loss == pytest.approx(stop) and d.take_profit == pytest.approx(targets)
    d.check_prices(snapshot.price)


@pytest.mark.parametrize(("symbol", "at"), [(p[0], p[1]) for p in PINNED_TSMOM])
def test_tsmom_point_in_time_bars_after_as_of_change_nothing(tmp_path: Path, symbol: str, at: datetime) -> None:
    if not TRAIN_DATA.is_dir():
        pytest.skip(f"training data not found at {TRAIN_DATA}")
    perturbed_after(tmp_path, symbol, at)
    assert _tsmom_decision(TRAIN_DATA, symbol, at)[1].to_json_dict() == _tsmom_decision(tmp_path, symbol, at)[1].to_json_dict()
