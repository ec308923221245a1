"""SwitchingBroker: the broker the cycle sees, delegating to paper while dry-run is on (DESIGN §3).

Dry-run is read from the runtime state on every call, so /dryrun takes effect at once without rewiring.
The live broker is built lazily by `live_factory` the first time it is needed; with no factory, going
live is refused with a reason (ControlService asks `live_blocker()` before confirming).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from core.errors import OperationalError
from core.models import AccountView, OrderIntent, Position, RuntimeState, TradeEvent
from core.protocols import Broker, StateStore


class SwitchingBroker:
    def __init__(
        self,
        paper: Broker,
        live_factory: Callable[[], Broker] | None,
        state: StateStore,
        defaults: RuntimeState,
    ) -> None:
        self._paper = paper
        self._factory = live_factory
        self._state = state
        self._defaults = defaults
        self._live: Broker | None = None

    def live_blocker(self) -> str | None:
        return "no live broker is configured (exchange keys missing)" if self._factory is None else None

    async def current(self) -> Broker:
        state = await self._state.load_state(self._defaults)
        if state.dry_run:
            return self._paper
        if self._factory is None:
            raise OperationalError("dry-run is off but no live broker is configured; set /dryrun on")
        if self._live is None:
            self._live = self._factory()
        return self._live

    async def account(self) -> AccountView:
        return await (await self.current()).account()

    async def _books(self) -> list[Broker]:
        """The current broker first, then the other one while it still holds positions: after /dryrun on
        (or off) the positions opened under the other mode keep being managed, shown and closable until
        they are closed. The live broker is only built for that when the factory exists; its positions
        come from its own ledger, no network."""
        current = await self.current()
        if current is not self._paper:
            return [current, self._paper]  # paper sync is local and cheap: always keep it managed
        if self._factory is None:
            return [current]
        if self._live is None:
            self._live = self._factory()
        return [current, self._live] if await self._live.positions() else [current]

    async def positions(self) -> list[Position]:
        out: list[Position] = []
        for book in await self._books():
            out += await book.positions()
        return out

    async def execute(self, intent: OrderIntent) -> list[TradeEvent]:
        return await (await self.current()).execute(intent)

    async def sync(self, as_of: datetime) -> list[TradeEvent]:
        events: list[TradeEvent] = []
        for book in await self._books():
            events += await book.sync(as_of)
        return events

    async def close_position(self, symbol: str, reason: str = "manual") -> list[TradeEvent]:
        books = await self._books()
        for book in books:
            if any(p.symbol == symbol for p in await book.positions()):
                return await book.close_position(symbol, reason)
        return await books[0].close_position(symbol, reason)

    async def close_all(self, reason: str = "manual") -> list[TradeEvent]:
        events: list[TradeEvent] = []
        for book in await self._books():
            events += await book.close_all(reason)
        return events
