"""The daily summary (scheduled 00:05 UTC): the UTC day that just ended — equity, day P&L, trades, win
rate, open positions, and a 30-day equity chart. Failures are reported to the admins, never raised."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol

from core.protocols import Broker, TradeHistory
from core.services.summaries import DailySummary
from core.trade_stats import legs_of_positions_closed, trade_stats
from jobs.failures import describe, report_failure

EQUITY_DAYS = 30


class DailyNotifier(Protocol):
    async def daily_summary(self, summary: DailySummary, equity: list[tuple[datetime, float]] = ...) -> bool: ...

    async def alert(self, text: str) -> None: ...


def summary_day(as_of: datetime) -> date:
    """The UTC day a run at `as_of` reports on: the one that ended most recently."""
    return (as_of.astimezone(UTC) - timedelta(days=1)).date()


async def build_summary(day: date, *, history: TradeHistory, broker: Broker) -> DailySummary:
    start = datetime.combine(day, time(0), tzinfo=UTC)
    end = start + timedelta(days=1)
    legs = await history.closed_trades()  # all: a position that finished today counts with its earlier legs
    day_legs = [t for t in legs if start <= t.exit_time < end]
    account = await broker.account()
    open_ids = {p.id for p in account.positions}
    finished = trade_stats(legs_of_positions_closed(legs, since=start, until=end, open_ids=open_ids))
    day_pnl = sum(t.net_pnl for t in day_legs)
    curve = await history.equity_curve(since=start)
    day_start_equity = curve[0][1] if curve else account.equity - day_pnl
    return DailySummary(
        day=day,
        equity=account.equity,
        day_pnl=day_pnl,
        trades=finished.positions,
        wins=finished.wins,
        open_positions=tuple(account.positions),
        day_start_equity=day_start_equity,
        legs=len(day_legs),
    )


async def run_daily_summary(*, as_of: datetime, history: TradeHistory, broker: Broker, notifier: DailyNotifier) -> bool:
    """Build and enqueue the summary of `summary_day(as_of)`; True when a post was enqueued."""
    try:
        day = summary_day(as_of)
        summary = await build_summary(day, history=history, broker=broker)
        since = datetime.combine(day, time(0), tzinfo=UTC) - timedelta(days=EQUITY_DAYS - 1)
        until = datetime.combine(day, time(0), tzinfo=UTC) + timedelta(days=1)
        equity = [(t, v) for t, v in await history.equity_curve(since=since) if t < until]
        return await notifier.daily_summary(summary, equity)
    except Exception as error:
        await report_failure(notifier.alert, "daily summary failed", f"Daily summary failed: {describe(error)}")
        return False
