from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fixtures.exchange.env import Env, make_env
from tests.fixtures.exchange.venue_fakes import VENUES, new_fake


@pytest.fixture(params=VENUES)
async def venue_env(request: pytest.FixtureRequest) -> AsyncIterator[Env]:
    """The live broker over one venue's scripted account, through that venue's ccxt class."""
    env = await make_env(new_fake(request.param))
    yield env
    await env.exchange.close()
