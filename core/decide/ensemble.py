"""LLM and rules vote: an entry needs both on the same side, otherwise hold.

The LLM's decision (its stop, targets, leverage and reasoning) is the one kept when they agree; a hold or
close from the LLM passes through, and a failed or rejected LLM record stays that (never a trade).
"""

from __future__ import annotations

from dataclasses import replace

from core.decide.rules import RulesEngine
from core.models import AccountView, Decision, DecisionRecord, Snapshot
from core.protocols import DecisionEngine


class EnsembleEngine:
    name = "ensemble"

    def __init__(self, llm: DecisionEngine, rules: RulesEngine) -> None:
        self._llm = llm
        self._rules = rules

    async def decide(self, snapshot: Snapshot, account: AccountView) -> DecisionRecord:
        record = await self._llm.decide(snapshot, account)
        if record.status != "ok" or record.decision is None or not record.decision.is_entry:
            return replace(record, engine=self.name)
        vote = self._rules.decide_sync(snapshot, account).effective
        llm = record.decision
        if vote.action == llm.action:
            return replace(record, engine=self.name)
        reason = f"ensemble hold: LLM says {llm.action} ({llm.confidence:.2f}), rules say {vote.action}: {vote.reasoning}"
        return replace(record, engine=self.name, decision=Decision.hold(reason))

    async def close(self) -> None:
        close = getattr(self._llm, "close", None)
        if close is not None:
            await close()
