from dataclasses import replace

import pytest

from core.errors import OperationalError
from core.execution.broker_switch import SwitchingBroker
from core.models import AccountView, RuntimeState
from core.services.memory_state import MemoryStateStore

DEFAULTS = RuntimeState(False, True, 5, ("BTC/USDT:USDT",))


class Named:
    def __init__(self, name):
        self.name = name
        self.synced = 0

    async def account(self):
        return AccountView(equity=1.0 if self.name == "paper" else 2.0, available=0.0)

    async def sync(self, as_of):
        self.synced += 1
        return []


async def test_delegates_by_dry_run_at_call_time():
    state = MemoryStateStore()
    paper, live = Named("paper"), Named("live")
    broker = SwitchingBroker(paper, lambda: live, state, DEFAULTS)
    assert (await broker.account()).equity == 1.0
    await state.save_state(replace(DEFAULTS, dry_run=False))
    assert (await broker.account()).equity == 2.0
    await broker.sync(None)
    assert live.synced == 1 and paper.synced == 1  # paper positions keep being managed after going live
    assert broker.live_blocker() is None


async def test_without_a_live_factory_going_live_is_refused():
    state = MemoryStateStore()
    broker = SwitchingBroker(Named("paper"), None, state, DEFAULTS)
    assert "no live broker" in broker.live_blocker()
    await state.save_state(replace(DEFAULTS, dry_run=False))
    with pytest.raises(OperationalError):
        await broker.account()


class Book(Named):
    """A broker stand-in with a book of open symbols."""

    def __init__(self, name, symbols=()):
        super().__init__(name)
        self.open = list(symbols)

    async def positions(self):
        from datetime import UTC, datetime

        from core.models import Position

        return [Position(f"{self.name}-{s}", s, "long", 1.0, 100.0, datetime(2024, 1, 1, tzinfo=UTC), 2, 95.0, 95.0,
                         (110.0,), 50.0, 50.0) for s in self.open]

    async def close_position(self, symbol, reason="manual"):
        self.open.remove(symbol)
        return [f"{self.name} closed {symbol}"]

    async def close_all(self, reason="manual"):
        closed, self.open = self.open, []
        return [f"{self.name} closed {s}" for s in closed]


async def test_back_on_paper_the_live_positions_stay_managed_shown_and_closable():
    state = MemoryStateStore()
    paper, live = Book("paper", ["ETH/USDT:USDT"]), Book("live", ["BTC/USDT:USDT"])
    broker = SwitchingBroker(paper, lambda: live, state, DEFAULTS)  # dry-run on, e.g. after /dryrun on
    await broker.sync(None)
    assert (paper.synced, live.synced) == (1, 1)  # the live book is still reconciled
    assert {p.symbol for p in await broker.positions()} == {"ETH/USDT:USDT", "BTC/USDT:USDT"}
    assert await broker.close_position("BTC/USDT:USDT") == ["live closed BTC/USDT:USDT"]
    await broker.sync(None)
    assert live.synced == 1  # nothing left there: the live book is not asked any more
    assert await broker.close_all() == ["paper closed ETH/USDT:USDT"]


async def test_on_paper_with_an_empty_live_book_only_paper_is_synced():
    state = MemoryStateStore()
    paper, live = Book("paper"), Book("live")
    broker = SwitchingBroker(paper, lambda: live, state, DEFAULTS)
    await broker.sync(None)
    assert (paper.synced, live.synced) == (1, 0)
