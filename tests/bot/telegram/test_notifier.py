import asyncio
import threading
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from bot.telegram import charts
from bot.telegram.notifier import ChannelNotifier, entry_key
from bot.telegram.post_format import DailySummary, PulseItem
from core.clock import SimulatedClock
from core.models import TradeEvent
from core.protocols import CycleRecord, Ticker
from core.services.memory_log import MemoryDecisionLog
from core.services.outbox import MemoryOutbox
from tests.bot.telegram.test_charts import candles
from tests.bot.telegram.test_post_format import entry_event, exit_event

WALL = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


class FakeMarket:
    """MarketData stand-in serving one fixed candles frame (real BTC 1h when ../shared is present)."""

    def __init__(self, frame: pd.DataFrame | None = None, fail: bool = False) -> None:
        self.frame = candles() if frame is None else frame
        self.fail = fail
        self.calls: list[tuple[str, str, datetime, int]] = []

    async def candles(self, symbol: str, timeframe: str, *, until: datetime, limit: int) -> pd.DataFrame:
        self.calls.append((symbol, timeframe, until, limit))
        if self.fail:
            raise ConnectionError("exchange unreachable")
        return self.frame.iloc[-limit:]

    async def funding_rates(self, symbol: str, *, since: datetime, until: datetime) -> pd.Series:
        return pd.Series(dtype=float)

    async def ticker(self, symbol: str) -> Ticker:
        raise NotImplementedError

    async def symbols(self) -> Sequence[str]:
        return ["BTC/USDT:USDT"]

    async def close(self) -> None:
        pass


def make(market: FakeMarket | None = None, **kw: object) -> tuple[ChannelNotifier, MemoryOutbox, list[int]]:
    outbox = MemoryOutbox()
    kicks: list[int] = []
    notifier = ChannelNotifier(
        outbox,
        channel_id="-100777",
        admin_ids=(11, 22),
        market=market or FakeMarket(),
        kick=lambda: kicks.append(1),
        clock=SimulatedClock(WALL),
        **kw,
    )
    return notifier, outbox, kicks


async def test_entry_enqueues_chart_and_caption_once(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[int] = []
    real = charts.entry_chart

    def spy(*args: object, **kwargs: object) -> bytes:
        threads.append(threading.get_ident())
        return real(*args, **kwargs)

    monkeypatch.setattr(charts, "entry_chart", spy)
    notifier, outbox, kicks = make()
    event, record = entry_event()
    await notifier.entry(event, None, record)
    await notifier.entry(event, None, record)  # the cycle re-run after a crash
    (post,) = await outbox.posts()
    assert post.dedupe_key == entry_key("p1") == "entry:p1" and post.chat_id == "-100777"
    assert post.image is not None and post.image[:4] == b"\x89PNG" and len(post.text) <= 1024
    assert "LONG BTC/USDT" in post.text and post.created_at == WALL
    assert threads == [threads[0]] and threads[0] != threading.get_ident()  # rendered off the loop, once
    assert kicks


async def test_entry_without_candles_still_posts_text() -> None:
    notifier, outbox, _ = make(FakeMarket(fail=True))
    event, record = entry_event()
    await notifier.entry(event, None, record)
    (post,) = await outbox.posts()
    assert post.image is None and "Entry:" in post.text


async def test_exit_and_updates_reply_to_the_entry_post() -> None:
    notifier, outbox, _ = make(dry_run=lambda: False)
    await notifier.exit(exit_event("tp1", 61_800.0, 87.0))
    await notifier.exit(exit_event("tp1", 61_800.0, 87.0))
    moved = TradeEvent("stop_moved", "p1", "BTC/USDT:USDT", "long", WALL, 60_000.0, 0.05, reason="break-even")
    await notifier.exit(moved)
    tp1, update = await outbox.posts()
    assert tp1.kind == "exit" and tp1.reply_to_key == "entry:p1" and tp1.dedupe_key.startswith("exit:p1:tp1:")
    assert "Dry-run" not in tp1.text and "Target 1 hit" in tp1.text
    assert update.kind == "update" and update.reply_to_key == "entry:p1"


async def test_alerts_go_to_each_admin_once_per_hour() -> None:
    notifier, outbox, _ = make()
    await notifier.alert("kill-switch: drawdown 21% > 20%")
    await notifier.alert("kill-switch: drawdown 21% > 20%")
    posts = await outbox.posts()
    assert [p.chat_id for p in posts] == ["11", "22"] and all(p.kind == "alert" for p in posts)
    assert "drawdown 21% &gt; 20%" in posts[0].text
    notifier._clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    await notifier.alert("kill-switch: drawdown 21% > 20%")
    assert len(await outbox.posts()) == 4


async def test_pulse_and_daily_summary_are_enqueued_once() -> None:
    notifier, outbox, _ = make()
    as_of = datetime(2024, 3, 1, 12, tzinfo=UTC)
    closes = {"BTC/USDT:USDT": candles()["close"].iloc[-48:]}
    items = [PulseItem("BTC/USDT:USDT", 61_000.0, 1.2, 0.0001, "ranging", "rules: no trade (40%)")]
    assert await notifier.pulse(as_of, items, closes)
    assert not await notifier.pulse(as_of, items, closes)
    summary = DailySummary(date(2024, 3, 1), 10_100.0, 100.0, 2, 1, (), 10_000.0)
    equity = [(as_of + timedelta(hours=i), 10_000.0 + i) for i in range(30)]
    assert await notifier.daily_summary(summary, equity)
    assert not await notifier.daily_summary(summary, equity)
    pulse, daily = await outbox.posts()
    assert pulse.dedupe_key == "pulse:2024-03-01T12:00:00Z" and pulse.image is not None
    assert daily.dedupe_key == "daily:2024-03-01" and daily.image is not None


async def test_entry_found_by_the_monitor_gets_its_reasoning_from_the_decision_log() -> None:
    log = MemoryDecisionLog()
    event, record = entry_event(reasoning="Funding flipped negative while price held the 50 EMA.")
    await log.record_cycle(CycleRecord("c2024030112", event.symbol, WALL, None, record, None, event.signal_id))
    market = FakeMarket()
    notifier, outbox, _ = make(market, decision_log=log)
    await notifier.entry(event, None, None)
    (post,) = await outbox.posts()
    assert "Funding flipped negative" in post.text
    assert market.calls[0][2] == event.time  # no candle after the fill is drawn


class SlowMarket(FakeMarket):
    """Candles arrive only when the test says so: the entry chart is still being prepared meanwhile."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = asyncio.Event()
        self.release = asyncio.Event()

    async def candles(self, symbol: str, timeframe: str, *, until: datetime, limit: int) -> pd.DataFrame:
        self.asked.set()
        await self.release.wait()
        return await super().candles(symbol, timeframe, until=until, limit=limit)


async def test_an_exit_announced_while_its_entry_chart_renders_is_queued_after_the_entry() -> None:
    # the monitor closes the position while the cycle still draws the entry chart: were the exit enqueued
    # first, the channel would show the exit (replying to nothing) before its entry
    market = SlowMarket()
    notifier, outbox, _ = make(market)
    event, record = entry_event()
    entering = asyncio.create_task(notifier.entry(event, None, record))
    await market.asked.wait()
    exiting = asyncio.create_task(notifier.exit(exit_event("stop", 58_800.0, -63.0)))
    await asyncio.sleep(0)
    market.release.set()
    await asyncio.gather(entering, exiting)
    entry_post, exit_post = await outbox.posts()
    assert entry_post.dedupe_key == "entry:p1" and entry_post.image is not None
    assert exit_post.kind == "exit" and exit_post.reply_to_key == "entry:p1" and exit_post.id > entry_post.id
