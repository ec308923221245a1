"""The arena's standings as Telegram HTML: the admins' `/arena` reply and the daily arena post's caption.
Figures are `core.evaluation.arena_standings.Standing` (compare's definitions); this only words them."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from core.evaluation.arena_standings import Standing

ARENA_OFF = ("The arena is off. Set ARENA to the contestants (e.g. <code>ARENA=rules,llm:MODEL_A,llm:MODEL_B</code>) "
             "and restart: each trades its own paper book on the same snapshots; only the primary engine posts.")


def _standing_lines(rank: int, row: Standing) -> list[str]:
    win = "n/a" if row.win_rate is None else f"{row.win_rate * 100:.0f} %"
    lines = [
        f"{rank}. <b>{escape(row.name)}</b> {row.equity:,.2f} ({row.return_pct:+.2f} %)",
        f"   max DD {row.max_drawdown_pct:.2f} % · positions closed {row.trades} (win rate {win}) · open {row.open_positions}",
    ]
    if row.failures:
        lines.append(f"   ⚠️ {row.failures} cycle(s) failed, last: {escape(row.last_error or 'n/a')}")
    return lines


def arena_text(rows: Sequence[Standing], *, primary: str, initial_equity: float) -> str:
    lines = [f"<b>Arena</b> · {len(rows)} contestant(s) on paper from {initial_equity:,.0f} · "
             f"the channel posts only {escape(primary)}"]
    for rank, row in enumerate(rows, 1):
        lines += _standing_lines(rank, row)
    lines.append("Win rate per position; figures as <code>aitrader compare</code> reports them.")
    return "\n".join(lines)
