"""`/arena` and `aitrader compare` use one definition of the figures: the same engine as an arena contestant,
run hour by hour on live-style snapshots, and as a replay over the same window (what compare writes per entry)
end with the same equity, return, max drawdown, positions and win rate."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.commands.demo_cmd import DEFAULT_START
from bot.settings import load_settings
from bot.wiring import CycleFactory, parse_engine
from core.clock import SimulatedClock
from core.evaluation.arena_standings import standings
from core.evaluation.report import build_report
from core.execution.paper_broker import MarketDataBarFeed, PaperBroker
from core.market.offline import OfflineMarketData, sample_data_dir
from core.market.snapshot import LiveSnapshotSource
from core.models import RuntimeState
from core.risk.guard import RiskGuard
from core.services.arena import Arena

HOURS = 240


@pytest.mark.slow
async def test_an_arena_contestant_and_its_replay_agree_on_every_standing_figure() -> None:
    settings = load_settings(None, symbols=("BTC/USDT:USDT", "ETH/USDT:USDT"))
    factory, entry, symbols = CycleFactory(settings), parse_engine("rules"), tuple(settings.symbols)
    start, end = DEFAULT_START, DEFAULT_START + timedelta(hours=HOURS)
    clock = SimulatedClock(start)
    market = OfflineMarketData(sample_data_dir(), clock=clock)
    feed = MarketDataBarFeed(market, "1h")
    limits, costs = settings.risk_limits(), settings.cost_model()
    arena = Arena(
        [("rules", factory.decision_engine(entry, clock=clock))], snapshots=LiveSnapshotSource(market),
        guard=RiskGuard(limits, costs), defaults=RuntimeState(False, True, settings.max_leverage, symbols),
        broker_factory=lambda book: PaperBroker(feed=feed, store=book, clock=clock, initial_equity=10_000.0,
                                                costs=costs, limits=limits),
        clock=clock, initial_equity=10_000.0,
    )
    for hour in range(HOURS + 1):
        at = start + timedelta(hours=hour)
        clock.set(at)
        assert await arena.run(at) == {"rules": None}
    await arena.contestants[0].broker.close_all(reason="end")  # as a replay closes what is open at its end
    (row,) = await standings(arena)

    metrics = build_report(await factory.replay(OfflineMarketData(sample_data_dir()), entry, symbols, start, end,
                                                10_000.0))["metrics"]
    assert row.trades == metrics["positions"] > 0
    assert row.equity == pytest.approx(metrics["final_equity"], abs=1e-5)
    assert row.return_pct == pytest.approx(metrics["total_return_pct"], abs=1e-6)
    assert row.max_drawdown_pct == pytest.approx(metrics["max_drawdown_pct"], abs=1e-6)
    assert row.win_rate == pytest.approx(metrics["win_rate"])
