"""The baseline engines of the lab (`baseline:NAME` in `--engines`), run by `simulate_targets`.

Each is a rule from closed bars to a target exposure (signed notional as a multiple of its symbol's
sub-account equity), decided at every step's as_of and filled at the next open through the same fees,
slippage, funding and liquidation as everything else (`core.evaluation.baselines`); a fill happens when the
target changes side or moves more than 25 % (REBALANCE_BAND) from the held size, so drift costs no fees. Indicators are causal
(the value at a bar uses that bar and earlier ones only), read at the last bar closed at each step.

- buy_and_hold: always 1× long (perp: funding and liquidation). buy_and_hold_spot: the same as spot.
- ema_cross: long 1× while EMA(fast) of hourly closes is above EMA(slow), short 1× while below.
- tsmom: time-series momentum with volatility targeting after Moskowitz, Ooi & Pedersen (2012), "Time
  series momentum", J. Financial Economics 104(2): the sign of the return over the last `lookback_days`
  times `vol_target / σ`, where σ is the ex-ante annualised volatility — an exponentially weighted
  variance of daily close-to-close returns with a 60-day centre of mass (δ/(1−δ) = 60, as in the paper),
  annualised with √365 (crypto trades every day) — capped at `max_leverage`. The paper uses 12-month
  lookbacks and a 40 % target on monthly futures; on hourly crypto bars the default here is 30 days and
  40 %, re-decided once a day at 00:00 UTC (between decisions the last target stands).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace

import numpy as np
import pandas as pd

from core.config import CostModel
from core.errors import UserInputError
from core.evaluation.baselines import BaselineRun, buy_and_hold, buy_and_hold_spot, simulate_targets
from core.evaluation.feed import SymbolBars
from core.market.timeframes import index_ms

MS_PER_DAY = 86_400_000


def _closes_at_steps(sym: SymbolBars, steps: np.ndarray, values: np.ndarray) -> np.ndarray:
    """`values` (one per base bar) read at the last bar closed at each step; NaN before the first."""
    base = sym.base
    idx = np.searchsorted(base.open_ms, steps - base.timeframe_ms, side="right") - 1
    out = np.where(idx >= 0, values[np.maximum(idx, 0)], np.nan)
    return out


@dataclass(frozen=True, slots=True)
class EmaCross:
    fast: int = 50
    slow: int = 200
    name: str = "ema_cross"
    grid: Mapping[str, tuple[int, ...]] = field(
        default_factory=lambda: {"fast": (20, 50), "slow": (100, 200)}, compare=False
    )

    def __post_init__(self) -> None:
        if not (1 <= self.fast < self.slow):
            raise UserInputError(f"baseline:ema_cross: needs 1 <= fast < slow, got fast={self.fast} slow={self.slow}")

    def params(self) -> dict[str, object]:
        return {"fast": self.fast, "slow": self.slow}

    def targets(self, sym: SymbolBars, steps: np.ndarray) -> np.ndarray:
        close = pd.Series(sym.base.close)
        fast = close.ewm(span=self.fast, adjust=False).mean().to_numpy()
        slow = close.ewm(span=self.slow, adjust=False).mean().to_numpy()
        signal = np.sign(fast - slow)
        signal[: self.slow] = 0.0  # the slow average is still warming up
        return np.nan_to_num(_closes_at_steps(sym, steps, signal))

    def run(self, bars: list[SymbolBars], steps: np.ndarray, equity: float, cost: CostModel) -> BaselineRun:
        return simulate_targets(self.name, bars, steps, equity, cost, self.targets)


@dataclass(frozen=True, slots=True)
class TsMom:
    lookback_days: int = 30
    vol_target: float = 0.40
    max_leverage: float = 2.0
    vol_com_days: float = 60.0
    name: str = "tsmom"
    grid: Mapping[str, tuple[int, ...]] = field(default_factory=lambda: {"lookback_days": (14, 30, 90)}, compare=False)

    def __post_init__(self) -> None:
        if self.lookback_days < 1 or not (0 < self.vol_target <= 5) or not (0 < self.max_leverage <= 20):
            raise UserInputError(
                f"baseline:tsmom: needs lookback_days >= 1, 0 < vol_target <= 5, 0 < max_leverage <= 20, got "
                f"{self.lookback_days}, {self.vol_target}, {self.max_leverage}"
            )

    def params(self) -> dict[str, object]:
        return {"lookback_days": self.lookback_days, "vol_target": self.vol_target, "max_leverage": self.max_leverage}

    def targets(self, sym: SymbolBars, steps: np.ndarray) -> np.ndarray:
        base = sym.base
        close = pd.Series(base.close, index=pd.to_datetime(base.open_ms + base.timeframe_ms, unit="ms", utc=True))
        daily = close.resample("1D", label="right", closed="right").last().dropna()  # the close at each 00:00
        returns = daily.pct_change()
        sigma = np.sqrt(returns.pow(2).ewm(com=self.vol_com_days, min_periods=20).mean() * 365.0)
        momentum = daily / daily.shift(self.lookback_days) - 1.0
        weight = (np.sign(momentum) * (self.vol_target / sigma)).clip(-self.max_leverage, self.max_leverage)
        weight = weight.fillna(0.0)
        day_ms = index_ms(weight)
        # the target decided at a step is the one of the last daily close at or before it
        idx = np.searchsorted(day_ms, steps, side="right") - 1
        return np.where(idx >= 0, weight.to_numpy()[np.maximum(idx, 0)], 0.0)

    def run(self, bars: list[SymbolBars], steps: np.ndarray, equity: float, cost: CostModel) -> BaselineRun:
        return simulate_targets(self.name, bars, steps, equity, cost, self.targets)


@dataclass(frozen=True, slots=True)
class HoldBaseline:
    spot: bool = False
    grid: Mapping[str, tuple[int, ...]] = field(default_factory=dict, compare=False)

    @property
    def name(self) -> str:
        return "buy_and_hold_spot" if self.spot else "buy_and_hold"

    def params(self) -> dict[str, object]:
        return {}

    def run(self, bars: list[SymbolBars], steps: np.ndarray, equity: float, cost: CostModel) -> BaselineRun:
        return (buy_and_hold_spot if self.spot else buy_and_hold)(bars, steps, equity, cost)


BaselineEngine = EmaCross | TsMom | HoldBaseline
BASELINES = ("buy_and_hold", "buy_and_hold_spot", "ema_cross", "tsmom")


def build_baseline(name: str, params: Mapping[str, str | int | float] | None = None) -> BaselineEngine:
    """`baseline:NAME` → its engine, with `params` (from `--set ENTRY:KEY=VALUE`) applied and checked."""
    made: BaselineEngine
    if name == "buy_and_hold":
        made = HoldBaseline()
    elif name == "buy_and_hold_spot":
        made = HoldBaseline(spot=True)
    elif name == "ema_cross":
        made = EmaCross()
    elif name == "tsmom":
        made = TsMom()
    else:
        raise UserInputError(f"--engines: unknown baseline {name!r} (have: {', '.join(BASELINES)})")
    return with_params(made, params or {})


def with_params(engine: BaselineEngine, params: Mapping[str, str | int | float]) -> BaselineEngine:
    if not params:
        return engine
    known = {f.name: f for f in fields(engine) if f.name not in ("name", "grid", "spot")}
    changes: dict[str, object] = {}
    for key, raw in params.items():
        if key not in known:
            raise UserInputError(
                f"--set: baseline:{engine.name} has no parameter {key!r} (have: {', '.join(known) or 'none'})"
            )
        kind = type(getattr(engine, key))
        try:
            value = kind(raw) if kind is not int else int(float(raw))
        except (TypeError, ValueError):
            raise UserInputError(f"--set: {key}={raw!r} is not a {kind.__name__}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise UserInputError(f"--set: {key}={raw!r} must be finite")
        changes[key] = value
    return replace(engine, **changes)  # type: ignore[arg-type]  # (each key was checked against the engine above)


__all__ = ["BASELINES", "BaselineEngine", "EmaCross", "HoldBaseline", "TsMom", "build_baseline", "with_params"]
