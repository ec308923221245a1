"""The JSON the dashboard serves (DESIGN §4.9), built from the app's services; plain dicts and lists only.

Nothing here reads a setting or a secret: what a payload can show is what these services return."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from core.config import RiskLimits
from core.evaluation.metrics import max_drawdown_pct
from core.models import AuditEntry, ClosedTrade, Position
from core.protocols import CycleRecord
from core.trade_stats import legs_of_positions_closed, trade_stats

MAX_TRADES = 500


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def track_record(
    equity: Sequence[tuple[datetime, float]], legs: Sequence[ClosedTrade], open_ids: set[str]
) -> dict[str, Any]:
    """Equity curve and the per-position figures of `core.trade_stats` over the positions that finished."""
    figures = trade_stats(legs_of_positions_closed(legs, since=None, open_ids=open_ids))
    values = np.fromiter((v for _, v in equity), dtype=np.float64, count=len(equity))
    drawdown = max_drawdown_pct(float(values[0]), values) if len(values) else 0.0
    return {
        "equity": [[iso(t), round(v, 2)] for t, v in equity],
        "positions": figures.positions,
        "legs": figures.legs,
        "win_rate": figures.win_rate,
        "profit_factor": figures.profit_factor,
        "net_pnl": round(figures.net_pnl, 2),
        "max_drawdown_pct": round(drawdown, 3),
    }


def position(p: Position) -> dict[str, Any]:
    return {
        "id": p.id,
        "symbol": p.symbol,
        "side": p.side,
        "qty": p.qty,
        "entry_price": p.entry_price,
        "entry_time": iso(p.entry_time),
        "leverage": p.leverage,
        "stop_loss": p.stop_loss,
        "take_profit": list(p.take_profit),
        "liquidation_price": p.liquidation_price,
        "targets_hit": p.targets_hit,
        "signal_id": p.signal_id,
    }


def trade(t: ClosedTrade) -> dict[str, Any]:
    return {
        "position_id": t.position_id,
        "symbol": t.symbol,
        "side": t.side,
        "entry_time": iso(t.entry_time),
        "entry_price": t.entry_price,
        "exit_time": iso(t.exit_time),
        "exit_price": t.exit_price,
        "qty": t.qty,
        "exit_reason": t.exit_reason,
        "net_pnl": round(t.net_pnl, 2),
        "fees": round(t.fees, 2),
        "signal_id": t.signal_id,
    }


def recent_trades(legs: Sequence[ClosedTrade], limit: int) -> list[dict[str, Any]]:
    return [trade(t) for t in sorted(legs, key=lambda t: t.exit_time, reverse=True)[:limit]]


def why(entry: CycleRecord) -> dict[str, Any]:
    """The reasoning behind a signal, as /why shows it in chat."""
    record, verdict = entry.record, entry.verdict
    decision = record.decision if record is not None else None
    return {
        "signal_id": entry.signal_id,
        "symbol": entry.symbol,
        "as_of": iso(entry.as_of),
        "engine": record.engine if record else None,
        "model": record.model if record else None,
        "status": record.status if record else None,
        "action": str(decision.action) if decision else None,
        "confidence": decision.confidence if decision else None,
        "stop_loss": decision.stop_loss if decision else None,
        "take_profit": list(decision.take_profit) if decision else [],
        "reasoning": decision.reasoning if decision else (record.error if record else None),
        "invalidation": decision.invalidation if decision else None,
        "verdict": None if verdict is None else {
            "approved": verdict.approved, "reason": verdict.reason, "detail": verdict.detail,
            "checks": list(verdict.checks),
        },
        "error": entry.error,
    }


def audit(entries: Sequence[AuditEntry]) -> list[dict[str, Any]]:
    return [{"at": iso(e.at), "actor": e.actor, "action": e.action, "old": e.old, "new": e.new} for e in entries]


def risk(limits: RiskLimits) -> dict[str, Any]:
    return {k: _plain(v) for k, v in dataclasses.asdict(limits).items()}


def _plain(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)
