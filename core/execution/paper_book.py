"""The paper broker's book and where it is kept: positions, pending orders, fills, closed legs, equity.

A `BookChange` is everything one step of the broker changed; a BookStore applies it atomically (SQLite:
one transaction), so a crash leaves the book either before or after the step, never half-way.
`MemoryBookStore` is for replay and tests: plain dict/list operations, no I/O per bar.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from core.models import ClosedTrade, OrderIntent, Position


@dataclass(frozen=True, slots=True)
class PendingOrder:
    """An approved intent waiting for the open of the first bar at or after `created_ms`."""

    id: str  # "<cycle_id>:<symbol>" — the idempotency key of Broker.execute
    intent: OrderIntent
    created_ms: int


@dataclass(frozen=True, slots=True)
class Fill:
    order_id: str
    position_id: str
    symbol: str
    side: str
    kind: str  # "entry" or "exit"
    time: datetime
    price: float
    qty: float
    fee: float
    reason: str = ""


@dataclass(slots=True)
class BookedPosition:
    """An open position with the broker's progress on it: last bar processed and last mark seen."""

    position: Position
    cursor_ms: int
    mark: float


@dataclass(slots=True)
class BookChange:
    upsert_positions: list[BookedPosition] = field(default_factory=list)
    delete_positions: list[str] = field(default_factory=list)  # position ids
    add_orders: list[PendingOrder] = field(default_factory=list)
    finish_orders: list[tuple[str, str]] = field(default_factory=list)  # (order id, "filled" | "cancelled")
    fills: list[Fill] = field(default_factory=list)
    trades: list[ClosedTrade] = field(default_factory=list)
    meta: dict[str, float | str] = field(default_factory=dict)
    equity: tuple[datetime, float] | None = None

    def __bool__(self) -> bool:
        return bool(
            self.upsert_positions or self.delete_positions or self.add_orders or self.finish_orders
            or self.fills or self.trades or self.meta or self.equity
        )


@dataclass(slots=True)
class LoadedBook:
    positions: list[BookedPosition]
    orders: list[PendingOrder]
    order_ids: set[str]  # every order id ever accepted (pending, filled or cancelled)
    meta: dict[str, float | str]
    recent_trades: list[ClosedTrade]


class BookStore(Protocol):
    async def load(self, recent: int = 50) -> LoadedBook: ...

    async def commit(self, change: BookChange) -> None: ...

    async def closed_trades(self, since: datetime | None = None) -> list[ClosedTrade]: ...

    async def equity_curve(self, since: datetime | None = None) -> list[tuple[datetime, float]]: ...

    async def fills(self) -> list[Fill]: ...


class MemoryBookStore:
    def __init__(self) -> None:
        self._positions: dict[str, BookedPosition] = {}
        self._orders: dict[str, PendingOrder] = {}
        self._order_ids: set[str] = set()
        self._meta: dict[str, float | str] = {}
        self.trades: list[ClosedTrade] = []
        self.equity: list[tuple[datetime, float]] = []
        self._fills: list[Fill] = []

    async def load(self, recent: int = 50) -> LoadedBook:
        return LoadedBook(
            positions=list(self._positions.values()),
            orders=list(self._orders.values()),
            order_ids=set(self._order_ids),
            meta=dict(self._meta),
            recent_trades=self.trades[-recent:],
        )

    async def commit(self, change: BookChange) -> None:
        for booked in change.upsert_positions:
            self._positions[booked.position.id] = booked
        for position_id in change.delete_positions:
            self._positions.pop(position_id, None)
        for order in change.add_orders:
            self._orders[order.id] = order
            self._order_ids.add(order.id)
        for order_id, _status in change.finish_orders:
            self._orders.pop(order_id, None)
        self._fills.extend(change.fills)
        self.trades.extend(change.trades)
        self._meta.update(change.meta)
        if change.equity is not None:
            self.equity.append(change.equity)

    async def closed_trades(self, since: datetime | None = None) -> list[ClosedTrade]:
        return [t for t in self.trades if since is None or t.exit_time >= since]

    async def equity_curve(self, since: datetime | None = None) -> list[tuple[datetime, float]]:
        return [p for p in self.equity if since is None or p[0] >= since]

    async def fills(self) -> list[Fill]:
        return list(self._fills)
