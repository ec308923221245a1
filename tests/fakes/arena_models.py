"""Scripted "models" for the arena tests, served by the OpenAI-compatible stand-in (tests/fakes/openai_server):
each answer is a function of the request's model and of the snapshot in its prompt, so two aliases of one
server trade differently — `trader-long` always buys, `trader-short` always sells (stops and targets placed
from the snapshot's price, as a sound answer would), `broken` answers 500."""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.openai_server import Reply, answer, error


def snapshot_price(body: dict[str, Any]) -> float:
    content = str(body["messages"][-1]["content"])
    return float(json.loads(content.split("Snapshot:\n", 1)[1].split("\n", 1)[0])["price"])


def arena_reply(body: dict[str, Any], delay_s: float = 0.0) -> Reply:
    model = str(body.get("model"))
    if model == "broken":
        return error(500, "the model server fell over", delay_s=delay_s)
    price = snapshot_price(body)
    side = -1 if model.endswith("short") else 1
    decision = {
        "action": "short" if side < 0 else "long", "confidence": 0.8, "leverage": 2,
        "stop_loss": round(price * (1 - side * 0.02), 6),
        "take_profit": [round(price * (1 + side * 0.04), 6), round(price * (1 + side * 0.08), 6)],
        "invalidation": f"a 1h close beyond {price * (1 - side * 0.015):.2f}",
        "reasoning": f"{model} always trades this way: a scripted contestant for the tests.",
    }
    return answer(json.dumps(decision), delay_s=delay_s)
