from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.decide.engines import build_engine
from core.decide.trend import TrendEngine, TrendParams
from core.models import AccountView, Action, Position, Regime, Snapshot, TimeframeView

AS_OF = datetime(2024, 3, 1, 12, tzinfo=UTC)
ACCOUNT = AccountView(equity=10_000.0, available=10_000.0)
ROOT = Path(__file__).resolve().parents[3]
TRAIN_DATA = ROOT / ".." / "shared" / "data" / "binance-perps-train" / "main"


def view(close: float, *, e20: float | None, e50: float | None, atr: float | None, hours: int,
         e200: float | None = None) -> TimeframeView:
    return TimeframeView(AS_OF - timedelta(hours=hours), close, close * 1.01, close * 0.99, close, 1_000.0,
                         ema_20=e20, ema_50=e50, ema_200=e200, atr_14=atr)


def snap(daily: TimeframeView | None, h4: TimeframeView | None, *, funding: float | None = 0.0001) -> Snapshot:
    frames = {tf: v for tf, v in (("4h", h4), ("1d", daily)) if v is not None}
    price = 100.0
    frames["1h"] = view(price, e20=None, e50=None, atr=0.5, hours=1)
    return Snapshot("BTC/USDT:USDT", AS_OF, price, frames, funding, Regime.TRENDING_UP)


def uptrend(**kw: object) -> Snapshot:
    # 1d EMA20 - EMA50 = 4, one daily ATR of 4: spread 1 ATR; 4h close above its EMA50
    return snap(view(100.0, e20=96.0, e50=92.0, atr=4.0, hours=24), view(100.0, e20=99.0, e50=97.0, atr=1.5, hours=4),
                **kw)  # type: ignore[arg-type]


def downtrend() -> Snapshot:
    return snap(view(100.0, e20=104.0, e50=108.0, atr=4.0, hours=24), view(100.0, e20=101.0, e50=103.0, atr=1.5, hours=4))


def test_daily_uptrend_with_4h_agreement_goes_long_with_a_2_atr_daily_stop_and_targets_at_6r_and_20r() -> None:
    record = TrendEngine().decide_sync(uptrend(), ACCOUNT)
    d = record.decision
    assert record.status == "ok" and record.engine == "trend" and d is not None
    assert d.action is Action.LONG and d.confidence >= 0.6  # the guard's default minimum confidence
    d.check_prices(100.0)
    assert d.stop_loss == pytest.approx(92.0)  # 2 x daily ATR 4 = 8 %
    assert d.take_profit == pytest.approx((148.0, 260.0))
    assert "TP1 6R" in d.reasoning
    assert d.leverage == 1  # 10 % of margin at an 8 % stop


def test_daily_downtrend_goes_short_when_shorts_are_allowed_and_holds_by_default() -> None:
    d = TrendEngine(TrendParams(allow_shorts=True)).decide_sync(downtrend(), ACCOUNT).effective
    assert d.action is Action.SHORT and d.stop_loss == pytest.approx(108.0)
    d.check_prices(100.0)
    held = TrendEngine().decide_sync(downtrend(), ACCOUNT).effective
    assert held.action is Action.HOLD and "long-only" in held.reasoning


def test_a_short_with_a_wide_stop_keeps_positive_ordered_targets() -> None:
    # regression: 8R (now 20R) of a 15 % stop put the short's TP2 below zero and the entry was dropped as unsound
    wide = snap(view(100.0, e20=80.0, e50=110.0, atr=20.0, hours=24), view(100.0, e20=101.0, e50=103.0, atr=3.0, hours=4))
    d = TrendEngine(TrendParams(allow_shorts=True)).decide_sync(wide, ACCOUNT).effective
    assert d.action is Action.SHORT and d.stop_loss == pytest.approx(115.0)
    d.check_prices(100.0)
    assert d.take_profit == pytest.approx((55.0, 10.0))  # TP2 90 % down, TP1 at most half of that: 3R
    assert "TP1 3R" in d.reasoning


def test_chop_stands_aside() -> None:
    tangled = snap(view(100.0, e20=96.0, e50=95.0, atr=4.0, hours=24), view(100.0, e20=99.0, e50=97.0, atr=1.5, hours=4))
    d = TrendEngine().decide_sync(tangled, ACCOUNT).effective  # spread 0.25 ATR < 0.5
    assert d.action is Action.HOLD and "chop" in d.reasoning
    assert TrendEngine(TrendParams(min_spread_atr=0.2)).decide_sync(tangled, ACCOUNT).effective.action is Action.LONG


def test_4h_against_the_daily_trend_holds() -> None:
    against = snap(view(100.0, e20=96.0, e50=92.0, atr=4.0, hours=24), view(100.0, e20=101.0, e50=102.0, atr=1.5, hours=4))
    assert TrendEngine().decide_sync(against, ACCOUNT).effective.action is Action.HOLD


def test_crowded_funding_vetoes_only_when_enabled() -> None:
    assert TrendEngine().decide_sync(uptrend(funding=0.001), ACCOUNT).effective.action is Action.LONG
    engine = TrendEngine(TrendParams(crowded_funding=0.0003))
    assert engine.decide_sync(uptrend(funding=0.001), ACCOUNT).effective.action is Action.HOLD
    assert engine.decide_sync(uptrend(funding=-0.001), ACCOUNT).effective.action is Action.LONG


def test_warming_up_or_missing_frames_hold() -> None:
    for s in (snap(None, None), snap(view(100.0, e20=None, e50=None, atr=None, hours=24), None),
              snap(view(100.0, e20=96.0, e50=92.0, atr=4.0, hours=24), None)):
        assert TrendEngine().decide_sync(s, ACCOUNT).effective.action is Action.HOLD


def _account_with(side: str) -> AccountView:
    stop, targets = (90.0, (120.0, 180.0)) if side == "long" else (110.0, (80.0, 20.0))
    pos = Position("p1", "BTC/USDT:USDT", side, 1.0, 100.0, AS_OF - timedelta(days=3), 1, stop, stop,  # type: ignore[arg-type]
                   targets, 1.0 if side == "long" else 199.0, 100.0)
    return AccountView(equity=10_000.0, available=9_000.0, positions=(pos,))


def test_open_long_closes_on_a_daily_close_back_below_ema50_and_holds_otherwise() -> None:
    below = snap(view(90.0, e20=96.0, e50=92.0, atr=4.0, hours=24), view(100.0, e20=99.0, e50=97.0, atr=1.5, hours=4))
    assert TrendEngine().decide_sync(below, _account_with("long")).effective.action is Action.CLOSE
    assert TrendEngine().decide_sync(uptrend(), _account_with("long")).effective.action is Action.HOLD
    assert TrendEngine().decide_sync(uptrend(), _account_with("short")).effective.action is Action.CLOSE


def test_build_engine_knows_trend() -> None:
    engine = build_engine("trend", trend_params=TrendParams(atr_stop_multiple=3.0))
    assert isinstance(engine, TrendEngine) and engine.params.atr_stop_multiple == 3.0


# ---- real snapshots (binance-perps-train), pinned; and point-in-time ---------------------------------

PINNED = [
    ("BTC/USDT:USDT", datetime(2020, 11, 15, tzinfo=UTC), Action.LONG, 14646.7, (24571.0, 44419.6)),
    ("BTC/USDT:USDT", datetime(2022, 5, 15, tzinfo=UTC), Action.HOLD, None, ()),  # a downtrend: long-only
    ("ETH/USDT:USDT", datetime(2023, 8, 1, tzinfo=UTC), Action.HOLD, None, ()),
    ("ADA/USDT:USDT", datetime(2021, 2, 10, 12, tzinfo=UTC), Action.LONG, 0.738812, (1.65146, 3.47676)),
    ("XRP/USDT:USDT", datetime(2023, 10, 1, tzinfo=UTC), Action.HOLD, None, ()),
]


def _source(folder: Path, symbol: str, at: datetime):  # type: ignore[no-untyped-def]
    from core.market.offline import OfflineMarketData
    from core.market.snapshot import SeriesSnapshotSource

    return SeriesSnapshotSource.from_offline(OfflineMarketData(folder), [symbol], at, at)


@pytest.mark.parametrize(("symbol", "at", "action", "stop", "targets"), PINNED)
def test_pinned_decisions_on_real_snapshots(symbol: str, at: datetime, action: Action, stop: float | None,
                                            targets: tuple[float, ...]) -> None:
    if not TRAIN_DATA.is_dir():
        pytest.skip(f"training data not found at {TRAIN_DATA}")
    s = _source(TRAIN_DATA, symbol, at).snapshot_sync(symbol, at)
    d = TrendEngine().decide_sync(s, ACCOUNT).effective
    assert d.action is action
    assert d.stop_loss == (pytest.approx(stop) if stop is not None else None)
    assert d.take_profit == pytest.approx(targets)
    if d.is_entry:
        d.check_prices(s.price)


def perturbed_after(folder: Path, symbol: str, at: datetime) -> None:
    """`symbol`'s training files copied into `folder` with every candle from `at` on rewritten (prices ×3, no volume)."""
    stem = symbol.replace("/", "_").replace(":", "_")
    for path in TRAIN_DATA.glob(f"{stem}-*"):
        if "-futures." not in path.name:
            shutil.copy(path, folder / path.name)
            continue
        frame = pd.read_feather(path)
        later = frame["date"] >= pd.Timestamp(at)
        for column in ("open", "high", "low", "close"):
            frame.loc[later, column] = frame.loc[later, column] * 3.0
        frame.loc[later, "volume"] = 0.0
        frame.to_feather(folder / path.name)


@pytest.mark.parametrize(("symbol", "at"), [(p[0], p[1]) for p in PINNED])
def test_point_in_time_bars_after_as_of_change_nothing(tmp_path: Path, symbol: str, at: datetime) -> None:
    """Every candle after `as_of` is rewritten (prices tripled, volume zeroed): the decision is identical."""
    if not TRAIN_DATA.is_dir():
        pytest.skip(f"training data not found at {TRAIN_DATA}")
    perturbed_after(tmp_path, symbol, at)
    original = _source(TRAIN_DATA, symbol, at).snapshot_sync(symbol, at)
    perturbed = _source(tmp_path, symbol, at).snapshot_sync(symbol, at)
    a = TrendEngine().decide_sync(original, ACCOUNT)
    b = TrendEngine().decide_sync(perturbed, ACCOUNT)
    assert a.to_json_dict() == b.to_json_dict()


# ---- any snapshot: a valid decision or a hold, never a crash -------------------------------------------

_NUM = st.one_of(st.none(), st.just(0.0), st.floats(-1e6, 1e6), st.just(float("nan")))


@st.composite
def _views(draw: st.DrawFn, price: float, hours: int) -> TimeframeView:
    def near() -> float | None:
        return draw(st.one_of(st.none(), st.floats(0.3, 1.7).map(lambda f: f * price), st.just(float("nan"))))

    return TimeframeView(AS_OF - timedelta(hours=hours), price, price, price, price, 1.0,
                         ema_20=near(), ema_50=near(), ema_200=near(),
                         atr_14=draw(st.one_of(st.floats(0, 0.5).map(lambda f: f * price), _NUM)))


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_any_snapshot_gives_a_valid_decision(data: st.DataObject) -> None:
    price = data.draw(st.one_of(st.floats(1e-8, 1e9), st.sampled_from([5e-324, 1e-310, 1.7e308])))
    frames = {tf: data.draw(_views(price, h)) for tf, h in (("1h", 1), ("4h", 4), ("1d", 24))}
    s = Snapshot("BTC/USDT:USDT", AS_OF, price, frames, data.draw(_NUM), Regime.RANGING)
    d = TrendEngine().decide_sync(s, ACCOUNT).effective
    if d.is_entry:
        d.check_prices(price)
        assert d.stop_loss > 0.0 and all(t > 0 for t in d.take_profit)  # type: ignore[operator]


def test_trend_settings_reach_the_engine_and_bad_targets_are_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.settings import load_settings
    from core.errors import UserInputError

    monkeypatch.setenv("TREND_ATR_STOP_MULTIPLE", "3")
    monkeypatch.setenv("TREND_ALLOW_SHORTS", "true")
    params = load_settings(env_file=None).trend_params()
    assert params.atr_stop_multiple == 3.0 and params.allow_shorts is True and params.target_r == (6.0, 20.0)
    monkeypatch.setenv("TREND_TP1_R", "10")
    monkeypatch.setenv("TREND_TP2_R", "5")
    with pytest.raises(UserInputError, match="TREND_TP2_R"):
        load_settings(env_file=None)


def test_pinned_short_on_a_real_bear_snapshot_when_shorts_are_allowed() -> None:
    if not TRAIN_DATA.is_dir():
        pytest.skip(f"training data not found at {TRAIN_DATA}")
    at = datetime(2022, 5, 15, tzinfo=UTC)
    s = _source(TRAIN_DATA, "BTC/USDT:USDT", at).snapshot_sync("BTC/USDT:USDT", at)
    d = TrendEngine(TrendParams(allow_shorts=True)).decide_sync(s, ACCOUNT).effective
    assert d.action is Action.SHORT and d.stop_loss == pytest.approx(34591.7)
    assert d.take_profit == pytest.approx((16543.9, 3007.98))
    d.check_prices(s.price)
