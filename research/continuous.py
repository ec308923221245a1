"""One continuous replay 2020-04 → 2024-05 (no fold resets): what the kill-switch does over the whole span.

    nice .venv/bin/python research/continuous.py --risk 1.0,0.75 --kill 20,25
    nice .venv/bin/python research/continuous.py --set signal=tsmom --set allow_shorts=true --risk 0.5,0.75
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import walk_forward as wf

from core.evaluation.metrics import max_drawdown_pct, sharpe_sortino


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", default="trend")
    ap.add_argument("--risk", default="1.0")
    ap.add_argument("--kill", default="20")
    ap.add_argument("--start", default=wf.FOLDS[0][0])
    ap.add_argument("--end", default=wf.FOLDS[-1][1])
    ap.add_argument("--set", action="append", default=[], help="engine parameter KEY=VALUE")
    args = ap.parse_args()
    for risk in (float(r) for r in args.risk.split(",")):
        for kill in (float(k) for k in args.kill.split(",")):
            r = wf.run_window({"engine": args.engine, "params": wf._pairs(args.set), "symbols": list(wf.SYMBOLS), "cost_mult": 1.0,
                               "limits": {"risk_per_trade_pct": risk, "max_drawdown_pct": kill},
                               "start": args.start, "end": args.end})
            e = np.asarray(r["equity"])
            sharpe, _ = sharpe_sortino(np.diff(e) / e[:-1], wf.HOURS_PER_YEAR)
            pf = r["wins"] / r["losses"] if r["losses"] else float("nan")
            print(f"{args.engine} {' '.join(args.set)} risk {risk}% kill-switch {kill}%: return {(e[-1] / e[0] - 1) * 100:+.1f}%  "
                  f"maxDD {max_drawdown_pct(e[0], e):.1f}%  Sharpe {sharpe:.2f}  PF {pf:.2f}  positions "
                  f"{r['positions']}  kill-switch fired: {'yes' if r['paused'] else 'no'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
