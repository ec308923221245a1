"""Settings a sweep (or any evaluation entry) changes, by name: `KEY=VALUE` onto the typed config values.

Keys name a field of one of the frozen configs a replay is built from, with a prefix when the bare name is
ambiguous: `risk.<RiskLimits field>`, `cost.<CostModel field>`, `rules.<RulesParams field>`, and
`max_leverage` (the admin leverage cap the replay starts with). A bare field name resolves when exactly one
config has it (`min_confidence` → `risk.min_confidence`); `min_stop_pct` is in both RiskLimits and
RulesParams and must be written with its prefix. Values are coerced to the field's type; a bad key or
value is a UserInputError naming it and what is allowed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace

from core.config import CostModel, RiskLimits
from core.decide.rules import RulesParams
from core.errors import UserInputError
from core.models import DomainError

Scalar = bool | int | float | str
_CONFIGS: dict[str, type] = {"risk": RiskLimits, "cost": CostModel, "rules": RulesParams}
_SCALARS = (bool, int, float, str)


def _scalar_fields(cls: type) -> dict[str, type]:
    defaults = cls()
    return {f.name: type(getattr(defaults, f.name)) for f in fields(cls) if type(getattr(defaults, f.name)) in _SCALARS}


_FIELDS: dict[str, dict[str, type]] = {prefix: _scalar_fields(cls) for prefix, cls in _CONFIGS.items()}


def known_keys() -> list[str]:
    return ["max_leverage", *(f"{p}.{name}" for p, names in _FIELDS.items() for name in names)]


def canonical_key(key: str) -> str:
    """`min_confidence` → `risk.min_confidence`; `rules.entry_threshold` stays; unknown or ambiguous: error."""
    name = key.strip().lower()
    if name == "max_leverage":
        return name
    if "." in name:
        prefix, _, bare = name.partition(".")
        if prefix in _FIELDS and bare in _FIELDS[prefix]:
            return name
        raise UserInputError(f"unknown setting {key!r}; known: {', '.join(known_keys())}")
    owners = [p for p, names in _FIELDS.items() if name in names]
    if len(owners) == 1:
        return f"{owners[0]}.{name}"
    if owners:
        raise UserInputError(f"setting {key!r} is ambiguous: write {' or '.join(f'{p}.{name}' for p in owners)}")
    raise UserInputError(f"unknown setting {key!r}; known: {', '.join(known_keys())}")


def _field_type(key: str) -> type:
    if key == "max_leverage":
        return int
    prefix, _, name = key.partition(".")
    return _FIELDS[prefix][name]


def coerce(key: str, text: str) -> Scalar:
    """The value `text` as the type of setting `key` (already canonical)."""
    kind = _field_type(key)
    raw = text.strip()
    try:
        if kind is bool:
            lowered = raw.lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
                raise ValueError(raw)
            return lowered in ("true", "1", "yes", "on")
        if kind is int:
            number = float(raw)
            if not number.is_integer():
                raise ValueError(raw)
            return int(number)
        if kind is float:
            value = float(raw)
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError(raw)
            return value
    except ValueError:
        raise UserInputError(f"{key}: {raw!r} is not a valid {kind.__name__}") from None
    return raw


def parse_grid(items: list[str]) -> dict[str, tuple[Scalar, ...]]:
    """`["risk_per_trade_pct=1,1.5,2", "min_confidence=0.55,0.6"]` → canonical key → values (in given order)."""
    grid: dict[str, tuple[Scalar, ...]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not key.strip() or not values.strip():
            raise UserInputError(f"--grid: {item!r} must look like KEY=V1,V2 (e.g. min_confidence=0.55,0.6)")
        canonical = canonical_key(key)
        if canonical in grid:
            raise UserInputError(f"--grid: {canonical} is given twice")
        parsed = tuple(coerce(canonical, v) for v in values.split(",") if v.strip())
        if len(set(parsed)) != len(parsed):
            raise UserInputError(f"--grid: {canonical} repeats a value: {values}")
        grid[canonical] = parsed
    return grid


@dataclass(frozen=True, slots=True)
class EvalSettings:
    """The typed values one replay runs with, after overrides."""

    limits: RiskLimits = field(default_factory=RiskLimits)
    costs: CostModel = field(default_factory=CostModel)
    rules: RulesParams = field(default_factory=RulesParams)
    max_leverage: int = 5

    def with_overrides(self, overrides: Mapping[str, Scalar]) -> EvalSettings:
        changes: dict[str, dict[str, Scalar]] = {p: {} for p in _CONFIGS}
        leverage = self.max_leverage
        for key, value in overrides.items():
            canonical = canonical_key(key)
            if canonical == "max_leverage":
                leverage = int(value)
                continue
            prefix, _, name = canonical.partition(".")
            changes[prefix][name] = value
        try:
            return EvalSettings(
                limits=replace(self.limits, **changes["risk"]),  # type: ignore[arg-type]
                costs=replace(self.costs, **changes["cost"]),  # type: ignore[arg-type]
                rules=replace(self.rules, **changes["rules"]),  # type: ignore[arg-type]
                max_leverage=leverage,
            )
        except DomainError as error:
            raise UserInputError(f"settings {dict(overrides)}: {error}") from None

    def as_dict(self) -> dict[str, object]:
        """Every value, for the cell key and the written report (tuples as lists)."""
        return {
            "risk": _plain(dataclasses.asdict(self.limits)),
            "cost": _plain(dataclasses.asdict(self.costs)),
            "rules": _plain(dataclasses.asdict(self.rules)),
            "max_leverage": self.max_leverage,
        }


def _plain(value: object) -> object:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


__all__ = ["EvalSettings", "Scalar", "canonical_key", "coerce", "known_keys", "parse_grid"]
