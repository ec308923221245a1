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
    history = History([trade(3, 50.0), trade(20, -20.0, pid="q"), trade(2, 999.0, DAY + timedelta(days=1), "r")])
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


async def test_a_position_closed_in_two_legs_is_one_trade_in_the_summary() -> None:
    """Was "Trades: 2 (1 won, 1 lost)" for one position: a TP1 leg and a losing break-even leg."""
    history = History([trade(3, 50.0, pid="p"), trade(9, -2.0, pid="p")])
    summary = await build_summary(date(2024, 3, 1), history=history, broker=Broker())
    assert (summary.trades, summary.wins, summary.day_pnl) == (1, 1, 48.0)


async def test_weekly_summary_covers_the_week_that_ended() -> None:
    from jobs.daily_job import run_weekly_summary, summary_week

    monday = datetime(2024, 3, 4, 0, 5, tzinfo=UTC)
    assert summary_week(monday) == date(2024, 2, 26)
    outbox = MemoryOutbox()
    notifier = ChannelNotifier(outbox, channel_id="-100777", admin_ids=(11,), clock=SimulatedClock(monday))
    history = History([trade(3, 50.0), trade(20, -20.0, pid="q")])
    assert await run_weekly_summary(as_of=monday, history=history, broker=Broker(), notifier=notifier)
    (post,) = await outbox.posts("weekly")
    assert post.dedupe_key == "weekly:2024-02-26" and "2024-02-26 to 2024-03-03" in post.text
    assert "Positions closed: 2 (1 won, 1 lost) · win rate 50%" in post.text


async def test_track_record_is_posted_once_then_edited_only_when_it_changes() -> None:
    from jobs.daily_job import run_track_record

    outbox = MemoryOutbox()
    notifier = ChannelNotifier(outbox, channel_id="-100777", admin_ids=(11,), clock=SimulatedClock(RUN))
    empty = History([])
    assert not await run_track_record(as_of=RUN, history=empty, broker=Broker(), notifier=notifier,
                                      initial_equity=10_000.0)
    history = History([trade(3, 50.0, pid="p"), trade(9, -2.0, pid="p"), trade(20, -20.0, pid="q")])
    kw = dict(history=history, broker=Broker(), notifier=notifier, initial_equity=10_000.0)
    assert await run_track_record(as_of=RUN, **kw)
    assert not await run_track_record(as_of=RUN + timedelta(hours=1), **kw), "same figures: no edit"
    history.trades.append(trade(22, 10.0, pid="s"))
    assert await run_track_record(as_of=RUN + timedelta(hours=2), **kw)
    first, edit = await outbox.posts()
    assert first.kind == "record" and first.image is not None and edit.kind == "record_edit"
    assert edit.reply_to_key == first.dedupe_key
    assert "Positions closed: 2 (1 won, 1 lost) · win rate 50%" in first.text and "+28.00 USDT (+0.28%)" in first.text
    assert "Positions closed: 3 (2 won, 1 lost)" in edit.text and "since 2024-03-01" in edit.text
    assert "Max drawdown:" in edit.text


async def test_a_position_still_open_after_its_tp1_is_not_a_closed_position() -> None:
    """The first track record of the demo said "Positions closed: 1" after a TP1 leg of a still-open one."""

    class OpenBroker(Broker):
        async def account(self) -> AccountView:
            view = await super().account()
            pos = view.positions[0]
            pos.id = "p"
            return view

    history = History([trade(3, 50.0, pid="p")])
    summary = await build_summary(date(2024, 3, 1), history=history, broker=OpenBroker())
    assert (summary.trades, summary.day_pnl) == (0, 50.0)
