"""Helper process for test_restart_sigkill: runs hourly cycles on real data with a SQLite book.

usage: python -m tests.core.sigkill_runner DB MARKER CYCLES
Resumes from the last cycle the database recorded (as the live bot does with wall time), appends the
number of finished cycles to MARKER after each one, and prints the final book as JSON when done.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime

from core.clock import SimulatedClock
from core.config import CostModel, RiskLimits
from core.execution.paper_broker import PaperBroker
from core.models import RuntimeState
from core.risk.guard import RiskGuard
from core.services.cycle import TradingCycle
from core.services.state_change import LAST_CYCLE_KEY
from storage.book_repo import SqliteBookStore
from storage.db import Database
from storage.decision_log_repo import SqliteDecisionLog
from storage.state_repo import SqliteStateStore
from tests.core.csv_feed import ArrayBarFeed, load_bars, load_funding
from tests.core.cycle_fakes import ArraySnapshotSource, MomentumEngine, RecordingNotifier, hours_after

PAIRS = {"BTC/USDT:USDT": "BTCUSDT", "ETH/USDT:USDT": "ETHUSDT", "LTC/USDT:USDT": "LTCUSDT"}


def _mark(marker: str, n: int) -> None:
    with open(marker, "a") as out:
        out.write(f"{n}\n")


async def main(db_path: str, marker: str, cycles: int) -> None:
    bars = {s: load_bars(p)[:cycles + 200] for s, p in PAIRS.items()}
    funding = {s: load_funding(p) for s, p in PAIRS.items()}
    start = bars["BTC/USDT:USDT"][0, 0]
    hours = [hours_after(start, 60 + i) for i in range(cycles)]
    db = await Database(db_path).connect()
    state = SqliteStateStore(db)
    store = SqliteBookStore(db)
    clock = SimulatedClock(hours[0])
    limits = RiskLimits(max_open_positions=3, correlation_groups=())
    defaults = RuntimeState(False, True, 10, tuple(PAIRS))
    broker = PaperBroker(feed=ArrayBarFeed(bars, funding), store=store, clock=clock, initial_equity=10_000.0,
                         costs=CostModel(), limits=limits)
    cycle = TradingCycle(snapshots=ArraySnapshotSource(bars), engine=MomentumEngine(), guard=RiskGuard(limits),
                         broker=broker, log=SqliteDecisionLog(db), notifier=RecordingNotifier(), state=state,
                         defaults=defaults, clock=clock, concurrent=True)
    last = await state.get_value(LAST_CYCLE_KEY)
    resume_from = datetime.fromisoformat(last) if last else hours[0]
    for n, as_of in enumerate(hours, start=1):
        if as_of < resume_from:
            continue
        clock.set(as_of)
        summary = await cycle.run(as_of)
        if summary.errors:
            print(summary.errors, file=sys.stderr)
        _mark(marker, n)
    book = {
        "positions": sorted(
            [p.symbol, p.side, round(p.qty, 9), round(p.entry_price, 6), round(p.stop_loss, 6), p.targets_hit]
            for p in await broker.positions()
        ),
        "trades": [
            [t.symbol, t.exit_reason, t.exit_time.isoformat(), round(t.qty, 9), round(t.net_pnl, 6)]
            for t in await store.closed_trades()
        ],
        "equity": round((await broker.account()).equity, 6),
    }
    await db.close()
    print(json.dumps(book))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
