"""Typed domain values shared by every part of the bot.

Each value checks its invariants where it is built and names the offending values when it refuses.
Hot-path values (snapshots, positions, events) are slotted dataclasses: replay builds hundreds of
thousands of them, and pydantic validation there would cost more than the whole strategy.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

Side = Literal["long", "short"]

SNAPSHOT_INDICATOR_KEYS = (
    "rsi_14",
    "macd",
    "macd_signal",
    "macd_hist",
    "ema_20",
    "ema_50",
    "ema_200",
    "atr_14",
)


class DomainError(ValueError):
    """A value broke an invariant of the domain; the message names the offending values."""


def side_sign(side: Side) -> int:
    return 1 if side == "long" else -1


def iso_z(moment: datetime) -> str:
    """UTC ISO-8601 with a trailing Z and no fractional seconds, as in every JSON contract."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def require_utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None:
        raise DomainError(f"{name} must be timezone-aware UTC, got naive {moment!r}")
    return moment.astimezone(UTC)


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


_TF_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}


@functools.cache
def _timeframe_delta(timeframe: str) -> timedelta:
    try:
        return timedelta(seconds=int(timeframe[:-1]) * _TF_UNITS[timeframe[-1]])
    except (KeyError, ValueError):
        raise DomainError(f"unknown timeframe {timeframe!r}; use e.g. 5m, 1h, 4h, 1d") from None


class Regime(StrEnum):
    TRENDING_UP = "trending_up"
    TRENDING_DOWN = "trending_down"
    RANGING = "ranging"
    VOLATILE = "volatile"


class Action(StrEnum):
    LONG = "long"
    SHORT = "short"
    HOLD = "hold"
    CLOSE = "close"


# ---------------------------------------------------------------------------------------------
# Market snapshot (DESIGN §4.3)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimeframeView:
    """The last bar fully closed at `as_of` on one timeframe, with its indicators (None while warming up)."""

    bar_time: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float
    rsi_14: float | None = None
    macd: float | None = None
    macd_signal: float | None = None
    macd_hist: float | None = None
    ema_20: float | None = None
    ema_50: float | None = None
    ema_200: float | None = None
    atr_14: float | None = None
    extra: Mapping[str, float | None] = field(default_factory=dict)

    @classmethod
    def from_fields(cls, values: tuple[Any, ...], extra: Mapping[str, float | None]) -> TimeframeView:
        """TimeframeView(*values, extra=extra) — `values` every field before `extra`, in order — without the
        frozen __init__'s object.__setattr__ per field (there are no checks to skip): replay's snapshot
        assembly builds one view per bar (#18, 1.65 → 1.0 µs)."""
        view = object.__new__(cls)
        for set_field, value in zip(_VIEW_SETTERS, values, strict=True):
            set_field(view, value)
        _SET_VIEW_EXTRA(view, extra)
        return view

    def to_json_dict(self, digits: int = 6, *, prompt: bool = False) -> dict[str, Any]:
        def r(v: float | None, places: int = digits) -> float | None:
            v = _finite(v)
            return None if v is None else float(f"{v:.{places}g}")

        # in a prompt, what is read as a magnitude (volume, RSI, MACD, the ratios) needs no 6 digits; prices do
        coarse = min(digits, 4) if prompt else digits
        out: dict[str, Any] = {
            "bar_time": iso_z(self.bar_time),
            "open": r(self.open),
            "high": r(self.high),
            "low": r(self.low),
            "close": r(self.close),
            "volume": r(self.volume, coarse),
        }
        for key in SNAPSHOT_INDICATOR_KEYS:
            out[key] = r(getattr(self, key), coarse if key.startswith(("macd", "rsi")) else digits)
        for key, value in self.extra.items():
            out[key] = r(value, coarse)
        if prompt:
            # Room for the news (#17) within 1,200 tokens, losing nothing: each view is the last bar closed at the
            # snapshot's as_of (stale data never reaches an engine), and the MACD signal is macd − macd_hist.
            del out["bar_time"], out["macd_signal"]
        return out


*_VIEW_SETTERS, _SET_VIEW_EXTRA = (getattr(TimeframeView, f.name).__set__ for f in fields(TimeframeView))

MAX_KEY_EVENT_TITLE = 160
PROMPT_KEY_EVENTS = 2  # key events in the LLM prompt (the snapshot JSON keeps all, at most 3)
PROMPT_TITLE_CHARS = 56


@dataclass(frozen=True, slots=True)
class KeyEvent:
    """One headline that moved the news reading (#17): when it was first seen, its title, impact −2..+2."""

    time: datetime
    title: str
    impact: int

    def __post_init__(self) -> None:
        require_utc(self.time, "key event time")
        if not (-2 <= self.impact <= 2):
            raise DomainError(f"key event impact must be within [-2, 2], got {self.impact!r}")
        if len(self.title) > MAX_KEY_EVENT_TITLE:
            object.__setattr__(self, "title", self.title[: MAX_KEY_EVENT_TITLE - 1].rstrip() + "…")

    def to_json_dict(self) -> dict[str, Any]:
        return {"time": iso_z(self.time), "title": self.title, "impact": self.impact}


@dataclass(frozen=True, slots=True)
class Sentiment:
    """DESIGN §4.3 `sentiment`: Fear & Greed of the day, the decayed news score, the key events — each only
    from what was known at the snapshot's as_of. `top_source` is for the channel, never the prompt."""

    fear_greed: int | None = None
    news_score: float | None = None
    key_events: tuple[KeyEvent, ...] = ()
    top_source: str = ""  # the feed the strongest key event came from (Market Pulse shows it)

    def __post_init__(self) -> None:
        if self.fear_greed is not None and not (0 <= self.fear_greed <= 100):
            raise DomainError(f"fear_greed must be within [0, 100], got {self.fear_greed!r}")
        if self.news_score is not None and not (-2.0 <= self.news_score <= 2.0):
            raise DomainError(f"news_score must be within [-2, 2], got {self.news_score!r}")

    def to_json_dict(self, *, prompt: bool = False, as_of: datetime | None = None) -> dict[str, Any]:
        """The §4.3 shape. `prompt=True` (tokens every hour) leaves out null and empty parts and gives at most
        PROMPT_KEY_EVENTS key events, each one short line "impact, age: title" (age from `as_of`)."""
        if not prompt:
            return {
                "fear_greed": self.fear_greed,
                "news_score": None if self.news_score is None else round(self.news_score, 2),
                "key_events": [e.to_json_dict() for e in self.key_events],
            }
        out: dict[str, Any] = {}
        if self.fear_greed is not None:
            out["fear_greed"] = self.fear_greed
        if self.news_score is not None:
            out["news_score"] = round(self.news_score, 1)
        events = []
        for e in self.key_events[:PROMPT_KEY_EVENTS]:
            age = f"{max(0, int((as_of - e.time).total_seconds() // 3600))}h ago" if as_of is not None else iso_z(e.time)
            title = e.title if len(e.title) <= PROMPT_TITLE_CHARS else e.title[:PROMPT_TITLE_CHARS].rsplit(" ", 1)[0] + "…"
            events.append(f"{e.impact:+d} {age}: {title}")
        if events:
            out["key_events"] = events
        return out


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Point-in-time view of one symbol: only bars fully closed at `as_of` (open_time + tf <= as_of)."""

    symbol: str
    as_of: datetime
    price: float
    timeframes: Mapping[str, TimeframeView]
    funding_rate: float | None
    regime: Regime
    quality: tuple[str, ...] = ()
    extra: Mapping[str, float | None] = field(default_factory=dict)
    sentiment: Sentiment | None = None  # news and Fear & Greed (#17); None: no news source configured

    def __post_init__(self) -> None:
        require_utc(self.as_of, "as_of")
        if not (self.price > 0 and math.isfinite(self.price)):
            raise DomainError(f"snapshot price must be positive and finite, got {self.price!r} for {self.symbol}")
        for tf, view in self.timeframes.items():
            if view.bar_time + _timeframe_delta(tf) > self.as_of:
                raise DomainError(f"{tf} bar opened {view.bar_time} is not closed at as_of {self.as_of}: look-ahead")

    @classmethod
    def trusted(
        cls,
        symbol: str,
        as_of: datetime,
        price: float,
        timeframes: Mapping[str, TimeframeView],
        funding_rate: float | None,
        regime: Regime,
        quality: tuple[str, ...],
        extra: Mapping[str, float | None],
    ) -> Snapshot:
        """Skips `__post_init__`: only for a builder that guarantees its checks by construction (UTC as_of,
        positive finite price, every view closed at as_of) — replay's snapshot assembly, once per symbol-bar."""
        snapshot = object.__new__(cls)
        set_field = object.__setattr__
        set_field(snapshot, "symbol", symbol)
        set_field(snapshot, "as_of", as_of)
        set_field(snapshot, "price", price)
        set_field(snapshot, "timeframes", timeframes)
        set_field(snapshot, "funding_rate", funding_rate)
        set_field(snapshot, "regime", regime)
        set_field(snapshot, "quality", quality)
        set_field(snapshot, "extra", extra)
        set_field(snapshot, "sentiment", None)
        return snapshot

    def to_json_dict(self, *, prompt: bool = False) -> dict[str, Any]:
        """DESIGN §4.3. `prompt=True` (what an LLM is sent, paid in tokens every hour) leaves out the extra
        top-level keys that are null — no data at that time, e.g. open interest or the order book in replay —
        and gives the others 4 significant digits (the §4.3 keys and the bars keep theirs)."""
        out: dict[str, Any] = {
            "symbol": self.symbol,
            "as_of": iso_z(self.as_of),
            "price": float(f"{self.price:.8g}"),
            "timeframes": {tf: view.to_json_dict(prompt=prompt) for tf, view in self.timeframes.items()},
            "funding_rate": _finite(self.funding_rate),
            "regime": str(self.regime),
        }
        if self.quality:
            out["quality"] = list(self.quality)
        for key, value in self.extra.items():
            v = _finite(value)
            if v is not None:
                out[key] = float(f"{v:.4g}") if prompt else float(f"{v:.6g}")
            elif not prompt:
                out[key] = None
        if self.sentiment is not None:
            reading = self.sentiment.to_json_dict(prompt=prompt, as_of=self.as_of)
            if reading or not prompt:
                out["sentiment"] = reading
        elif not prompt:
            out["sentiment"] = None
        return out


# ---------------------------------------------------------------------------------------------
# Decisions (DESIGN §4.4)
# ---------------------------------------------------------------------------------------------

MAX_REASONING_CHARS = 600
MAX_NOTE_CHARS = 280  # the follower-facing note an entry post shows instead of the reasoning (#15)
MAX_DECISION_LEVERAGE = 125


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    confidence: float
    stop_loss: float | None = None
    take_profit: tuple[float, ...] = ()
    leverage: int = 1
    invalidation: str = ""
    reasoning: str = ""
    note: str = ""  # optional plain-language line for followers; the reasoning stays internal (/why)

    def __post_init__(self) -> None:
        object.__setattr__(self, "action", Action(self.action))
        if len(self.note) > MAX_NOTE_CHARS:
            raise DomainError(f"note is {len(self.note)} characters, at most {MAX_NOTE_CHARS}")
        object.__setattr__(self, "take_profit", tuple(float(t) for t in self.take_profit))
        if not (0.0 <= self.confidence <= 1.0):
            raise DomainError(f"confidence must be within [0, 1], got {self.confidence!r}")
        if not (1 <= self.leverage <= MAX_DECISION_LEVERAGE):
            raise DomainError(f"leverage must be within [1, {MAX_DECISION_LEVERAGE}], got {self.leverage!r}")
        if len(self.reasoning) > MAX_REASONING_CHARS:
            raise DomainError(f"reasoning is {len(self.reasoning)} characters, at most {MAX_REASONING_CHARS}")
        if self.action in (Action.LONG, Action.SHORT):
            if self.stop_loss is None or not (self.stop_loss > 0):
                raise DomainError(f"{self.action} needs a positive stop_loss, got {self.stop_loss!r}")
            if not (1 <= len(self.take_profit) <= 3):
                raise DomainError(f"{self.action} needs 1-3 take_profit targets, got {list(self.take_profit)}")
            if any(not (t > 0) for t in self.take_profit):
                raise DomainError(f"take_profit targets must be positive, got {list(self.take_profit)}")

    @property
    def is_entry(self) -> bool:
        return self.action in (Action.LONG, Action.SHORT)

    @property
    def side(self) -> Side:
        if not self.is_entry:
            raise DomainError(f"a {self.action} decision has no side")
        return "long" if self.action is Action.LONG else "short"

    def check_prices(self, price: float) -> None:
        """Price logic: stop on the losing side of `price`, targets ordered away from it on the winning side."""
        if not self.is_entry:
            return
        sign = side_sign(self.side)
        assert self.stop_loss is not None
        if sign * (price - self.stop_loss) <= 0:
            raise DomainError(
                f"{self.action} stop_loss {self.stop_loss} must be {'below' if sign > 0 else 'above'} price {price}"
            )
        previous = price
        for target in self.take_profit:
            if sign * (target - previous) <= 0:
                raise DomainError(
                    f"{self.action} take_profit {list(self.take_profit)} must move "
                    f"{'up' if sign > 0 else 'down'} from price {price}"
                )
            previous = target

    @classmethod
    def hold(cls, reasoning: str = "", confidence: float = 0.0) -> Decision:
        return cls(action=Action.HOLD, confidence=confidence, reasoning=reasoning[:MAX_REASONING_CHARS])

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "action": str(self.action),
            "confidence": round(self.confidence, 4),
            "stop_loss": self.stop_loss,
            "take_profit": list(self.take_profit),
            "leverage": self.leverage,
            "invalidation": self.invalidation,
            "reasoning": self.reasoning,
            **({"note": self.note} if self.note else {}),
        }


DecisionStatus = Literal["ok", "rejected", "failed"]


@dataclass(frozen=True, slots=True)
class TokenUsage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """What an engine returns (DESIGN §4.4): only status "ok" with an entry decision can ever trade."""

    status: DecisionStatus
    engine: str
    model: str
    attempts: int
    decision: Decision | None
    error: str | None = None
    usage: TokenUsage = field(default_factory=TokenUsage)
    latency_ms: float = 0.0
    cached: bool = False
    mode: str | None = None  # the LLM's structured-output mode of the last call (json_schema, json_object, prompt)

    def __post_init__(self) -> None:
        if self.status == "ok" and self.decision is None:
            raise DomainError("an ok decision record needs a decision")
        if self.status != "ok" and self.decision is not None:
            raise DomainError(f"a {self.status} decision record must not carry a decision")

    @property
    def effective(self) -> Decision:
        """The decision the cycle acts on: anything but ok is a hold with the error as its reason."""
        if self.decision is not None:
            return self.decision
        return Decision.hold(f"{self.status}: {self.error or 'no usable output'}")

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "engine": self.engine,
            "model": self.model,
            "attempts": self.attempts,
            "decision": None if self.decision is None else self.decision.to_json_dict(),
            "error": self.error,
            "usage": {
                "prompt_tokens": self.usage.prompt_tokens,
                "completion_tokens": self.usage.completion_tokens,
            },
        }


# ---------------------------------------------------------------------------------------------
# Account, positions, intents, events
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    """One closed leg (a partial exit such as TP1 is its own row), as in the replay's trades.csv."""

    position_id: str
    symbol: str
    side: Side
    entry_time: datetime
    entry_price: float
    exit_time: datetime
    exit_price: float
    qty: float
    leverage: int
    stop_loss: float
    exit_reason: str
    gross_pnl: float
    fees: float
    funding: float
    net_pnl: float
    signal_id: str = ""
    confidence: float = 0.0


@dataclass(slots=True)
class Position:
    """An open isolated-margin perpetual position as the broker books it (mutable broker state)."""

    id: str
    symbol: str
    side: Side
    qty: float
    entry_price: float
    entry_time: datetime
    leverage: int
    stop_loss: float
    initial_stop: float
    take_profit: tuple[float, ...]
    liquidation_price: float
    margin: float
    signal_id: str = ""
    confidence: float = 0.0
    initial_qty: float = 0.0
    targets_hit: int = 0
    trailing_stop: float | None = None
    best_price: float = 0.0
    fees_paid: float = 0.0
    funding_paid: float = 0.0
    realized_pnl: float = 0.0
    # (#19) the callback rate (%) of a trailing stop resting on the exchange, once the live broker placed one
    trailing_on_exchange_pct: float | None = None

    def __post_init__(self) -> None:
        if self.qty <= 0:
            raise DomainError(f"position {self.id} qty must be positive, got {self.qty}")
        if self.side not in ("long", "short"):
            raise DomainError(f"position {self.id} side must be long or short, got {self.side!r}")
        # a stop past entry before TP1 is only valid when a rule moved it there (the exit ladder's profit lock)
        moved = self.trailing_stop is not None and self.stop_loss == self.trailing_stop
        if side_sign(self.side) * (self.entry_price - self.stop_loss) <= 0 and self.targets_hit == 0 and not moved:
            raise DomainError(
                f"position {self.id} {self.side} stop {self.stop_loss} is on the wrong side of entry {self.entry_price}"
            )
        if self.initial_qty == 0.0:
            self.initial_qty = self.qty
        if self.best_price == 0.0:
            self.best_price = self.entry_price

    @classmethod
    def opened(
        cls,
        intent: OrderIntent,
        *,
        id: str,
        qty: float,
        price: float,
        when: datetime,
        liquidation_price: float,
        fees_paid: float = 0.0,
    ) -> Position:
        """The position an approved intent opens, filled for `qty` at `price` (isolated margin)."""
        return cls(
            id=id,
            symbol=intent.symbol,
            side=intent.side,
            qty=qty,
            entry_price=price,
            entry_time=when,
            leverage=intent.leverage,
            stop_loss=intent.stop_loss,
            initial_stop=intent.stop_loss,
            take_profit=intent.take_profit,
            liquidation_price=liquidation_price,
            margin=qty * price / intent.leverage,
            signal_id=intent.signal_id,
            confidence=intent.confidence,
            fees_paid=fees_paid,
        )

    @property
    def sign(self) -> int:
        return side_sign(self.side)

    @property
    def notional(self) -> float:
        return self.qty * self.entry_price

    def unrealized_pnl(self, mark: float) -> float:
        return self.sign * (mark - self.entry_price) * self.qty

    def closed_leg(
        self, *, qty: float, price: float, when: datetime, reason: str, fees: float, funding: float
    ) -> ClosedTrade:
        """The trades.csv row for closing `qty` at `price`: net = gross − fees + funding (funding as cash
        received), the one definition both brokers book with."""
        gross = self.sign * (price - self.entry_price) * qty
        return ClosedTrade(
            position_id=self.id,
            symbol=self.symbol,
            side=self.side,
            entry_time=self.entry_time,
            entry_price=self.entry_price,
            exit_time=when,
            exit_price=price,
            qty=qty,
            leverage=self.leverage,
            stop_loss=self.initial_stop,
            exit_reason=reason,
            gross_pnl=gross,
            fees=fees,
            funding=funding,
            net_pnl=gross - fees + funding,
            signal_id=self.signal_id,
            confidence=self.confidence,
        )


@dataclass(frozen=True, slots=True)
class AccountView:
    """What an engine and the guard see of the account."""

    equity: float
    available: float
    positions: tuple[Position, ...] = ()
    recent_trades: tuple[ClosedTrade, ...] = ()
    day_start_equity: float = 0.0
    peak_equity: float = 0.0

    def position(self, symbol: str) -> Position | None:
        for p in self.positions:
            if p.symbol == symbol:
                return p
        return None


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """An approved, sized order. It cannot be built without a stop on the correct side."""

    symbol: str
    side: Side
    qty: float
    leverage: int
    stop_loss: float
    take_profit: tuple[float, ...]
    reference_price: float
    est_liquidation: float
    risk_amount: float
    confidence: float
    signal_id: str
    cycle_id: str
    created_at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "take_profit", tuple(float(t) for t in self.take_profit))
        if not (self.qty > 0 and math.isfinite(self.qty)):
            raise DomainError(f"intent {self.symbol} qty must be positive and finite, got {self.qty!r}")
        if not (self.leverage >= 1):
            raise DomainError(f"intent {self.symbol} leverage must be >= 1, got {self.leverage!r}")
        sign = side_sign(self.side)
        if not (self.stop_loss > 0) or sign * (self.reference_price - self.stop_loss) <= 0:
            raise DomainError(
                f"intent {self.symbol} {self.side} stop {self.stop_loss!r} is not on the losing side of "
                f"{self.reference_price}"
            )
        if not self.take_profit:
            raise DomainError(f"intent {self.symbol} needs at least one target")
        if sign * (self.est_liquidation - self.stop_loss) >= 0:
            raise DomainError(
                f"intent {self.symbol} stop {self.stop_loss} is beyond the liquidation price {self.est_liquidation}"
            )


@dataclass(frozen=True, slots=True)
class GuardVerdict:
    approved: bool
    intent: OrderIntent | None
    reason: str | None = None  # a reason code from core.risk.guard.Reason when rejected
    detail: str = ""
    checks: tuple[str, ...] = ()  # the rules that were evaluated and passed, for /why

    def __post_init__(self) -> None:
        if self.approved and self.intent is None:
            raise DomainError("an approved verdict needs an intent")
        if not self.approved and (self.intent is not None or not self.reason):
            raise DomainError("a rejected verdict needs a reason code and no intent")


TradeEventKind = Literal["entry", "exit", "stop_moved", "liquidation_warning"]
ExitReason = Literal["tp1", "tp2", "tp3", "stop", "breakeven", "trailing", "stale", "liquidation", "manual", "end", "signal",
                     "news"]


@dataclass(frozen=True, slots=True)
class TradeEvent:
    """Something the broker did that followers and admins hear about (entry fill, exit, stop move)."""

    kind: TradeEventKind
    position_id: str
    symbol: str
    side: Side
    time: datetime
    price: float
    qty: float
    signal_id: str = ""
    reason: str = ""
    net_pnl: float = 0.0
    trade: ClosedTrade | None = None
    position: Position | None = None


# ---------------------------------------------------------------------------------------------
# Runtime state and audit (DESIGN §4.5: changed only through the control service)
# ---------------------------------------------------------------------------------------------

HARD_MAX_LEVERAGE = 20


@dataclass(frozen=True, slots=True)
class RuntimeState:
    paused: bool
    dry_run: bool
    max_leverage: int
    symbols: tuple[str, ...]
    pause_reason: str = ""

    def __post_init__(self) -> None:
        if not (1 <= self.max_leverage <= HARD_MAX_LEVERAGE):
            raise DomainError(f"max_leverage must be within [1, {HARD_MAX_LEVERAGE}], got {self.max_leverage}")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    actor: str  # "tg:<user id>", "cli", "system"
    action: str
    old: str
    new: str
