from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from core.decide.prompt import (
    build_messages,
    compact_json,
    prompt_version,
    repair_messages,
    system_prompt,
    template_placeholders,
)
from core.market.snapshot_json import snapshot_from_json
from core.models import AccountView, ClosedTrade, Position

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "snapshots" / "btc_2024-03-01T12.json"


def test_system_prompt_has_role_rules_and_answer_template() -> None:
    text = system_prompt()
    for needle in ("trader", "stop_loss", "take_profit", "leverage 1-20", '"action":<', '"note":<'):
        assert needle in text
    assert prompt_version().startswith("1-")
    assert "what proves you wrong" in template_placeholders()


def test_funding_thresholds_are_in_the_snapshots_unit() -> None:
    # The snapshot carries funding as a fraction per 8h (0.00064824); the prompt said "0.05 %/8h" (#15 defect 5).
    s = snapshot_from_json(json.loads(FIXTURE.read_text()))
    assert 0 < abs(s.to_json_dict()["funding_rate"]) < 0.01  # a fraction, not percent
    text = system_prompt()
    assert "%/8h" not in text and "funding_rate >0.0005" in text and "fraction" in text


def test_user_message_has_snapshot_verbatim_and_account_context() -> None:
    s = snapshot_from_json(json.loads(FIXTURE.read_text()))
    pos = Position("p", s.symbol, "long", 1.0, 60_000.0, s.as_of - timedelta(hours=5), 3, 59_000.0, 59_000.0,
                   (63_000.0,), 40_000.0, 20_000.0)
    trade = ClosedTrade("t", s.symbol, "short", s.as_of - timedelta(hours=30), 62_000.0, s.as_of - timedelta(hours=26),
                        61_000.0, 0.1, 3, 63_000.0, "tp1", 100.0, 2.0, 0.5, 97.5)
    other = ClosedTrade("u", "ETH/USDT:USDT", "long", s.as_of, 1.0, s.as_of, 1.0, 1, 1, 0.9, "stop", 0, 0, 0, -5.0)
    system, user = build_messages(s, AccountView(10_000.0, 9_000.0, positions=(pos,), recent_trades=(trade, other)))
    assert system["role"] == "system" and user["role"] == "user"
    assert compact_json(s.to_json_dict(prompt=True)) in user["content"]
    account = json.loads(user["content"].split("Account:\n")[1].split("\n")[0])
    assert account["position"]["side"] == "long" and account["position"]["age_h"] == 5
    assert account["last_trades"] == [{"side": "short", "pnl": 97.5, "exit": "tp1", "ago_h": 26}]
    reask = repair_messages([system, user], "oops", "no JSON object found")
    assert reask[-2]["content"] == "oops" and "no JSON object found" in reask[-1]["content"]
