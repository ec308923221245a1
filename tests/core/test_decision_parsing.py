from __future__ import annotations

import json

import pytest

from core.decision_parsing import InvalidDecisionError, NoJsonError, extract_json, parse_decision, strict_json_schema
from core.models import Action

OBJ = {"action": "SHORT", "confidence": 0.7, "stop_loss": 105, "take_profit": 95, "leverage": 3.0}


def test_strict_schema_is_what_openai_strict_mode_accepts() -> None:
    schema = strict_json_schema()
    assert schema["additionalProperties"] is False and schema["type"] == "object"
    assert schema["required"] == list(schema["properties"])
    assert schema["properties"]["stop_loss"]["type"] == ["number", "null"]
    assert "title" not in json.dumps(schema) and "maximum" not in json.dumps(schema)


@pytest.mark.parametrize(
    "text",
    [
        json.dumps(OBJ),
        f"```json\n{json.dumps(OBJ)}\n```",
        f"```\n{json.dumps(OBJ)}\n```",
        f"My analysis: bearish. {json.dumps(OBJ)} That's all.",
        f"<think>{{not json}}</think>\n{json.dumps(OBJ)}",
    ],
)
def test_tolerant_extraction(text: str) -> None:
    assert extract_json(text)["confidence"] == 0.7


@pytest.mark.parametrize("text", [None, "", "   ", "I would hold.", "{broken", "[1, 2]"])
def test_no_json(text: str | None) -> None:
    with pytest.raises(NoJsonError):
        extract_json(text)


def test_lenient_shapes_become_a_checked_decision() -> None:
    d = parse_decision(json.dumps(OBJ), 100.0)
    assert d.action is Action.SHORT and d.take_profit == (95.0,) and d.leverage == 3
    long_reason = parse_decision(json.dumps({"action": "hold", "confidence": 0.1, "reasoning": "x" * 900}), 100.0)
    assert len(long_reason.reasoning) == 600


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"leverage": 500}, "leverage"),
        ({"leverage": 0}, "leverage"),
        ({"confidence": -0.1}, "confidence"),
        ({"action": "buy"}, "action"),
        ({"stop_loss": 95}, "must be above price"),
        ({"take_profit": [90, 96]}, "must move down"),
        ({"take_profit": [99, 98, 97, 96]}, "take_profit"),
        ({"stop_loss": None}, "stop_loss"),
    ],
)
def test_invalid_decisions_name_the_problem(change: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidDecisionError, match=message):
        parse_decision(json.dumps({**OBJ, **change}), 100.0)
