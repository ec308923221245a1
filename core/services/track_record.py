"""The bot's track record over both books: paper legs and live (exchange) legs, as one `TradeHistory`.

`/stats`, the daily summary and the control service read one history. The paper broker books in its
book (`book_trades`, equity snapshots in `book_equity`); the live broker books closed legs in its ledger
(`exchange_trades`). This merges them:

- closed trades: both sources, ordered by exit time;
- equity curve: the paper equity snapshots, each lifted by the net P&L of the live legs closed up to
  that moment, plus one point per live leg at its exit time (the paper equity then + the live P&L so
  far). The exchange's wallet balance is not used: it carries deposits and withdrawals and lives on
  another scale than the paper's virtual equity, so interleaving the two would draw jumps that are no
  trade's P&L. The curve's moves are therefore exactly the P&L of the trades listed. Before the first
  paper snapshot the base is that first snapshot; with no paper snapshots at all the live points are the
  cumulative live P&L alone.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from datetime import datetime
from itertools import accumulate
from typing import Protocol

from core.models import ClosedTrade
from core.protocols import TradeHistory

Point = tuple[datetime, float]


class LiveTrades(Protocol):
    """The live broker's closed legs (`core.execution.exchange_ledger.ExchangeLedger` satisfies it)."""

    async def trades(self, since: datetime | None = None) -> list[ClosedTrade]: ...


class TrackRecord:
    """`TradeHistory` over the paper book and the live ledger."""

    def __init__(self, paper: TradeHistory, live: LiveTrades) -> None:
        self._paper = paper
        self._live = live

    async def closed_trades(self, since: datetime | None = None) -> list[ClosedTrade]:
        merged = [*await self._paper.closed_trades(since), *await self._live.trades(since)]
        return sorted(merged, key=lambda t: t.exit_time)  # stable: paper first on a tie

    async def equity_curve(self, since: datetime | None = None) -> list[Point]:
        live = await self._live.trades()  # all of them: legs before `since` still lift the curve
        paper = await self._paper.equity_curve(since)
        if not live:
            return paper
        in_window = [t.exit_time for t in live if since is None or t.exit_time >= since]
        if since is not None and in_window and (not paper or min(in_window) < paper[0][0]):
            paper = await self._paper.equity_curve(None)  # the paper equity before the window is the base
        return track_record_curve(paper, live, since)


def track_record_curve(paper: Sequence[Point], live: Sequence[ClosedTrade], since: datetime | None = None) -> list[Point]:
    """Paper equity + cumulative live net P&L, with a point at each live exit (see the module doc)."""
    legs = sorted(live, key=lambda t: t.exit_time)
    exits = [t.exit_time for t in legs]
    cumulative = list(accumulate(t.net_pnl for t in legs))
    paper_sorted = sorted(paper, key=lambda p: p[0])
    paper_times = [p[0] for p in paper_sorted]

    def live_pnl(moment: datetime) -> float:
        i = bisect_right(exits, moment)
        return cumulative[i - 1] if i else 0.0

    def paper_equity(moment: datetime) -> float:
        if not paper_sorted:
            return 0.0
        i = bisect_right(paper_times, moment)
        return paper_sorted[i - 1][1] if i else paper_sorted[0][1]

    points = [(t, equity + live_pnl(t)) for t, equity in paper_sorted]
    points += [(t, paper_equity(t) + live_pnl(t)) for t in exits]
    points.sort(key=lambda p: p[0])
    return [p for p in points if since is None or p[0] >= since]
