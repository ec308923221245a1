"""Market regime from a handful of indicator values of one timeframe (the snapshot uses 4h, else the finest).

- `volatile`: ATR well above its own recent average (`atr_ratio` ≥ VOLATILE_ATR_RATIO) — volatility first,
  because a trend read in a shock is unreliable;
- `trending_up` / `trending_down`: EMA 20 at least TREND_ATR_GAP ATRs away from EMA 50 and the close on the
  same side of EMA 50;
- `ranging` otherwise, and while indicators are still warming up.
"""

from __future__ import annotations

import math

from core.models import Regime

VOLATILE_ATR_RATIO = 1.6
TREND_ATR_GAP = 0.5


def _ok(*values: float | None) -> bool:
    return all(v is not None and math.isfinite(v) for v in values)


def classify_regime(
    close: float,
    ema_20: float | None,
    ema_50: float | None,
    atr_14: float | None,
    atr_ratio: float | None,
) -> Regime:
    if _ok(atr_ratio) and atr_ratio >= VOLATILE_ATR_RATIO:  # type: ignore[operator]
        return Regime.VOLATILE
    if not _ok(ema_20, ema_50, atr_14) or not atr_14 or atr_14 <= 0:
        return Regime.RANGING
    spread = (ema_20 - ema_50) / atr_14  # type: ignore[operator]
    if spread >= TREND_ATR_GAP and close > ema_50:  # type: ignore[operator]
        return Regime.TRENDING_UP
    if spread <= -TREND_ATR_GAP and close < ema_50:  # type: ignore[operator]
        return Regime.TRENDING_DOWN
    return Regime.RANGING
