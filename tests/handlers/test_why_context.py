"""`/why` shows the context that entered the decision (#17): funding average, open interest, spread, book, Fear &
Greed, news score and key events — through aiogram's dispatch, and from the SQLite decision log's stored row."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from core.models import Action, Decision, DecisionRecord, GuardVerdict, KeyEvent, Sentiment
from core.protocols import CycleRecord
from storage.db import Database
from storage.decision_log_repo import SqliteDecisionLog
from tests.core.risk.test_guard import snap
from tests.handlers.conftest import Harness
from tests.handlers.control_fakes import NOW
from tests.handlers.test_public import send


def rich_snapshot():
    base = snap()
    extra = {**base.extra, "funding_avg_24h": 0.0001, "open_interest": 81234.0, "oi_change_1h_pct": 0.5,
             "oi_change_24h_pct": -2.25, "spread_pct": 0.012, "book_imbalance": 0.61}
    events = (KeyEvent(NOW.replace(hour=10), "Exchange halts withdrawals after <b>$200M</b> hack", -2),)
    return replace(base, as_of=NOW, extra=extra, sentiment=Sentiment(23, -1.42, events, "cointelegraph.com"))


def record(snapshot) -> CycleRecord:
    decision = Decision(action=Action.HOLD, confidence=0.4, reasoning="news shock")
    return CycleRecord(
        cycle_id="2024-03-01T12", symbol="BTC/USDT:USDT", as_of=NOW, snapshot=snapshot,
        record=DecisionRecord(status="ok", engine="llm", model="m", attempts=1, decision=decision),
        verdict=GuardVerdict(approved=False, intent=None, reason="news_veto", detail="critical news"),
        signal_id="2024-03-01T12-BTC",
    )


async def test_why_lists_the_context_and_key_events(harness: Harness) -> None:
    await harness.log.record_cycle(record(rich_snapshot()))
    text = await send(harness, "/why 2024-03-01T12-BTC")
    for needle in ("funding avg 24h +0.0100 %", "open interest 81,234 (1h +0.50 %, 24h -2.25 %)", "spread 0.012 %",
                   "book 61% bids", "Fear &amp; Greed 23 (extreme fear)", "news score -1.42",
                   "2024-03-01 10:00 UTC -2: Exchange halts withdrawals after &lt;b&gt;$200M&lt;/b&gt; hack",
                   "news_veto"):
        assert needle in text, (needle, text)


async def test_why_without_extra_context_says_candles_only(harness: Harness) -> None:
    await harness.log.record_cycle(record(replace(snap(), as_of=NOW)))
    assert "Context: candles only" in await send(harness, "/why 2024-03-01T12-BTC")


async def test_the_sqlite_log_gives_the_stored_snapshot_back_for_why(tmp_path: Path) -> None:
    async with Database(tmp_path / "log.sqlite") as db:
        log = SqliteDecisionLog(db)
        await log.record_cycle(record(rich_snapshot()))
        entry = await log.signal("2024-03-01T12-BTC")
    assert entry is not None and entry.snapshot is not None
    assert entry.snapshot.sentiment is not None and entry.snapshot.sentiment.fear_greed == 23
    assert entry.snapshot.extra["open_interest"] == 81234.0
