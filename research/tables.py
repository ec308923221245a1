"""Markdown tables of research/results/*.json (what docs/strategy.md and the README quote).

    .venv/bin/python research/tables.py            # the headline table, every run, per fold of the default
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def _f(value: object, digits: int = 2, suffix: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, (int, float)):
        return f"{value:+.{digits}f}{suffix}" if suffix == " %" else f"{value:.{digits}f}{suffix}"
    return str(value)


def load(name: str) -> dict:
    return json.loads((RESULTS / f"{name}.json").read_text())


def row(label: str, s: dict) -> str:
    o = s["oos"]
    return (f"| {label} | {_f(o['profit_factor'])} | {_f(o['total_return_pct'], 1, ' %')} | "
            f"{_f(o['max_drawdown_pct'], 1)} % | {_f(o['sharpe'])} | {o['positions']} | "
            f"{o['folds_positive']}/{len(s['folds'])} | {o['symbols_positive']}/{len(s['per_symbol_pct'])} |")


HEADER = ("| run | PF | return | max DD | Sharpe | positions | folds + | symbols + |\n"
          "|---|---|---|---|---|---|---|---|")


def headline(names: list[tuple[str, str]]) -> str:
    lines = [HEADER]
    for name, label in names:
        path = RESULTS / f"{name}.json"
        if not path.exists():
            continue
        data = load(name)
        lines.append(row(label, data["costs_x1"]))
        if "costs_x2" in data:
            lines.append(row(f"{label}, costs ×2", data["costs_x2"]))
    return "\n".join(lines)


def folds(name: str) -> str:
    data = load(name)["costs_x1"]
    lines = ["| test fold | return | max DD | PF | positions | buy & hold |", "|---|---|---|---|---|---|"]
    for f in data["folds"]:
        lines.append(f"| {f['test'][0]} → {f['test'][1]} | {_f(f['return_pct'], 1, ' %')} | "
                     f"{_f(f['max_drawdown_pct'], 1)} % | {_f(f['profit_factor'])} | {f['positions']} | "
                     f"{_f(f['hold_return_pct'], 1, ' %')} |")
    per = ", ".join(f"{k.split('/')[0]} {v:+.1f} %" for k, v in sorted(data["per_symbol_pct"].items()))
    return "\n".join(lines) + f"\n\nPer symbol (net P&L summed over the folds, % of the fold's start equity): {per}."


R2_HEADER = ("| candidate | split | PF | return | max DD | Sharpe | folds + | symbols + | costs ×2: PF · return · Sharpe "
             "| return per fold | per symbol (Σ folds) |\n|---|---|---|---|---|---|---|---|---|---|---|")


def r2_row(label: str, split: str, data: dict) -> str:
    s, o = data["costs_x1"], data["costs_x1"]["oos"]
    x2 = data.get("costs_x2", {}).get("oos")
    doubled = f"{_f(x2['profit_factor'])} · {_f(x2['total_return_pct'], 1, ' %')} · {_f(x2['sharpe'])}" if x2 else "—"
    per_fold = " ".join(f"{f['return_pct']:+.1f}" for f in s["folds"])
    per_symbol = " ".join(f"{k.split('/')[0]} {v:+.1f}" for k, v in sorted(s["per_symbol_pct"].items()))
    return (f"| {label} | {split} | {_f(o['profit_factor'])} | {_f(o['total_return_pct'], 1, ' %')} | "
            f"{_f(o['max_drawdown_pct'], 1)} % | {_f(o['sharpe'])} | {o['folds_positive']}/{len(s['folds'])} | "
            f"{o['symbols_positive']}/{len(s['per_symbol_pct'])} | {doubled} | {per_fold} | {per_symbol} |")


def round2(names: list[tuple[str, str]]) -> str:
    """Round 2 (research/run_candidates.sh): each candidate on the harness's and the lab's split."""
    lines = [R2_HEADER]
    for name, label in names:
        for split in ("harness", "lab"):
            path = RESULTS / f"r2_{name}_{split}.json"
            if path.exists():
                lines.append(r2_row(label, split, json.loads(path.read_text())))
    return "\n".join(lines)


def main() -> int:
    if sys.argv[1:2] == ["round2"]:
        names = sorted({p.stem[3:].rsplit("_", 1)[0] for p in RESULTS.glob("r2_*.json")})
        print(round2([(n, n) for n in names]))
        return 0
    names = [(p.stem, p.stem) for p in sorted(RESULTS.glob("*.json"))]
    print(headline(names))
    if (RESULTS / "trend_default.json").exists():
        print()
        print(folds("trend_default"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
