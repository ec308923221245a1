from __future__ import annotations

import json
from pathlib import Path

from core.decide.ensemble import EnsembleEngine
from core.decide.rules import RulesEngine
from core.market.snapshot_json import snapshot_from_json
from core.models import AccountView, Action, Decision, DecisionRecord, Snapshot

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "snapshots" / "eth_2024-03-01T12.json"
ACCOUNT = AccountView(10_000.0, 10_000.0)


class ScriptedLlm:
    name = "llm"

    def __init__(self, record: DecisionRecord) -> None:
        self.record = record

    async def decide(self, snapshot: Snapshot, account: AccountView) -> DecisionRecord:
        return self.record


def snapshot() -> Snapshot:
    return snapshot_from_json(json.loads(FIXTURE.read_text()))


def llm_says(action: Action) -> DecisionRecord:
    if action in (Action.LONG, Action.SHORT):
        sign = 1 if action is Action.LONG else -1
        decision = Decision(action, 0.7, 3414.27 - sign * 80, (3414.27 + sign * 130,), 3, "", "llm view")
    else:
        decision = Decision(action, 0.5)
    return DecisionRecord("ok", "llm", "m", 1, decision)


async def test_agreement_keeps_the_llm_decision() -> None:
    s = snapshot()
    assert RulesEngine().decide_sync(s, ACCOUNT).effective.action is Action.LONG
    record = await EnsembleEngine(ScriptedLlm(llm_says(Action.LONG)), RulesEngine()).decide(s, ACCOUNT)
    assert record.engine == "ensemble" and record.decision == llm_says(Action.LONG).decision


async def test_disagreement_holds() -> None:
    record = await EnsembleEngine(ScriptedLlm(llm_says(Action.SHORT)), RulesEngine()).decide(snapshot(), ACCOUNT)
    assert record.status == "ok" and record.decision is not None
    assert record.decision.action is Action.HOLD and "rules say long" in record.decision.reasoning


async def test_llm_hold_and_failures_pass_through_without_trading() -> None:
    held = await EnsembleEngine(ScriptedLlm(llm_says(Action.HOLD)), RulesEngine()).decide(snapshot(), ACCOUNT)
    assert held.effective.action is Action.HOLD
    failed = DecisionRecord("failed", "llm", "m", 3, None, "timeout")
    out = await EnsembleEngine(ScriptedLlm(failed), RulesEngine()).decide(snapshot(), ACCOUNT)
    assert out.status == "failed" and out.engine == "ensemble" and out.effective.action is Action.HOLD
