"""The track record the bot wires (bot/app.py): SQLite paper book + SQLite live ledger, read by the daily
summary exactly as in production."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from core.execution.paper_book import BookChange
from core.models import AccountView, ClosedTrade
from core.services.track_record import TrackRecord
from jobs.daily_job import build_summary
from storage.book_repo import SqliteBookStore
from storage.db import Database
from storage.exchange_repo import SqliteExchangeLedger

DAY = date(2024, 6, 10)
T0 = datetime(2024, 6, 10, tzinfo=UTC)


def leg(hours: float, net: float, funding: float, pid: str) -> ClosedTrade:
    return ClosedTrade(pid, "BTC/USDT:USDT", "long", T0, 60_000.0, T0 + timedelta(hours=hours), 60_500.0, 0.01, 5,
                       59_000.0, "tp1", gross_pnl=net + 0.6 - funding, fees=0.6, funding=funding, net_pnl=net)


class OneAccount:
    async def account(self) -> AccountView:
        return AccountView(equity=10_200.0, available=10_200.0)


async def test_track_record_sqlite_counts_live_legs_in_daily_summary_and_curve(tmp_path: Path) -> None:
    async with Database(tmp_path / "bot.sqlite") as db:
        book, ledger = SqliteBookStore(db), SqliteExchangeLedger(db)
        await book.commit(BookChange(trades=[leg(2, 40.0, 0.0, "paper-1")], equity=(T0 + timedelta(hours=1), 10_000.0)))
        await book.commit(BookChange(equity=(T0 + timedelta(hours=3), 10_040.0)))
        await ledger.add_trade(leg(4, 75.0, -0.35, "live-1"))
        await ledger.add_trade(leg(30, 9.0, 0.0, "live-next-day"))
        history = TrackRecord(book, ledger)

        trades = await history.closed_trades(since=T0)
        assert [t.position_id for t in trades] == ["paper-1", "live-1", "live-next-day"]
        assert trades[1].funding == pytest.approx(-0.35)
        assert [t.position_id for t in await ledger.trades(since=T0 + timedelta(hours=3))] == [
            "live-1", "live-next-day"
        ]
        summary = await build_summary(DAY, history=history, broker=OneAccount())  # type: ignore[arg-type]
        assert summary.trades == 2 and summary.wins == 2
        assert summary.day_pnl == pytest.approx(115.0)
        assert await history.equity_curve(since=T0) == [
            (T0 + timedelta(hours=1), 10_000.0),
            (T0 + timedelta(hours=3), 10_040.0),
            (T0 + timedelta(hours=4), 10_115.0),
            (T0 + timedelta(hours=30), 10_124.0),
        ]
