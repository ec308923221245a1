"""The leaderboard service: ranking, and the live paper book recorded under the channel's version."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.evaluation.leaderboard import LeaderboardService, LiveBook, MemoryLeaderboard, result_from_metrics
from core.models import ClosedTrade


class History:
    def __init__(self, points: list[tuple[datetime, float]], trades: list[ClosedTrade]) -> None:
        self.points, self.trades = points, trades

    async def equity_curve(self, since: datetime | None = None) -> list[tuple[datetime, float]]:
        return self.points

    async def closed_trades(self, since: datetime | None = None) -> list[ClosedTrade]:
        return self.trades


def trade(net: float, day: int) -> ClosedTrade:
    at = datetime(2024, 1, day, tzinfo=UTC)
    return ClosedTrade(position_id=f"p{day}", symbol="BTC/USDT:USDT", side="long", entry_time=at, entry_price=100.0,
                       exit_time=at + timedelta(hours=5), exit_price=101.0, qty=1.0, leverage=2, stop_loss=98.0,
                       exit_reason="tp2", gross_pnl=net, fees=0.0, funding=0.0, net_pnl=net)


async def test_the_live_book_is_recorded_once_per_version_with_a_growing_window() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    points = [(start + timedelta(hours=h), 1000.0 + h) for h in range(0, 24 * 5, 1)]
    history = History(points, [trade(30.0, 2), trade(-10.0, 3)])
    store = MemoryLeaderboard()
    service = LeaderboardService(store, live=LiveBook("abcdef0123", "rules", None, ("BTC/USDT:USDT",), 1000.0, history))
    board = await service.board()
    (row,) = board.rows
    assert board.live_version == "abcdef0123" and row.source == "paper" and row.oos
    assert row.trades == 2 and row.profit_factor == pytest.approx(3.0)
    assert row.total_return_pct == pytest.approx((points[-1][1] / 1000.0 - 1) * 100)
    history.points = [*points, (points[-1][0] + timedelta(days=1), 1200.0)]
    (row,) = (await service.board()).rows  # replaced, not added
    assert row.window[1] > board.rows[0].window[1] and row.total_return_pct == pytest.approx(20.0)


async def test_without_two_days_of_marks_nothing_is_recorded() -> None:
    history = History([(datetime(2024, 1, 1, tzinfo=UTC), 1000.0)], [])
    service = LeaderboardService(MemoryLeaderboard(), live=LiveBook("v", "rules", None, ("BTC/USDT:USDT",), 1000.0, history))
    assert (await service.board()).rows == ()


async def test_ranked_by_sharpe_then_return_none_last() -> None:
    store = MemoryLeaderboard()
    for version, sharpe, ret in (("a", None, 90.0), ("b", 0.5, 1.0), ("c", 1.5, -2.0), ("d", 0.5, 3.0)):
        await store.record(result_from_metrics(version=version, engine="rules", model=None, source="replay",
                                               symbols=["X/USDT:USDT"], start="s", end="e", oos=False,
                                               metrics={"sharpe": sharpe, "total_return_pct": ret, "positions": 1}))
    assert [r.version for r in await LeaderboardService(store).ranked()] == ["c", "d", "b", "a"]
