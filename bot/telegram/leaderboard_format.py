"""The `/leaderboard` reply: ranked strategy versions, one compact line each (Telegram HTML)."""

from __future__ import annotations

from html import escape

from core.evaluation.leaderboard import Board


def _num(value: float | None, suffix: str = "", signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+,.1f}{suffix}" if signed else f"{value:,.2f}{suffix}"


def leaderboard_text(board: Board) -> str:
    lines = ["<b>Leaderboard</b> · ranked by Sharpe"]
    if board.live_version:
        lines.append(f"Channel runs: <code>{escape(board.live_version)}</code>")
    if not board.rows:
        lines.append("No results recorded yet: run <code>aitrader replay</code> or <code>aitrader compare</code>.")
        return "\n".join(lines)
    for i, r in enumerate(board.rows, 1):
        live = " ◀ live" if r.version == board.live_version else ""
        engine = escape(r.engine + (f" · {r.model}" if r.model and r.model not in r.engine else ""))
        lines.append(
            f"{i}. <code>{escape(r.version)}</code> {engine}{live}\n"
            f"   {r.window[0][:10]} → {r.window[1][:10]} · {'OOS' if r.oos else 'in-sample'} · {r.trades} trades · "
            f"{_num(r.total_return_pct, ' %', signed=True)} · Sharpe {_num(r.sharpe)} · "
            f"DD {_num(r.max_drawdown_pct, ' %')} · PF {_num(r.profit_factor)}"
        )
    return "\n".join(lines)
