"""The compare table's `trades (legs)` column: positions, then their legs (partial exits), as the README shows."""

from __future__ import annotations

from rich.console import Console

from bot.commands.compare_cmd import compare_table


def test_trades_column_shows_positions_then_legs() -> None:
    metrics = {"positions": 431, "trades": 431, "legs": 610, "total_return_pct": -4.75}
    console = Console(width=300, record=True)
    console.print(compare_table([{"name": "rules", "engine": "rules", "metrics": metrics}], "t", folds=False))
    text = console.export_text()
    assert "431 (610)" in text and "431 (431)" not in text
