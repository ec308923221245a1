"""The LLM prompt: a fixed system prompt (`core/decide/prompts/system.md`) and one user message per symbol holding
the snapshot JSON verbatim plus the account context. Compact JSON: every token is paid for every hour.

`PROMPT_VERSION` changes whenever the system prompt or the message layout changes, so the decision cache
never serves an answer to a different question.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta
from functools import cache
from importlib import resources
from typing import Any

from core.models import AccountView, Snapshot

_LAYOUT_VERSION = "1"
RECENT_TRADES_IN_PROMPT = 3
REPAIR_INSTRUCTION = (
    "Your previous answer could not be used: {error}. "
    "Reply with only the corrected JSON object, exactly as specified."
)
# The re-ask quotes the bad answer back: a rambling or runaway answer must not be paid for twice.
MAX_QUOTED_ANSWER_CHARS = 1_000
MAX_QUOTED_ERROR_CHARS = 500
_THINK = re.compile(r"<think>.*?(?:</think>|$)", re.DOTALL | re.IGNORECASE)
_PLACEHOLDER = re.compile(r"<([^<>]+)>")


@cache
def system_prompt() -> str:
    return resources.files("core.decide").joinpath("prompts", "system.md").read_text(encoding="utf-8").strip()


@cache
def prompt_version() -> str:
    digest = hashlib.sha256("\n".join((system_prompt(), REPAIR_INSTRUCTION)).encode()).hexdigest()[:10]
    return f"{_LAYOUT_VERSION}-{digest}"


@cache
def template_placeholders() -> tuple[str, ...]:
    """The `<...>` texts of the answer template (the system prompt's last line). The prompt holds no
    example object that could be returned as an answer; an answer whose texts are these placeholders
    copied the template."""
    template = system_prompt().splitlines()[-1]
    found = tuple(p.strip() for p in _PLACEHOLDER.findall(template))
    if not found or not template.startswith("{"):
        raise ValueError("core/decide/prompts/system.md must end with the answer template")
    return found


def compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=False, ensure_ascii=False)


def canonical_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _num(value: float, digits: int = 6) -> float:
    return float(f"{value:.{digits}g}")


def account_context(snapshot: Snapshot, account: AccountView) -> dict[str, Any]:
    """Equity, this symbol's open position and its last few closed trades with results."""
    position = account.position(snapshot.symbol)
    pos: dict[str, Any] | None = None
    if position is not None:
        pos = {
            "side": position.side,
            "entry": _num(position.entry_price),
            "stop": _num(position.stop_loss),
            "targets": [_num(t) for t in position.take_profit],
            "lev": position.leverage,
            "age_h": _hours(snapshot.as_of - position.entry_time),
            "pnl_pct": round(position.sign * (snapshot.price / position.entry_price - 1) * 100, 2),
        }
    trades = [t for t in account.recent_trades if t.symbol == snapshot.symbol][-RECENT_TRADES_IN_PROMPT:]
    return {
        "equity": round(account.equity, 2),
        "open_positions": len(account.positions),
        "position": pos,
        "last_trades": [
            {"side": t.side, "pnl": round(t.net_pnl, 2), "exit": t.exit_reason, "ago_h": _hours(snapshot.as_of - t.exit_time)}
            for t in trades
        ],
    }


def _hours(delta: timedelta) -> int:
    return max(0, int(delta.total_seconds() // 3600))


def user_message(snapshot_json: dict[str, Any], account_json: dict[str, Any]) -> str:
    return (
        f"Snapshot:\n{compact_json(snapshot_json)}\n"
        f"Account:\n{compact_json(account_json)}\n"
        "Decide."
    )


def build_messages(snapshot: Snapshot, account: AccountView) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": system_prompt()},
        {"role": "user", "content": user_message(snapshot.to_json_dict(prompt=True), account_context(snapshot, account))},
    ]


def repair_messages(messages: list[dict[str, str]], answer: str, error: str) -> list[dict[str, str]]:
    """The conversation plus the bad answer (reasoning dropped, cut to a bounded length) and one re-ask
    quoting what was wrong with it."""
    quoted = _THINK.sub("", answer).strip()
    if len(quoted) > MAX_QUOTED_ANSWER_CHARS:
        quoted = quoted[:MAX_QUOTED_ANSWER_CHARS] + " … (truncated)"
    if len(error) > MAX_QUOTED_ERROR_CHARS:
        error = error[:MAX_QUOTED_ERROR_CHARS] + "…"
    return [
        *messages,
        {"role": "assistant", "content": quoted or "(empty)"},
        {"role": "user", "content": REPAIR_INSTRUCTION.format(error=error)},
    ]
