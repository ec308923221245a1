"""Refresh the round-2 table in docs/strategy.md from research/results/r2_*.json (between its markers)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tables

DOC = Path(__file__).resolve().parents[1] / "docs" / "strategy.md"
ORDER = [
    ("tsmom_regime_funding", "**tsmom + regime filter + funding decile (default)**"),
    ("tsmom_regime_filter", "tsmom + regime filter"), ("tsmom_stop", "tsmom with a stop"),
    ("default_long_only", "default, long-only"), ("tsmom_stop_long", "tsmom with a stop, long-only"), ("tsmom_regime_long", "tsmom + regime, long-only"),
    ("tsmom_funding_decile", "tsmom + funding decile"),
    ("tsmom_regime_trail2", "tsmom + regime + 2 % trail after TP1"), ("trend_default", "EMA trend (round 1)"),
    ("regime_filter", "EMA trend + regime filter"), ("two_phase_trail", "EMA trend + two-phase trailing"),
    ("lock_only", "EMA trend + lock at +2.5 % only"), ("trail2_only", "EMA trend + 2 % trail after TP1 only"),
    ("funding_decile", "EMA trend + funding decile"), ("trend_vol10", "EMA trend + portfolio vol target 10 %"),
]


INPUTS = [
    ("tsmom_regime_funding", "default (BTC filter 2 %, funding_avg_24h decile veto)"),
    ("tsmom_regime_filter", "default without the funding input"),
    ("tsmom_regime_btc_filter_off", "default without the funding input, BTC filter off (`BTC_FILTER_DROP_PCT=0`)"),
    ("trend_default", "EMA trend (round 1), BTC filter 2 %"),
    ("trend_btc_filter_off", "EMA trend (round 1), BTC filter off"),
]


def fill(text: str, block: str, rows: list[tuple[str, str]]) -> str:
    body = "\n".join(tables.round2(rows).splitlines()[2:])
    new, n = re.subn(rf"(<!-- {block} -->\n)(?:.*?\n)?(<!-- /{block} -->)", lambda m: m.group(1) + body + "\n" + m.group(2),
                     text, flags=re.DOTALL)
    if n != 1:
        raise SystemExit(f"docs/strategy.md: no <!-- {block} --> block")
    return new


def main() -> int:
    DOC.write_text(fill(fill(DOC.read_text(), "r2 rows", ORDER), "inputs rows", INPUTS))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
