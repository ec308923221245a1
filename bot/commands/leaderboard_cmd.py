"""`aitrader leaderboard [--json]`: the strategy versions recorded in DATABASE_PATH, ranked (DESIGN §4.8)."""

from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table

from bot.leaderboard import ranked_results
from bot.wiring import CycleFactory


async def print_leaderboard(*, as_json: bool, limit: int) -> int:
    rows = await ranked_results(CycleFactory.from_environment(), limit)
    if as_json:
        print(json.dumps([r.to_json() for r in rows], indent=2, sort_keys=True))
        return 0
    table = Table(title="Leaderboard · ranked by Sharpe")
    for column in ("version", "engine", "model", "window", "oos", "source", "trades", "return", "Sharpe", "max DD", "PF"):
        table.add_column(column)
    for r in rows:
        def fmt(v: float | None, suffix: str = "") -> str:
            return "n/a" if v is None else f"{v:,.2f}{suffix}"

        table.add_row(r.version, r.engine, r.model or "—", f"{r.window[0][:10]} → {r.window[1][:10]}",
                      "yes" if r.oos else "no", r.source, str(r.trades), fmt(r.total_return_pct, " %"), fmt(r.sharpe),
                      fmt(r.max_drawdown_pct, " %"), fmt(r.profit_factor))
    console = Console(width=max(Console().width, 150))
    console.print(table if rows else "No results recorded yet: run aitrader replay or aitrader compare.")
    return 0
