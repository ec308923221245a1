from __future__ import annotations

import json

import pytest

from core.decide.parsing import InvalidDecisionError, NoJsonError, extract_json, parse_decision, strict_json_schema
from core.models import Action

OBJ = {"action": "SHORT", "confidence": 0.7, "stop_loss": 105, "take_profit": 95, "leverage": 3.0}


def test_strict_schema_is_what_openai_strict_mode_accepts() -> None:
    schema = strict_json_schema()
    assert schema["additionalProperties"] is False and schema["type"] == "object"
    assert schema["required"] == list(schema["properties"])
    assert schema["properties"]["stop_loss"]["type"] == ["number", "null"]
    assert '"title"' not in json.dumps(schema) and "maxLength" not in json.dumps(schema)


def test_strict_schema_keeps_the_bounds_for_the_decoder() -> None:
    # Stripped bounds let a grammar generate confidence 100 or leverage 0, which validation then rejects:
    # a wasted call and a wasted repair (#15 defect 3).
    props = strict_json_schema()["properties"]
    assert (props["confidence"]["minimum"], props["confidence"]["maximum"]) == (0.0, 1.0)
    assert props["leverage"]["minimum"] == 1 and props["leverage"]["maximum"] >= 20
    assert props["take_profit"]["maxItems"] == 3 and props["stop_loss"]["exclusiveMinimum"] == 0


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


# ---- review R4: a bad answer must never become an `ok` decision ------------------------------------

LONG = {"action": "long", "confidence": 0.7, "stop_loss": 95, "take_profit": [110], "leverage": 3}


@pytest.mark.parametrize(
    "text",
    [
        json.dumps(OBJ).replace('"stop_loss": 105', '"stop_loss": Infinity'),
        json.dumps(OBJ).replace('"stop_loss": 105', '"stop_loss": 1e400'),
        json.dumps({**OBJ, "stop_loss": "1e400"}),
        json.dumps(LONG).replace("[110]", "[Infinity]"),
        json.dumps({**LONG, "take_profit": ["inf"]}),
        json.dumps(OBJ).replace('"confidence": 0.7', '"confidence": NaN'),
    ],
)
def test_non_finite_numbers_are_rejected(text: str) -> None:
    with pytest.raises(InvalidDecisionError):
        parse_decision(text, 100.0)


@pytest.mark.parametrize(
    "change",
    [{"confidence": True}, {"leverage": True}, {"take_profit": [True]}, {"stop_loss": True}, {"leverage": False}],
)
def test_booleans_in_numeric_fields_are_rejected(change: dict[str, object]) -> None:
    with pytest.raises(InvalidDecisionError, match="number"):
        parse_decision(json.dumps({**OBJ, **change}), 100.0)


def test_plain_numeric_strings_are_normalised() -> None:
    d = parse_decision(json.dumps({**OBJ, "confidence": "0.7", "stop_loss": " 105.5 ", "leverage": "3",
                                   "take_profit": ["95", 90]}), 100.0)
    assert (d.confidence, d.stop_loss, d.leverage, d.take_profit) == (0.7, 105.5, 3, (95.0, 90.0))


@pytest.mark.parametrize(
    "change",
    [{"leverage": "5x"}, {"leverage": "1_0"}, {"stop_loss": "1_05"}, {"confidence": "70%"}, {"stop_loss": "NaN"},
     {"confidence": "0x1"}],
)
def test_non_plain_numeric_strings_are_rejected(change: dict[str, object]) -> None:
    with pytest.raises(InvalidDecisionError):
        parse_decision(json.dumps({**OBJ, **change}), 100.0)


@pytest.mark.parametrize(
    "text",
    [
        f"{json.dumps(LONG)}\n{json.dumps(OBJ)}",
        json.dumps([LONG, OBJ]),
        f"<think>draft {json.dumps(LONG)} no, bearish. Final: {json.dumps(OBJ)}",
        f"```json\n{json.dumps(LONG)}\n```\nor maybe\n```json\n{json.dumps(OBJ)}\n```",
    ],
)
def test_two_different_decisions_are_ambiguous_not_the_first(text: str) -> None:
    with pytest.raises(InvalidDecisionError, match="2 different decision objects"):
        parse_decision(text, 100.0)


def test_the_same_object_twice_and_a_one_element_array_are_fine() -> None:
    assert parse_decision(f"{json.dumps(OBJ)}\n```json\n{json.dumps(OBJ, indent=2)}\n```", 100.0).action is Action.SHORT
    assert parse_decision(json.dumps([OBJ]), 100.0).action is Action.SHORT


EXAMPLE = {"action": "long", "confidence": 0.72, "stop_loss": 59800, "take_profit": [63400, 64900], "leverage": 5}


def test_an_echoed_example_is_skipped_and_alone_is_rejected() -> None:
    hold = {"action": "hold", "confidence": 0.3, "reasoning": "no edge"}
    text = f"Example, price 61234.5:\n{json.dumps(EXAMPLE)}\nMy answer:\n{json.dumps(hold)}"
    assert parse_decision(text, 61_000.0, example=EXAMPLE).action is Action.HOLD
    with pytest.raises(InvalidDecisionError, match="example"):
        parse_decision(json.dumps(EXAMPLE), 61_000.0, example=EXAMPLE)


@pytest.mark.parametrize(
    "text",
    ['{"action": "short", "confidence": 0.7,}', '{"action": "short", // bearish\n"confidence": 0.7}'],
)
def test_trailing_commas_and_comments_are_not_guessed_at(text: str) -> None:
    with pytest.raises(NoJsonError):
        extract_json(text)


def test_a_hold_with_meaningless_levels_is_a_hold() -> None:
    # Gemma 3 270M under strict mode: a hold with "stop_loss": 0 was rejected and cost a re-ask (#15).
    decision = parse_decision(
        json.dumps({"action": "hold", "confidence": 0.2, "stop_loss": 0, "take_profit": [0, 0, 0], "leverage": 1}),
        100.0,
    )
    assert decision.action == Action.HOLD and decision.stop_loss is None and decision.take_profit == ()


def test_string_bounds_only_for_grammar_decoders() -> None:
    # A base model on llama.cpp wrote one string until max_tokens cut the answer (#15, the real-model run);
    # OpenAI's strict mode does not take maxLength, so only local endpoints get it.
    local = strict_json_schema(string_lengths=True)["properties"]
    assert (local["reasoning"]["maxLength"], local["note"]["maxLength"], local["invalidation"]["maxLength"]) == (
        600, 280, 200)
    assert "maxLength" not in json.dumps(strict_json_schema())
