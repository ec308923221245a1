from datetime import UTC, date, datetime, timedelta

from bot.telegram.notifier import ChannelNotifier
from core.clock import SimulatedClock
from core.models import AccountView, ClosedTrade, Position
from core.services.outbox import MemoryOutbox
from jobs.daily_job import build_summary, run_daily_summary, summary_day

RUN = datetime(2024, 3, 2, 0, 5, tzinfo=UTC)
DAY = datetime(2024, 3, 1, tzinfo=UTC)


def trade(hour: int, net: float, day: datetime = DAY, pid: str | None = None, entry_hour: int | None = None,
          reason: str = "tp1") -> ClosedTrade:
    """One leg; each its own position unless `pid` joins it to another (legs of one position)."""
    t = day + timedelta(hours=hour)
    entry = day + timedelta(hours=hour if entry_hour is None else entry_hour)
    pid = pid or f"p-{t:%d}-{hour}"
    return ClosedTrade(pid, "BTC/USDT:USDT", "long", entry, 100.0, t, 101.0, 1.0, 2, 99.0, reason, net, 0.0, 0.0, net)


class History:
    def __init__(self, trades: list[ClosedTrade]) -> None:
        self.trades = trades

    async def closed_trades(self, since: datetime | None = None) -> list[ClosedTrade]:
        return [t for t in self.trades if since is None or t.exit_time >= since]

    async def equity_curve(self, since: datetime | None = None) -> list[tuple[datetime, float]]:
        points = [(DAY - timedelta(days=2) + timedelta(hours=h), 10_000.0 + h) for h in range(96)]
        return [(t, v) for t, v in points if since is None or t >= since]


class Broker:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    async def account(self) -> AccountView:
        if self.fail:
            raise ConnectionError("exchange down")
        pos = Position("p2", "ETH/USDT:USDT", "short", 1.0, 3000.0, DAY, 3, 3100.0, 3100.0, (2900.0,), 3900.0, 1000.0)
        return AccountView(10_150.0, 9_000.0, (pos,))


async def test_summary_counts_only_the_day_that_ended() -> None:
    assert summary_day(RUN) == date(2024, 3, 1)
    history = History([trade(3, 50.0), trade(20, -20.0), trade(2, 999.0, DAY + timedelta(days=1))])
    summary = await build_summary(date(2024, 3, 1), history=history, broker=Broker())
    assert (summary.trades, summary.wins, summary.day_pnl, summary.equity) == (2, 1, 30.0, 10_150.0)
    assert summary.day_start_equity == 10_048.0 and len(summary.open_positions) == 1


async def test_daily_job_enqueues_once_and_reports_failures() -> None:
    outbox = MemoryOutbox()
    notifier = ChannelNotifier(outbox, channel_id="-100777", admin_ids=(11,), clock=SimulatedClock(RUN))
    history = History([trade(3, 50.0)])
    assert await run_daily_summary(as_of=RUN, history=history, broker=Broker(), notifier=notifier)
    assert not await run_daily_summary(as_of=RUN, history=history, broker=Broker(), notifier=notifier)
    (post,) = await outbox.posts()
    assert post.dedupe_key == "daily:2024-03-01" and post.image is not None and "win rate 100%" in post.text
    assert not await run_daily_summary(
        as_of=RUN + timedelta(days=1), history=history, broker=Broker(True), notifier=notifier
    )
    alert = (await outbox.posts("alert"))[0]
    assert "Daily summary failed: ConnectionError: exchange down" in alert.text
