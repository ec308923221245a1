"""One definition of the trade figures, pinned where they are shown: the replay report, /stats and the
daily post. A TP1 exit then a break-even stop is one position and one win; its two legs are two legs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from bot.telegram.post_format import daily_summary_text
from bot.telegram.reply_format import stats_text
from core.evaluation.metrics import compute_metrics
from core.models import AccountView, ClosedTrade, Position, RuntimeState
from core.services.control import ControlService
from core.trade_stats import legs_of_positions_closed, trade_stats
from jobs.daily_job import build_summary

DAY = datetime(2024, 3, 1, tzinfo=UTC)


def leg(pid: str, entry_h: float, exit_h: float, net: float, reason: str, qty: float = 0.5) -> ClosedTrade:
    entry, exit_ = DAY + timedelta(hours=entry_h), DAY + timedelta(hours=exit_h)
    return ClosedTrade(pid, "ETH/USDT:USDT", "long", entry, 3000.0, exit_, 3100.0, qty, 3, 2950.0, reason,
                       net + 0.4, 0.4, 0.0, net, confidence=0.7)


# position A: TP1 +50 then a break-even stop that costs the fees (-0.4): one win
# position B: TP1 +30 then a stop -80: one loss (-50 over both legs)
# position C: a plain stop -20: one loss
LEGS = [
    leg("A", 1, 3, 50.0, "tp1"), leg("A", 1, 6, -0.4, "stop"),
    leg("B", 2, 4, 30.0, "tp1"), leg("B", 2, 9, -80.0, "stop"),
    leg("C", 5, 7, -20.0, "stop", qty=1.0),
]
WIN_RATE = 1 / 3
PROFIT_FACTOR = 49.6 / 70.0
EXPECTANCY = (49.6 - 50.0 - 20.0) / 3


def test_a_tp1_then_break_even_stop_is_one_winning_position() -> None:
    figures = trade_stats(LEGS[:2])
    assert (figures.positions, figures.legs, figures.wins, figures.losses) == (1, 2, 1, 0)
    assert figures.win_rate == 1.0 and figures.profit_factor is None  # no losing position
    assert figures.expectancy == pytest.approx(49.6)


def test_figures_per_position() -> None:
    figures = trade_stats(LEGS)
    assert (figures.positions, figures.legs, figures.wins, figures.losses) == (3, 5, 1, 2)
    assert figures.win_rate == pytest.approx(WIN_RATE)
    assert figures.profit_factor == pytest.approx(PROFIT_FACTOR)
    assert figures.expectancy == pytest.approx(EXPECTANCY)
    assert (figures.best, figures.worst) == (pytest.approx(49.6), pytest.approx(-50.0))
    assert trade_stats([]).win_rate is None and trade_stats([]).best is None


def test_positions_closed_in_a_window_bring_their_earlier_legs_and_skip_open_ones() -> None:
    since = DAY + timedelta(hours=5)
    picked = legs_of_positions_closed(LEGS, since=since, open_ids={"C"})
    assert {t.position_id for t in picked} == {"A", "B"}  # A's and B's TP1 legs closed before `since`
    assert len(picked) == 4
    assert legs_of_positions_closed(LEGS, until=DAY + timedelta(hours=7)) == LEGS[:2]  # C ends at 7: not before


def test_the_replay_report_counts_positions() -> None:
    final = 10_000.0 + sum(t.net_pnl for t in LEGS)
    metrics = compute_metrics(initial_equity=10_000.0, equity=np.array([10_000.0, final]), trades=LEGS,
                              bar_seconds=3600)
    assert metrics["positions"] == metrics["trades"] == 3 and metrics["legs"] == 5  # a trade is a position
    assert metrics["win_rate"] == pytest.approx(WIN_RATE)
    assert metrics["profit_factor"] == pytest.approx(PROFIT_FACTOR)
    assert metrics["expectancy"] == pytest.approx(EXPECTANCY)


class History:
    def __init__(self, legs: list[ClosedTrade]) -> None:
        self.legs = legs

    async def closed_trades(self, since: datetime | None = None) -> list[ClosedTrade]:
        return [t for t in self.legs if since is None or t.exit_time >= since]

    async def equity_curve(self, since: datetime | None = None) -> list[tuple[datetime, float]]:
        return [(DAY, 10_000.0)]


class Broker:
    def __init__(self, open_ids: tuple[str, ...] = ()) -> None:
        self.open = [Position(pid, "BTC/USDT:USDT", "long", 0.1, 60_000.0, DAY, 3, 59_000.0, 59_000.0,
                              (62_000.0,), 41_000.0, 2_000.0) for pid in open_ids]

    async def positions(self) -> list[Position]:
        return self.open

    async def account(self) -> AccountView:
        return AccountView(10_000.0, 9_000.0, tuple(self.open))


class Clock:
    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now


def control_over(legs: list[ClosedTrade], now: datetime, open_ids: tuple[str, ...] = ()) -> ControlService:
    return ControlService(state_store=None, defaults=RuntimeState(False, True, 5, ("ETH/USDT:USDT",)),  # type: ignore[arg-type]
                          limits=None, broker=Broker(open_ids), market_data=None, cycle=None,  # type: ignore[arg-type]
                          clock=Clock(now), decision_log=None, history=History(legs), guard=None)  # type: ignore[arg-type]


async def test_stats_counts_positions_and_shows_legs() -> None:
    report = await control_over(LEGS, DAY + timedelta(hours=10)).stats("all")
    assert (report.trades, report.legs, report.wins, report.losses) == (3, 5, 1, 2)
    assert report.win_rate == pytest.approx(WIN_RATE)
    assert report.profit_factor == pytest.approx(PROFIT_FACTOR)
    assert report.expectancy == pytest.approx(EXPECTANCY)
    assert report.net_pnl == pytest.approx(sum(t.net_pnl for t in LEGS))
    text = stats_text(report)
    assert "Trades: 3 (1 won, 2 lost; 5 legs)" in text and "Win rate: 33.3%" in text


async def test_stats_of_a_period_judges_a_position_on_all_its_legs() -> None:
    # 7 days later only A's break-even stop falls inside "7d" when TP1 is older: still one win, not a loss
    legs = [leg("A", 1, 3, 50.0, "tp1"), leg("A", 1, 24 * 8, -0.4, "stop")]
    report = await control_over(legs, DAY + timedelta(days=14)).stats("7d")
    assert (report.trades, report.wins, report.losses, report.legs) == (1, 1, 0, 2)
    assert report.win_rate == 1.0 and report.net_pnl == pytest.approx(49.6)


async def test_stats_leave_out_a_position_still_open_after_tp1() -> None:
    report = await control_over(LEGS[:1], DAY + timedelta(hours=10), open_ids=("A",)).stats("all")
    assert (report.trades, report.legs, report.win_rate) == (0, 0, 0.0)


async def test_daily_post_counts_positions_finished_that_day() -> None:
    # TP1 of A the day before, its break-even stop today; B's TP1 today while B stays open
    legs = [leg("A", -5, -3, 50.0, "tp1"), leg("A", -5, 2, -0.4, "stop"), leg("B", 1, 4, 30.0, "tp1")]
    summary = await build_summary(date(2024, 3, 1), history=History(legs), broker=Broker(("B",)))  # type: ignore[arg-type]
    assert (summary.trades, summary.wins, summary.legs) == (1, 1, 2)
    assert summary.win_rate == 1.0
    assert summary.day_pnl == pytest.approx(29.6)  # what today's legs realised
    assert "Positions closed: 1 (1 won, 0 lost) · win rate 100% · legs closed: 2" in daily_summary_text(summary)


async def test_the_three_places_agree() -> None:
    now = DAY + timedelta(hours=23)
    report = await control_over(LEGS, now).stats("all")
    daily = await build_summary(date(2024, 3, 1), history=History(LEGS), broker=Broker())  # type: ignore[arg-type]
    metrics = compute_metrics(initial_equity=10_000.0, equity=np.array([10_000.0]), trades=LEGS, bar_seconds=3600)
    assert report.win_rate == pytest.approx(daily.win_rate) == pytest.approx(metrics["win_rate"])
    assert report.trades == daily.trades == metrics["positions"]
    assert report.profit_factor == pytest.approx(metrics["profit_factor"])
    assert report.expectancy == pytest.approx(metrics["expectancy"])
