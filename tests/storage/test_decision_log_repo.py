from datetime import UTC, datetime, timedelta

from core.models import Decision, DecisionRecord, GuardVerdict, OrderIntent, Regime, Snapshot, TimeframeView
from core.protocols import CycleRecord
from storage.db import Database
from storage.decision_log_repo import SqliteDecisionLog

NOW = datetime(2024, 3, 1, 12, tzinfo=UTC)


def snapshot():
    view = TimeframeView(NOW - timedelta(hours=1), 100, 101, 99, 100, 5, atr_14=1.0)
    return Snapshot("BTC/USDT:USDT", NOW, 100.0, {"1h": view}, 0.0001, Regime.RANGING)


async def test_records_signals_and_counts(tmp_path):
    db = await Database(tmp_path / "log.sqlite").connect()
    log = SqliteDecisionLog(db)
    decision = Decision("long", 0.8, 98.0, (104.0, 106.0), 5, reasoning="breakout")
    record = DecisionRecord("ok", "rules", "rules-v1", 1, decision)
    intent = OrderIntent("BTC/USDT:USDT", "long", 1.0, 5, 98.0, (104.0, 106.0), 100.0, 80.0, 2.1, 0.8,
                         "2024-03-01T12-BTCUSDT", "2024-03-01T12", NOW)
    assert not await log.cycle_done("2024-03-01T12", "BTC/USDT:USDT")
    await log.record_cycle(CycleRecord("2024-03-01T12", "BTC/USDT:USDT", NOW, snapshot(), record,
                                       GuardVerdict(True, intent, checks=("stop",)), "2024-03-01T12-BTCUSDT"))
    await log.record_cycle(CycleRecord("2024-03-01T12", "ETH/USDT:USDT", NOW, None, record,
                                       GuardVerdict(False, None, "low_confidence", "0.3 < 0.6"), "2024-03-01T12-ETHUSDT"))
    assert await log.cycle_done("2024-03-01T12", "BTC/USDT:USDT")
    found = await log.signal("2024-03-01T12-BTCUSDT")
    assert found.record.decision.reasoning == "breakout"
    assert found.verdict.approved and found.verdict.intent.qty == 1.0 and found.verdict.checks == ("stop",)
    assert (await log.snapshot_json("2024-03-01T12-BTCUSDT"))["price"] == 100.0
    assert await log.signal("nope") is None
    assert await log.guard_counts() == {"approved": 1, "low_confidence": 1}
    await db.close()
