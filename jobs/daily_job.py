"""The daily summary (scheduled 00:05 UTC), the weekly one (Mondays) and the pinned track record.

Daily: the UTC day that just ended — equity, day P&L, positions closed and their win rate, open positions,
and a 30-day equity chart. Weekly: the same for the Monday-to-Sunday week that just ended. The track
record: every closed position since the first, P&L, max drawdown, an equity chart; refreshed after each
position closes and with each daily post. Trades are positions (legs summed, core.trade_stats).
Failures are reported to the admins, never raised."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol

import numpy as np

from core.evaluation.metrics import max_drawdown_pct
from core.protocols import Broker, TradeHistory
from core.services.summaries import DailySummary, TrackRecordCard
from core.trade_stats import legs_of_positions_closed, trade_stats
from jobs.failures import describe, report_failure

EQUITY_DAYS = 30


class DailyNotifier(Protocol):
    async def daily_summary(self, summary: DailySummary, equity: list[tuple[datetime, float]] = ...) -> bool: ...

    async def alert(self, text: str) -> None: ...


class RecordNotifier(Protocol):
    async def track_record(self, card: TrackRecordCard, equity: list[tuple[datetime, float]] = ...) -> bool: ...

    async def alert(self, text: str) -> None: ...


def summary_day(as_of: datetime) -> date:
    """The UTC day a run at `as_of` reports on: the one that ended most recently."""
    return (as_of.astimezone(UTC) - timedelta(days=1)).date()


def summary_week(as_of: datetime) -> date:
    """The Monday of the Monday-to-Sunday week that ended most recently before `as_of`."""
    today = as_of.astimezone(UTC).date()
    return today - timedelta(days=today.weekday() + 7)


async def build_summary(day: date, *, history: TradeHistory, broker: Broker, days: int = 1) -> DailySummary:
    start = datetime.combine(day, time(0), tzinfo=UTC)
    end = start + timedelta(days=days)
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
        days=days,
    )


async def _run_summary(as_of: datetime, day: date, days: int, history: TradeHistory, broker: Broker,
                       notifier: DailyNotifier) -> bool:
    summary = await build_summary(day, history=history, broker=broker, days=days)
    since = datetime.combine(day, time(0), tzinfo=UTC) - timedelta(days=max(EQUITY_DAYS - days, 0))
    until = datetime.combine(day, time(0), tzinfo=UTC) + timedelta(days=days)
    equity = [(t, v) for t, v in await history.equity_curve(since=since) if t < until]
    return await notifier.daily_summary(summary, equity)


async def run_daily_summary(*, as_of: datetime, history: TradeHistory, broker: Broker, notifier: DailyNotifier) -> bool:
    """Build and enqueue the summary of `summary_day(as_of)`; True when a post was enqueued."""
    try:
        return await _run_summary(as_of, summary_day(as_of), 1, history, broker, notifier)
    except Exception as error:
        await report_failure(notifier.alert, "daily summary failed", f"Daily summary failed: {describe(error)}")
        return False


async def run_weekly_summary(*, as_of: datetime, history: TradeHistory, broker: Broker,
                             notifier: DailyNotifier) -> bool:
    """The week that ended most recently (Monday to Sunday); True when a post was enqueued."""
    try:
        return await _run_summary(as_of, summary_week(as_of), 7, history, broker, notifier)
    except Exception as error:
        await report_failure(notifier.alert, "weekly summary failed", f"Weekly summary failed: {describe(error)}")
        return False


async def run_track_record(*, as_of: datetime, history: TradeHistory, broker: Broker, notifier: RecordNotifier,
                           initial_equity: float) -> bool:
    """Queue the current track record (posted and pinned the first time, edited in place after), once there
    is a closed position to show; True when a new version was queued."""
    try:
        legs = await history.closed_trades()
        account = await broker.account()
        if not legs:
            return False
        curve = [(t, v) for t, v in await history.equity_curve() if t <= as_of]
        finished = trade_stats(legs_of_positions_closed(legs, open_ids={p.id for p in account.positions}))
        net = sum(t.net_pnl for t in legs)  # every leg: the TP1 of a position still open is realised too
        card = TrackRecordCard(
            since=min(t.entry_time for t in legs), as_of=as_of, positions=finished.positions,
            wins=finished.wins, net_pnl=net, pnl_pct=net / initial_equity * 100 if initial_equity > 0 else None,
            max_drawdown_pct=max_drawdown_pct(initial_equity, np.asarray([v for _, v in curve])) if curve else None,
            equity=account.equity, open_positions=len(account.positions),
        )
        return await notifier.track_record(card, curve)
    except Exception as error:
        await report_failure(notifier.alert, "track record failed", f"Track record update failed: {describe(error)}")
        return False
