"""The trend engine's round-2 research variants (docs/strategy.md): the TSMOM direction (the snapshot's
change_30d_pct) with an ATR stop, the funding veto by its own history's percentile, the regime filter."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.decide.memory import FundingHistory
from core.decide.trend import TrendEngine, TrendParams
from core.models import AccountView, Action, Position, Regime, Snapshot, TimeframeView
from tests.core.decide.test_trend import TRAIN_DATA, perturbed_after

T0 = datetime(2024, 1, 1, tzinfo=UTC)
FLAT = AccountView(equity=10_000.0, available=10_000.0)
TSMOM = TrendParams(signal="tsmom", allow_shorts=True)


def _snap(day: int, change_30d: float | None, *, close: float = 100.0, regime: Regime = Regime.RANGING,
          funding_24h: float | None = None) -> Snapshot:
    as_of = T0 + timedelta(days=day, hours=1)
    daily = TimeframeView(as_of - timedelta(hours=25), close, close, close, close, 1.0, atr_14=close * 0.04)
    hourly = TimeframeView(as_of - timedelta(hours=1), close, close, close, close, 1.0)
    return Snapshot("BTC/USDT:USDT", as_of, close, {"1h": hourly, "1d": daily}, 0.0001, regime,
                    extra={"funding_avg_24h": funding_24h, "change_30d_pct": change_30d})


def _holding(side: str, close: float = 100.0) -> AccountView:
    stop = close * (0.9 if side == "long" else 1.1)
    p = Position("p", "BTC/USDT:USDT", side, 1.0, close, T0, 1, stop, stop,  # type: ignore[arg-type]
                 (close * (1.5 if side == "long" else 0.5),), close * (0.5 if side == "long" else 1.5), close)
    return AccountView(equity=10_000.0, available=9_000.0, positions=(p,))


def test_tsmom_enters_with_an_atr_stop_on_the_30_day_return_and_closes_when_its_sign_flips() -> None:
    engine = TrendEngine(TSMOM)
    assert engine.decide_sync(_snap(0, None), FLAT).effective.action is Action.HOLD  # not 30 daily bars yet
    d = engine.decide_sync(_snap(1, 12.0, close=104.0), FLAT).effective
    assert d.action is Action.LONG and d.stop_loss == pytest.approx(104.0 * (1 - 2 * 0.04))
    d.check_prices(104.0)
    assert "30-day return" in d.reasoning
    assert engine.decide_sync(_snap(2, 3.0), _holding("long")).effective.action is Action.HOLD
    assert engine.decide_sync(_snap(3, -0.5), _holding("long")).effective.action is Action.CLOSE


def test_tsmom_takes_one_position_per_signal_flip() -> None:
    engine = TrendEngine(TSMOM)
    assert engine.decide_sync(_snap(0, 5.0), FLAT).effective.action is Action.LONG
    engine.decide_sync(_snap(1, 6.0), _holding("long"))  # the position was opened
    # stopped out while the momentum is still up: no second long on the same signal
    held = engine.decide_sync(_snap(2, 4.0), FLAT).effective
    assert held.action is Action.HOLD and "flip" in held.reasoning
    # the sign flips: a short is a new signal; back up later, a long is allowed again
    assert engine.decide_sync(_snap(3, -2.0), FLAT).effective.action is Action.SHORT
    assert engine.decide_sync(_snap(4, 8.0), FLAT).effective.action is Action.LONG


def test_long_only_tsmom_is_re_armed_by_a_down_signal_it_does_not_trade() -> None:
    # regression: the flip to a downtrend was never seen while long-only, so no second long ever came
    engine = TrendEngine(replace(TSMOM, allow_shorts=False))
    assert engine.decide_sync(_snap(0, 5.0), FLAT).effective.action is Action.LONG
    engine.decide_sync(_snap(1, 6.0), _holding("long"))
    down = engine.decide_sync(_snap(2, -3.0), FLAT).effective
    assert down.action is Action.HOLD and "long-only" in down.reasoning
    assert engine.decide_sync(_snap(3, 2.0), FLAT).effective.action is Action.LONG


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
    crowded = engine.decide_sync(_snap(0, 5.0, funding_24h=5e-4), FLAT).effective  # above all 20 samples
    assert crowded.action is Action.HOLD and "funding" in crowded.reasoning
    assert engine.decide_sync(_snap(1, 5.0, funding_24h=5e-5), FLAT).effective.action is Action.LONG


def test_regime_filter_needs_the_snapshots_regime_to_trend_the_trades_way() -> None:
    engine = TrendEngine(replace(TSMOM, regime_filter=True))
    d = engine.decide_sync(_snap(0, 5.0, regime=Regime.RANGING), FLAT).effective
    assert d.action is Action.HOLD and "regime ranging" in d.reasoning
    assert engine.decide_sync(_snap(1, 5.0, regime=Regime.TRENDING_UP), FLAT).effective.action is Action.LONG


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
    from core.market.offline import OfflineMarketData
    from core.market.snapshot import SeriesSnapshotSource

    snapshot = SeriesSnapshotSource.from_offline(OfflineMarketData(folder), [symbol], at, at).snapshot_sync(symbol, at)
    return snapshot, TrendEngine(TrendParams(signal="tsmom", allow_shorts=True)).decide_sync(snapshot, FLAT)


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


def test_change_30d_pct_is_the_last_closed_daily_bar_against_30_daily_bars_before() -> None:
    if not TRAIN_DATA.is_dir():
        pytest.skip(f"training data not found at {TRAIN_DATA}")
    from core.market.offline import OfflineMarketData

    at = datetime(2022, 5, 15, 13, tzinfo=UTC)
    snapshot = _tsmom_decision(TRAIN_DATA, "BTC/USDT:USDT", at)[0]
    daily = OfflineMarketData(TRAIN_DATA).frame("BTC/USDT:USDT", "1d")["close"]
    last = daily[datetime(2022, 5, 14, tzinfo=UTC)]  # the daily bar closed at 2022-05-15 00:00, the last one at 13:00
    assert snapshot.extra["change_30d_pct"] == pytest.approx((last / daily[datetime(2022, 4, 14, tzinfo=UTC)] - 1) * 100)


def test_the_shipped_default_is_tsmom_long_and_short_with_the_regime_filter_and_funding_veto(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.settings import load_settings

    for name in ("TREND_SIGNAL", "TREND_ALLOW_SHORTS", "TREND_REGIME_FILTER", "TREND_FUNDING_VETO_QUANTILE", "ENGINE",
                 "LLM_API_KEY", "LLM_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(env_file=None)
    params = settings.trend_params()
    assert settings.effective_engine == "trend"
    assert (params.signal, params.allow_shorts, params.regime_filter, params.funding_veto_quantile) == ("tsmom", True, True, 0.9)
    assert settings.risk_limits().lock_profit_trigger_pct == 0.0 and settings.risk_limits().trail_after_tp1_pct == 0.0
