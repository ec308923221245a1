"""Snapshot JSON (DESIGN §4.3) back into a `Snapshot`: the inverse of `Snapshot.to_json_dict()`.

Used by `aitrader decide --snapshot FILE` and by anything that stores snapshots as JSON. Unknown numeric
keys are kept in `extra` so a richer snapshot round-trips; errors name the offending key.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from core.models import SNAPSHOT_INDICATOR_KEYS, DomainError, KeyEvent, Regime, Sentiment, Snapshot, TimeframeView

_BAR_KEYS = ("open", "high", "low", "close", "volume")
_TOP_KEYS = frozenset({"symbol", "as_of", "price", "timeframes", "funding_rate", "regime", "quality"})


class SnapshotJsonError(DomainError):
    """The JSON is not a snapshot of DESIGN §4.3; the message names the key."""


def _time(value: object, where: str) -> datetime:
    if not isinstance(value, str):
        raise SnapshotJsonError(f"{where} must be an ISO-8601 string, got {value!r}")
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise SnapshotJsonError(f"{where}: cannot parse {value!r} as an ISO-8601 time in UTC's range") from None


def _number(value: object, where: str, *, required: bool) -> float | None:
    if value is None:
        if required:
            raise SnapshotJsonError(f"{where} is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SnapshotJsonError(f"{where} must be a number, got {value!r}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise SnapshotJsonError(f"{where} must be finite, got {value!r}")
    return number


def _extra(data: Mapping[str, Any], known: frozenset[str] | tuple[str, ...], where: str) -> dict[str, float | None]:
    extra: dict[str, float | None] = {}
    for key, value in data.items():
        if key in known or isinstance(value, str | list | dict):
            continue
        extra[key] = _number(value, f"{where}.{key}", required=False)
    return extra


def _view(tf: str, data: object) -> TimeframeView:
    where = f"timeframes.{tf}"
    if not isinstance(data, Mapping):
        raise SnapshotJsonError(f"{where} must be an object, got {type(data).__name__}")
    # the bar's numbers are required, the indicators may be null: one keyword map of both
    fields: dict[str, Any] = {key: _number(data.get(key), f"{where}.{key}", required=True) for key in _BAR_KEYS}
    for key in SNAPSHOT_INDICATOR_KEYS:
        fields[key] = _number(data.get(key), f"{where}.{key}", required=False)
    known = ("bar_time", *_BAR_KEYS, *SNAPSHOT_INDICATOR_KEYS)
    return TimeframeView(bar_time=_time(data.get("bar_time"), f"{where}.bar_time"), extra=_extra(data, known, where),
                         **fields)


def snapshot_from_json(data: object) -> Snapshot:
    if not isinstance(data, Mapping):
        raise SnapshotJsonError(f"a snapshot must be a JSON object, got {type(data).__name__}")
    symbol = data.get("symbol")
    if not isinstance(symbol, str) or "/" not in symbol:
        raise SnapshotJsonError(f"symbol must be a ccxt symbol like BTC/USDT:USDT, got {symbol!r}")
    frames = data.get("timeframes")
    if not isinstance(frames, Mapping) or not frames:
        raise SnapshotJsonError("timeframes must be a non-empty object of timeframe -> bar")
    regime_raw = data.get("regime", "ranging")
    try:
        regime = Regime(regime_raw)
    except ValueError:
        allowed = ", ".join(r.value for r in Regime)
        raise SnapshotJsonError(f"regime must be one of {allowed}, got {regime_raw!r}") from None
    quality = data.get("quality") or ()
    if not isinstance(quality, list | tuple) or not all(isinstance(q, str) for q in quality):
        raise SnapshotJsonError(f"quality must be a list of strings, got {quality!r}")
    try:
        return _snapshot(data, symbol, frames, regime, tuple(quality))
    except OverflowError as error:  # e.g. a timeframe key like "99999999999999999999d"
        raise SnapshotJsonError(f"a value is out of range: {error}") from None


def _snapshot(
    data: Mapping[str, Any], symbol: str, frames: Mapping[Any, Any], regime: Regime, quality: tuple[str, ...]
) -> Snapshot:
    return Snapshot(
        symbol=symbol,
        as_of=_time(data.get("as_of"), "as_of"),
        price=_number(data.get("price"), "price", required=True),  # type: ignore[arg-type]
        timeframes={str(tf): _view(str(tf), view) for tf, view in frames.items()},
        funding_rate=_number(data.get("funding_rate"), "funding_rate", required=False),
        regime=regime,
        quality=quality,
        extra=_extra(data, _TOP_KEYS, "snapshot"),
        sentiment=_sentiment(data.get("sentiment")),
    )


def _sentiment(data: object) -> Sentiment | None:
    """`sentiment` (§4.3, #17) back into a Sentiment; null stays None."""
    if data is None:
        return None
    if not isinstance(data, Mapping):
        raise SnapshotJsonError(f"sentiment must be an object or null, got {type(data).__name__}")
    events = data.get("key_events") or []
    if not isinstance(events, list):
        raise SnapshotJsonError("sentiment.key_events must be a list")
    try:
        fear_greed = _number(data.get("fear_greed"), "sentiment.fear_greed", required=False)
        score = _number(data.get("news_score"), "sentiment.news_score", required=False)
        return Sentiment(
            fear_greed=None if fear_greed is None else int(fear_greed),
            news_score=score,
            key_events=tuple(
                KeyEvent(_time(e.get("time"), "sentiment.key_events.time"), str(e.get("title", "")),
                         int(_number(e.get("impact"), "sentiment.key_events.impact", required=True) or 0))
                for e in events if isinstance(e, Mapping)
            ),
        )
    except DomainError as error:
        raise SnapshotJsonError(f"sentiment: {error}") from None
