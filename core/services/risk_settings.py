"""The risk limits an admin may change from chat (`/set KEY VALUE`): which, within what bounds, and which
direction raises the risk (that direction asks for the same confirmation as going live). The hard limits
of DESIGN §5 stay settings: `/set` moves a limit inside a safe range, never past it."""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.config import RiskLimits
from core.errors import UserInputError

STORE_PREFIX = "risk."


@dataclass(frozen=True, slots=True)
class RiskSetting:
    key: str  # what the admin types
    field: str  # the RiskLimits field
    integer: bool
    low: float
    high: float
    riskier_when_higher: bool
    label: str
    unit: str = ""

    def show(self, value: float) -> str:
        return f"{int(value)}" if self.integer else f"{value:g}{self.unit}"


SETTINGS: dict[str, RiskSetting] = {
    s.key: s
    for s in (
        RiskSetting("risk", "risk_per_trade_pct", False, 0.1, 5.0, True, "risk per trade", "%"),
        RiskSetting("min_confidence", "min_confidence", False, 0.5, 0.95, False, "minimum confidence"),
        RiskSetting("max_positions", "max_open_positions", True, 1, 10, True, "maximum open positions"),
        RiskSetting("min_reward_risk", "min_reward_risk", False, 1.0, 5.0, False, "minimum reward/risk"),
    )
}


def parse(key: str, raw: str) -> tuple[RiskSetting, float]:
    setting = SETTINGS.get(key.strip().lower())
    if setting is None:
        raise UserInputError(f"/set takes one of {', '.join(SETTINGS)}, got {key!r}; e.g. /set risk 1.0")
    text = raw.strip().removesuffix("%")
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if setting.integer and math.isfinite(value) and value != int(value):
        value = math.nan
    if not math.isfinite(value) or not (setting.low <= value <= setting.high):
        kind = "a whole number" if setting.integer else "a number"
        raise UserInputError(
            f"{setting.key} must be {kind} from {setting.show(setting.low)} to {setting.show(setting.high)}, got {raw!r}"
        )
    return setting, (int(value) if setting.integer else value)


def current(limits: RiskLimits, setting: RiskSetting) -> float:
    return float(getattr(limits, setting.field))


def raises_risk(setting: RiskSetting, old: float, new: float) -> bool:
    return new > old if setting.riskier_when_higher else new < old
