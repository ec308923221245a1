from dataclasses import replace

import pytest

from core.broker_switch import SwitchingBroker
from core.errors import OperationalError
from core.memory_state import MemoryStateStore
from core.models import AccountView, RuntimeState

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
