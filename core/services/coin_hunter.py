"""The coin hunter behind `/scan`: ranks the venue's perpetual markets and marks those already watched.

It proposes and never changes the symbol list; an admin adds a proposal with `/symbols add` (audited like any
other change). A source that fails (exchange down, rate limit) is a `TemporaryError` the reply names.
"""

from __future__ import annotations

from core.errors import TemporaryError, UserInputError
from core.market.scan import MarketStatsSource, ScanFilters, ScanResult, rank_markets
from core.models import RuntimeState
from core.protocols import StateStore

MAX_TOP = 30


class CoinHunter:
    def __init__(self, source: MarketStatsSource | None, filters: ScanFilters, state: StateStore,
                 defaults: RuntimeState) -> None:
        self._source = source
        self._filters = filters
        self._state = state
        self._defaults = defaults

    @property
    def filters(self) -> ScanFilters:
        return self._filters

    async def scan(self, top: int = 10) -> ScanResult:
        if not 1 <= top <= MAX_TOP:
            raise UserInputError(f"/scan takes how many markets to show, 1 to {MAX_TOP}, got {top}")
        if self._source is None:
            raise UserInputError("this bot's market data cannot list an exchange's markets")
        watched = (await self._state.load_state(self._defaults)).symbols
        try:
            stats = await self._source.market_stats()
        except TemporaryError as error:
            raise UserInputError(f"the scan could not reach the market data: {error}; try again later") from None
        return rank_markets(stats, self._filters, watched=set(watched), top=top)
