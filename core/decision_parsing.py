"""From an LLM's text to a checked `Decision` (DESIGN §4.4).

Two kinds of failure, because they end differently: `NoJsonError` (nothing parseable came back → the
record is `failed`) and `InvalidDecisionError` (an object came back but broke the schema or the price
logic → `rejected`). Both messages are short and quotable in the repair re-ask.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.models import HARD_MAX_LEVERAGE, MAX_REASONING_CHARS, Action, Decision, DomainError


class NoJsonError(ValueError):
    """The answer held no JSON object."""


class InvalidDecisionError(ValueError):
    """The answer held an object that is not a valid decision for this price."""


class DecisionSchema(BaseModel):
    """The object the LLM must answer with; `strict_json_schema()` is what strict mode sends."""

    model_config = ConfigDict(extra="ignore")

    action: Literal["long", "short", "hold", "close"]
    confidence: float = Field(ge=0.0, le=1.0)
    stop_loss: float | None = Field(default=None, gt=0)
    take_profit: list[float] = Field(default_factory=list, max_length=3)
    leverage: int = Field(default=1, ge=1, le=HARD_MAX_LEVERAGE)
    invalidation: str = ""
    reasoning: str = ""

    @field_validator("action", mode="before")
    @classmethod
    def _lower_action(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("take_profit", mode="before")
    @classmethod
    def _single_target(cls, value: object) -> object:
        if value is None:
            return []
        return [value] if isinstance(value, int | float) and not isinstance(value, bool) else value

    @field_validator("invalidation", "reasoning", mode="before")
    @classmethod
    def _text(cls, value: object) -> object:
        if value is None:
            return ""
        return value[:MAX_REASONING_CHARS] if isinstance(value, str) else value

    def to_decision(self) -> Decision:
        return Decision(
            action=Action(self.action),
            confidence=self.confidence,
            stop_loss=self.stop_loss,
            take_profit=tuple(self.take_profit),
            leverage=self.leverage,
            invalidation=self.invalidation,
            reasoning=self.reasoning,
        )


def _strict(node: Any) -> Any:
    """OpenAI strict mode: every property required, no additional properties, nullable as a type list,
    and none of the keywords some compatible servers refuse (titles, defaults, bounds)."""
    if isinstance(node, list):
        return [_strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    if "anyOf" in node:
        types = [option.get("type") for option in node["anyOf"]]
        if all(isinstance(t, str) for t in types):
            merged = {k: v for option in node["anyOf"] for k, v in option.items() if k != "type"}
            node = {**{k: v for k, v in node.items() if k != "anyOf"}, **merged, "type": types}
    out = {
        k: _strict(v)
        for k, v in node.items()
        if k not in ("title", "description", "default", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                     "maxItems", "minItems", "maxLength")
    }
    if out.get("type") == "object" and "properties" in out:
        out["required"] = list(out["properties"])
        out["additionalProperties"] = False
    return out


def strict_json_schema() -> dict[str, Any]:
    return _strict(DecisionSchema.model_json_schema())


_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)


def extract_json(text: str | None) -> dict[str, Any]:
    """The decision object in an answer: bare JSON, a fenced block, or the first object inside prose.
    Reasoning models' <think> blocks are skipped."""
    if text is None or not text.strip():
        raise NoJsonError("the answer was empty")
    body = _THINK.sub("", text).strip()
    candidates = [body, *(m.group(1).strip() for m in _FENCE.finditer(body))]
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", body):
        try:
            value, _end = decoder.raw_decode(body, match.start())
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    snippet = body[:80].replace("\n", " ")
    raise NoJsonError(f"no JSON object found in the answer (starts: {snippet!r})")


def _validation_summary(error: ValidationError) -> str:
    parts = []
    for problem in error.errors()[:4]:
        where = ".".join(str(p) for p in problem["loc"]) or "object"
        parts.append(f"{where}: {problem['msg']} (got {problem.get('input')!r})"[:160])
    return "; ".join(parts)


def parse_decision(text: str | None, price: float) -> Decision:
    """Text → checked Decision, or NoJsonError / InvalidDecisionError with a message fit to quote back."""
    data = extract_json(text)
    try:
        decision = DecisionSchema.model_validate(data).to_decision()
    except ValidationError as error:
        raise InvalidDecisionError(f"schema: {_validation_summary(error)}") from None
    except DomainError as error:
        raise InvalidDecisionError(f"decision: {error}") from None
    try:
        decision.check_prices(price)
    except DomainError as error:
        raise InvalidDecisionError(f"price logic: {error}") from None
    return decision
