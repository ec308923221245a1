"""The replay states what the drawdown kill-switch did, and the evaluation policy resumes it after N days
(#13 item 6: on 2020-06 → 2024-05 it fired in September 2020 and the rest of the window traded nothing)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from core.decide.rules import RulesEngine
from core.evaluation.replay import ReplaySpec, run_replay_cycle
from core.evaluation.report import build_report
from core.market.offline import OfflineMarketData
from tests.core.evaluation.test_replay import DATA, LIMITS, SYMBOLS

pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=f"real data not found at {DATA}")
TIGHT = replace(LIMITS, max_drawdown_pct=2.0)  # trips within weeks on real data


def window(**kw: object) -> ReplaySpec:
    return ReplaySpec(symbols=SYMBOLS, start=datetime(2023, 1, 15, tzinfo=UTC), end=datetime(2023, 4, 15, tzinfo=UTC),
                      engine="rules", limits=TIGHT, **kw)  # type: ignore[arg-type]


async def test_default_policy_stays_paused_and_says_so() -> None:
    result = await run_replay_cycle(OfflineMarketData(DATA), window(), RulesEngine())
    kill = build_report(result)["kill_switch"]
    assert kill["fired"] == 1 and kill["events"][0]["resumed"] is None  # type: ignore[index]
    paused_at = kill["events"][0]["paused"]  # type: ignore[index]
    steps_after = sum(1 for t in result.step_times if t.isoformat().replace("+00:00", "Z") >= paused_at)
    assert kill["bars_paused"] == steps_after and "stay paused" in kill["policy"]  # type: ignore[operator]


async def test_resume_policy_resumes_after_n_days_and_trades_again() -> None:
    stuck = await run_replay_cycle(OfflineMarketData(DATA), window(), RulesEngine())
    result = await run_replay_cycle(OfflineMarketData(DATA), window(resume_after_days=3), RulesEngine())
    kill = build_report(result)["kill_switch"]
    events = kill["events"]  # type: ignore[index]
    assert kill["fired"] >= 2 and events[0]["resumed"] is not None  # type: ignore[operator]
    first_pause = datetime.fromisoformat(events[0]["paused"].replace("Z", "+00:00"))
    resumed = datetime.fromisoformat(events[0]["resumed"].replace("Z", "+00:00"))
    assert (resumed - first_pause).total_seconds() == 3 * 86_400 and events[0]["bars_paused"] == 72
    assert kill["bars_paused"] < build_report(stuck)["kill_switch"]["bars_paused"]  # type: ignore[index]
    assert len(result.trades) > len(stuck.trades)  # it measured the strategy after the first bad stretch
    assert any(label.startswith("resumed") for _, label in result.markers)
