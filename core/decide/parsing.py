"""From an LLM's text to a checked `Decision` (DESIGN §4.4).

Two kinds of failure, because they end differently: `NoJsonError` (nothing parseable came back → the
record is `failed`) and `InvalidDecisionError` (an object came back but broke the schema or the price
logic → `rejected`). Both messages are short and quotable in the repair re-ask.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.models import HARD_MAX_LEVERAGE, MAX_NOTE_CHARS, MAX_REASONING_CHARS, Action, Decision, DomainError

MAX_INVALIDATION_CHARS = 200



def _cut(value: object, limit: int) -> object:
    """A text field cut to its limit (None → empty); anything else is left for validation to refuse."""
    if value is None:
        return ""
    return value[:limit] if isinstance(value, str) else value

class NoJsonError(ValueError):
    """The answer held no JSON object."""


class InvalidDecisionError(ValueError):
    """The answer held an object that is not a valid decision for this price."""


class DecisionSchema(BaseModel):
    """The object the LLM must answer with; `strict_json_schema()` is what strict mode sends."""

    # Extra keys are ignored; NaN and infinities (JSON `NaN`/`Infinity`, 1e400) are refused.
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    action: Literal["long", "short", "hold", "close"]
    confidence: float = Field(ge=0.0, le=1.0)
    stop_loss: float | None = Field(default=None, gt=0)
    take_profit: list[float] = Field(default_factory=list, max_length=3)
    leverage: int = Field(default=1, ge=1, le=HARD_MAX_LEVERAGE)
    invalidation: str = Field("", max_length=MAX_INVALIDATION_CHARS)
    reasoning: str = Field("", max_length=MAX_REASONING_CHARS)
    note: str = Field("", max_length=MAX_NOTE_CHARS)

    @model_validator(mode="before")
    @classmethod
    def _no_levels_without_an_entry(cls, data: object) -> object:
        # Strict mode makes every key required, so a hold still carries a stop and targets (real models write
        # 0 or the price): they mean nothing without an entry and are not worth a re-ask.
        if isinstance(data, dict) and str(data.get("action", "")).strip().lower() in ("hold", "close"):
            return {**data, "stop_loss": None, "take_profit": []}
        return data

    @field_validator("action", mode="before")
    @classmethod
    def _lower_action(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("confidence", "stop_loss", "leverage", mode="before")
    @classmethod
    def _plain_number(cls, value: object) -> object:
        return _plain_number(value)

    @field_validator("take_profit", mode="before")
    @classmethod
    def _single_target(cls, value: object) -> object:
        if value is None:
            return []
        if isinstance(value, int | float | str) and not isinstance(value, bool):
            value = [value]
        return [_plain_number(v) for v in value] if isinstance(value, list) else value

    @field_validator("invalidation", mode="before")
    @classmethod
    def _invalidation(cls, value: object) -> object:
        return _cut(value, MAX_INVALIDATION_CHARS)

    @field_validator("reasoning", mode="before")
    @classmethod
    def _text(cls, value: object) -> object:
        return _cut(value, MAX_REASONING_CHARS)

    @field_validator("note", mode="before")
    @classmethod
    def _note(cls, value: object) -> object:
        return _cut(value.strip() if isinstance(value, str) else value, MAX_NOTE_CHARS)

    def to_decision(self) -> Decision:
        return Decision(
            action=Action(self.action),
            confidence=self.confidence,
            stop_loss=self.stop_loss,
            take_profit=tuple(self.take_profit),
            leverage=self.leverage,
            invalidation=self.invalidation,
            reasoning=self.reasoning,
            note=self.note,
        )


_NUMBER_TEXT = re.compile(r"\s*-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\s*")


def _plain_number(value: object) -> object:
    """A JSON number, or a string holding exactly one ("0.7"); never a boolean (pydantic's lax mode would
    read true as 1 / 1.0) nor Python-only spellings ("1_000", "inf", "nan") that `float()` accepts."""
    if isinstance(value, bool):
        raise ValueError(f"must be a number, not the boolean {str(value).lower()}")
    if isinstance(value, str):
        if not _NUMBER_TEXT.fullmatch(value):
            raise ValueError("must be a number")
        return float(value)
    return value


# Dropped from the strict schema: annotations no decoder needs, and string lengths (OpenAI's strict mode
# refuses maxLength; texts are cut to length when parsed). Number and array bounds stay: OpenAI and
# llama.cpp's grammar enforce them, so `confidence: 100` or `leverage: 0` cannot even be generated.
_DROPPED_KEYWORDS = ("title", "description", "default", "maxLength", "minLength")


def _strict(node: Any, dropped: tuple[str, ...] = _DROPPED_KEYWORDS) -> Any:
    """OpenAI strict mode: every property required, no additional properties, nullable as a type list."""
    if isinstance(node, list):
        return [_strict(n, dropped) for n in node]
    if not isinstance(node, dict):
        return node
    if "anyOf" in node:
        types = [option.get("type") for option in node["anyOf"]]
        if all(isinstance(t, str) for t in types):
            merged = {k: v for option in node["anyOf"] for k, v in option.items() if k != "type"}
            node = {**{k: v for k, v in node.items() if k != "anyOf"}, **merged, "type": types}
    out = {
        k: _strict(v, dropped)
        for k, v in node.items()
        if k not in dropped
    }
    if out.get("type") == "object" and "properties" in out:
        out["required"] = list(out["properties"])
        out["additionalProperties"] = False
    return out


def strict_json_schema(*, string_lengths: bool = False) -> dict[str, Any]:
    """`string_lengths`: keep maxLength on the texts, for grammar decoders (llama.cpp, vLLM) where a base
    model otherwise writes one string until max_tokens cuts the answer."""
    dropped = tuple(k for k in _DROPPED_KEYWORDS if not (string_lengths and k == "maxLength"))
    return _strict(DecisionSchema.model_json_schema(), dropped)


_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)


def _top_level_objects(body: str) -> list[dict[str, Any]]:
    """Every JSON object in the text that is not nested in another one (bare, fenced, in prose or in an
    array), in order. A decoded object is skipped whole, so braces inside it or its strings never count."""
    decoder = json.JSONDecoder()
    found: list[dict[str, Any]] = []
    position = body.find("{")
    while position >= 0:
        try:
            value, end = decoder.raw_decode(body, position)
        except (ValueError, RecursionError):
            position = body.find("{", position + 1)
            continue
        if isinstance(value, dict):
            found.append(value)
        position = body.find("{", end)
    return found


def extract_json(text: str | None, example: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The one decision object in an answer: bare JSON, a fenced block, inside prose or a one-element array.
    Reasoning models' <think> blocks are skipped, and so is an echo of the prompt's `example`. Two different
    objects carrying an "action" are ambiguous (say, a draft and a final answer, or a list of options):
    `InvalidDecisionError` rather than a guess at which one was meant. Trailing commas and comments are not
    repaired: the re-ask asks for clean JSON instead."""
    if text is None or not text.strip():
        raise NoJsonError("the answer was empty")
    body = _THINK.sub("", text).strip()
    objects = _top_level_objects(body)
    if not objects:
        snippet = body[:80].replace("\n", " ")
        raise NoJsonError(f"no JSON object found in the answer (starts: {snippet!r})")
    decisions = [o for o in objects if "action" in o]
    if example is not None and decisions:
        answers = [o for o in decisions if o != dict(example)]
        if not answers:
            raise InvalidDecisionError("the answer repeats the prompt's example instead of deciding on this snapshot")
        decisions = answers
    distinct: list[dict[str, Any]] = []
    for candidate in decisions:
        if candidate not in distinct:
            distinct.append(candidate)
    if len(distinct) > 1:
        raise InvalidDecisionError(f"ambiguous: {len(distinct)} different decision objects; answer with exactly one")
    return distinct[0] if distinct else objects[0]


def _validation_summary(error: ValidationError) -> str:
    parts = []
    for problem in error.errors()[:4]:
        where = ".".join(str(p) for p in problem["loc"]) or "object"
        parts.append(f"{where}: {problem['msg']} (got {problem.get('input')!r})"[:160])
    return "; ".join(parts)


def _copied_placeholder(decision: Decision, placeholders: Collection[str]) -> str | None:
    wanted = {p.strip().lower() for p in placeholders}
    for name in ("invalidation", "reasoning", "note"):
        text = getattr(decision, name).strip().strip("<>\"' ").lower()
        if text and text in wanted:
            return name
    return None


def parse_decision(
    text: str | None,
    price: float,
    *,
    example: Mapping[str, Any] | None = None,
    placeholders: Collection[str] = (),
) -> Decision:
    """Text → checked Decision, or NoJsonError / InvalidDecisionError with a message fit to quote back.
    `example`: an object the prompt shows; an answer that merely repeats it is no decision. `placeholders`:
    the template's `<...>` texts; an answer whose texts are those placeholders copied the template."""
    data = extract_json(text, example)
    try:
        decision = DecisionSchema.model_validate(data).to_decision()
    except ValidationError as error:
        raise InvalidDecisionError(f"schema: {_validation_summary(error)}") from None
    except DomainError as error:
        raise InvalidDecisionError(f"decision: {error}") from None
    copied = _copied_placeholder(decision, placeholders)
    if copied is not None:
        raise InvalidDecisionError(
            f"{copied}: copies the prompt's template text instead of describing this snapshot"
        )
    try:
        decision.check_prices(price)
    except DomainError as error:
        raise InvalidDecisionError(f"price logic: {error}") from None
    return decision
