"""A restart in the middle of a replay: the default trend engine, replaced at hour H by a fresh engine restored from
the memory the first one stored (through the MemoryKeeper, a state store and `resume_memories`, as App.build
does, half an hour before H), decides and
trades exactly as one unbroken replay; a fresh engine without the restore does not (its funding veto is blind for
a month, its flip gates forget which signal already had its position).

The book carries over the cut as the bot's SQLite book does across a restart: only the engine is replaced.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.settings import load_settings
from core.clock import SimulatedClock
from core.decide.trend import TrendEngine
from core.evaluation.replay import ReplaySpec, run_replay_cycle
from core.evaluation.report import write_report
from core.market.offline import OfflineMarketData
from core.models import AccountView, DecisionRecord, Snapshot
from core.services.engine_memory import MemoryKeeper, resume_memories
from core.services.memory_state import MemoryStateStore
from tests.core.decide.test_trend import TRAIN_DATA

SYMBOLS = ("BTC/USDT:USDT", "ETH/USDT:USDT", "XRP/USDT:USDT", "LTC/USDT:USDT", "ADA/USDT:USDT")
START, CUT, END = datetime(2021, 1, 1, tzinfo=UTC), datetime(2021, 3, 1, tzinfo=UTC), datetime(2021, 6, 1, tzinfo=UTC)
SETTINGS = load_settings(env_file=None)  # the shipped defaults: ENGINE=trend, TSMOM, funding veto 0.9


def shipped_engine() -> TrendEngine:
    return TrendEngine(SETTINGS.trend_params())


class RestartAt:
    """The engine of a bot restarted at `cut`: the first engine saves its memory after every hour (the cycle's
    save), and the first decision at or after `cut` is the new engine's, restored (or not) from what was stored."""

    name = "trend"

    def __init__(self, cut: datetime | None, *, restore: bool) -> None:
        self.cut, self.restore = cut, restore
        self.store = MemoryStateStore()
        self.engine = shipped_engine()
        self.keeper = MemoryKeeper(self.engine, self.store, SimulatedClock(START))
        self.hour: datetime | None = None
        self.restarted = False
        self.first_summary = ""
        self.decisions: list[tuple[str, str, str, float | None]] = []

    async def decide(self, snapshot: Snapshot, account: AccountView) -> DecisionRecord:
        if snapshot.as_of != self.hour:
            if self.hour is not None and not self.restarted:
                await self.keeper.save(self.hour)  # what the cycle of the previous hour stored
                self.first_summary = self.engine.memory_summary()
            self.hour = snapshot.as_of
            if self.cut is not None and not self.restarted and snapshot.as_of >= self.cut:
                self.restarted = True
                self.engine = shipped_engine()
                if self.restore:  # as App.build does: the stored memory, then the funding hours since its save
                    now = snapshot.as_of - timedelta(minutes=30)
                    keeper = MemoryKeeper(self.engine, self.store, SimulatedClock(now))
                    await resume_memories([keeper], OfflineMarketData(TRAIN_DATA), SYMBOLS, now)
                    assert keeper.summary() == self.first_summary
        record = self.engine.decide_sync(snapshot, account)
        d = record.effective
        self.decisions.append((snapshot.as_of.isoformat(), snapshot.symbol, d.action.value, d.stop_loss))
        return record


async def _replay(engine: RestartAt, out: Path) -> dict[str, bytes]:
    spec = ReplaySpec(symbols=SYMBOLS, start=START, end=END, engine="trend", limits=SETTINGS.risk_limits(),
                      costs=SETTINGS.cost_model(), max_leverage=SETTINGS.max_leverage)
    result = await run_replay_cycle(OfflineMarketData(TRAIN_DATA), spec, engine)  # type: ignore[arg-type]
    write_report(result, out)
    return {name: (out / name).read_bytes() for name in ("report.json", "trades.csv", "equity.csv")}


@pytest.mark.skipif(not TRAIN_DATA.is_dir(), reason=f"the real Binance perps data is not at {TRAIN_DATA}")
async def test_a_restart_restored_from_the_stored_memory_replays_exactly_like_no_restart(tmp_path: Path) -> None:
    unbroken, restored, forgetful = RestartAt(None, restore=False), RestartAt(CUT, restore=True), RestartAt(CUT, restore=False)
    files = {label: await _replay(engine, tmp_path / label)
             for label, engine in (("unbroken", unbroken), ("restored", restored), ("forgetful", forgetful))}
    assert restored.restarted and forgetful.restarted
    assert len(unbroken.decisions) == len(restored.decisions) > 4 * 24 * 140
    assert restored.decisions == unbroken.decisions
    assert files["restored"] == files["unbroken"]
    # the gap this closes: a restart that forgets decides differently after the cut, and trades differently
    after = [i for i, d in enumerate(unbroken.decisions) if d[0] >= CUT.isoformat()]
    assert any(forgetful.decisions[i] != unbroken.decisions[i] for i in after)
    assert forgetful.decisions[:after[0]] == unbroken.decisions[:after[0]]
    assert files["forgetful"]["trades.csv"] != files["unbroken"]["trades.csv"]
