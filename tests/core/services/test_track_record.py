"""TrackRecord: paper and live legs as one history, and the equity curve that goes with them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.execution.exchange_ledger import MemoryExchangeLedger
from core.models import ClosedTrade
from core.services.track_record import TrackRecord, track_record_curve

T0 = datetime(2024, 6, 10, tzinfo=UTC)


def leg(hours: float, net: float, symbol: str = "BTC/USDT:USDT", pid: str = "p") -> ClosedTrade:
    exit_time = T0 + timedelta(hours=hours)
    return ClosedTrade(pid, symbol, "long", T0, 100.0, exit_time, 101.0, 1.0, 5, 99.0, "tp1",
                       gross_pnl=net + 0.1, fees=0.1, funding=0.0, net_pnl=net)


class PaperHistory:
    def __init__(self, trades: list[ClosedTrade], curve: list[tuple[datetime, float]]) -> None:
        self.trades, self.curve, self.curve_calls = trades, curve, []

    async def closed_trades(self, since: datetime | None = None) -> list[ClosedTrade]:
        return [t for t in self.trades if since is None or t.exit_time >= since]

    async def equity_curve(self, since: datetime | None = None) -> list[tuple[datetime, float]]:
        self.curve_calls.append(since)
        return [p for p in self.curve if since is None or p[0] >= since]


async def _live(*legs: ClosedTrade) -> MemoryExchangeLedger:
    ledger = MemoryExchangeLedger()
    for t in legs:
        await ledger.add_trade(t)
    return ledger


async def test_track_record_merges_paper_and_live_legs_by_exit_time() -> None:
    paper = PaperHistory([leg(1, 5.0, pid="paper-a"), leg(5, -2.0, pid="paper-b")], [])
    history = TrackRecord(paper, await _live(leg(3, 7.0, pid="live-a"), leg(6, 1.5, pid="live-b")))

    trades = await history.closed_trades()
    assert [t.position_id for t in trades] == ["paper-a", "live-a", "paper-b", "live-b"]
    assert sum(t.net_pnl for t in trades) == pytest.approx(11.5)
    since = await history.closed_trades(since=T0 + timedelta(hours=4))
    assert [t.position_id for t in since] == ["paper-b", "live-b"]


async def test_track_record_without_live_legs_is_the_paper_history_unchanged() -> None:
    curve = [(T0, 10_000.0), (T0 + timedelta(hours=1), 10_005.0)]
    history = TrackRecord(PaperHistory([leg(1, 5.0)], curve), MemoryExchangeLedger())
    assert await history.equity_curve() == curve
    assert [t.net_pnl for t in await history.closed_trades()] == [5.0]


def test_track_record_curve_lifts_paper_equity_by_cumulative_live_pnl() -> None:
    paper = [(T0 + timedelta(hours=h), 10_000.0 + h) for h in (0, 2, 4)]
    live = [leg(1, 50.0), leg(3, -20.0)]
    assert track_record_curve(paper, live) == [
        (T0, 10_000.0),
        (T0 + timedelta(hours=1), 10_050.0),  # live leg: paper equity then (10 000) + 50
        (T0 + timedelta(hours=2), 10_052.0),  # paper 10 002 + 50
        (T0 + timedelta(hours=3), 10_032.0),  # paper 10 002 + 50 − 20
        (T0 + timedelta(hours=4), 10_034.0),
    ]


def test_track_record_curve_with_no_paper_snapshots_is_cumulative_live_pnl() -> None:
    assert track_record_curve([], [leg(2, -3.0), leg(1, 10.0)]) == [
        (T0 + timedelta(hours=1), 10.0), (T0 + timedelta(hours=2), 7.0),
    ]


async def test_track_record_curve_since_keeps_earlier_live_pnl_and_finds_the_paper_base() -> None:
    curve = [(T0, 10_000.0), (T0 + timedelta(hours=10), 10_010.0)]
    paper = PaperHistory([], curve)
    history = TrackRecord(paper, await _live(leg(1, 100.0), leg(5, 25.0)))

    points = await history.equity_curve(since=T0 + timedelta(hours=4))
    # the leg at 1 h is outside the window but still counts; the base at 5 h is the snapshot at 0 h
    assert points == [(T0 + timedelta(hours=5), 10_125.0), (T0 + timedelta(hours=10), 10_135.0)]
    assert paper.curve_calls == [T0 + timedelta(hours=4), None]
