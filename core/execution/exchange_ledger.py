"""What the live broker remembers about its positions and the orders protecting them.

Stored before anything is announced, so a restart (or a crash between the fill and the stop) can be
reconciled against the exchange. `MemoryExchangeLedger` here; the SQLite one is
`storage.exchange_repo.SqliteExchangeLedger`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from core.models import ClosedTrade, DomainError, Position

OrderRole = Literal["stop", "tp1", "tp2", "tp3", "trail"]


@dataclass(slots=True)
class RestingOrder:
    """One of our protective orders on the exchange: `price` is the trigger price (for a trailing stop, the
    price trailing started from) and `callback_pct` a trailing stop's distance behind the best price."""

    role: OrderRole
    client_id: str
    order_id: str
    price: float
    qty: float
    callback_pct: float | None = None

    def __post_init__(self) -> None:
        if self.qty <= 0 or self.price <= 0:
            raise DomainError(f"{self.role} order {self.client_id} needs positive qty and price, got {self.qty}, {self.price}")


@dataclass(slots=True)
class LivePosition:
    """A position as the live broker booked it, with the ids linking it to the exchange."""

    key: str
    position: Position
    entry_client_id: str
    entry_order_id: str
    opened_ms: int
    stop: RestingOrder | None = None
    targets: list[RestingOrder] = field(default_factory=list)
    trail: RestingOrder | None = None  # a trailing stop resting on the exchange (after TP1, where the venue has one)
    stop_generation: int = 0
    trail_generation: int = 0
    trail_by_bot: bool = False  # the venue has no trailing stop order (or refused it): the bot moves the stop
    close_generation: int = 0
    booked_order_ids: list[str] = field(default_factory=list)  # exit orders already booked as trades
    funding_booked: float = 0.0  # funding (cash received) already carried by booked legs

    @property
    def symbol(self) -> str:
        return self.position.symbol

    def resting(self) -> list[RestingOrder]:
        return ([self.stop] if self.stop else []) + list(self.targets) + ([self.trail] if self.trail else [])

    def to_json(self) -> str:
        return json.dumps(_encode(dataclasses.asdict(self)))

    @classmethod
    def from_json(cls, raw: str) -> LivePosition:
        data = json.loads(raw)
        pos = data["position"]
        for key in ("entry_time",):
            pos[key] = datetime.fromisoformat(pos[key])
        pos["take_profit"] = tuple(pos["take_profit"])
        return cls(
            key=data["key"],
            position=Position(**pos),
            entry_client_id=data["entry_client_id"],
            entry_order_id=data["entry_order_id"],
            opened_ms=int(data["opened_ms"]),
            stop=RestingOrder(**data["stop"]) if data.get("stop") else None,
            targets=[RestingOrder(**t) for t in data.get("targets", [])],
            trail=RestingOrder(**data["trail"]) if data.get("trail") else None,
            stop_generation=int(data.get("stop_generation", 0)),
            trail_generation=int(data.get("trail_generation", 0)),
            trail_by_bot=bool(data.get("trail_by_bot", False)),
            close_generation=int(data.get("close_generation", 0)),
            booked_order_ids=list(data.get("booked_order_ids", [])),
            funding_booked=float(data.get("funding_booked", 0.0)),
        )


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


def trade_to_json(trade: ClosedTrade) -> str:
    return json.dumps(_encode(dataclasses.asdict(trade)))


def trade_from_json(raw: str) -> ClosedTrade:
    data = json.loads(raw)
    data["entry_time"] = datetime.fromisoformat(data["entry_time"])
    data["exit_time"] = datetime.fromisoformat(data["exit_time"])
    return ClosedTrade(**data)


class ExchangeLedger(Protocol):
    async def live_positions(self) -> list[LivePosition]: ...

    async def save(self, live: LivePosition) -> None: ...

    async def remove(self, symbol: str) -> None: ...

    async def add_trade(self, trade: ClosedTrade) -> None: ...

    async def trades(self, since: datetime | None = None) -> list[ClosedTrade]:
        """Closed legs in booking order; with `since`, those that exited at or after it."""
        ...


class MemoryExchangeLedger:
    """In-process ledger (tests, and a stand-in until storage is wired); same JSON round-trip as SQLite."""

    def __init__(self) -> None:
        self._positions: dict[str, str] = {}
        self._trades: list[str] = []

    async def live_positions(self) -> list[LivePosition]:
        return [LivePosition.from_json(raw) for raw in self._positions.values()]

    async def save(self, live: LivePosition) -> None:
        self._positions[live.symbol] = live.to_json()

    async def remove(self, symbol: str) -> None:
        self._positions.pop(symbol, None)

    async def add_trade(self, trade: ClosedTrade) -> None:
        self._trades.append(trade_to_json(trade))

    async def trades(self, since: datetime | None = None) -> list[ClosedTrade]:
        trades = [trade_from_json(raw) for raw in self._trades]
        return trades if since is None else [t for t in trades if t.exit_time >= since]
