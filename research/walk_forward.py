"""Walk-forward research harness (issue #14): the project's own replay, out of sample, fold by fold.

Runs `core.evaluation.replay.run_replay_cycle` — the live cycle, risk guard and paper broker, with fees,
slippage and funding — over each test fold, and prints profit factor, return per fold and per symbol,
max drawdown and Sharpe of the stitched out-of-sample equity, the buy-and-hold baseline of the same
accounting, and the same with costs doubled. Parameters are fixed before a run (`--set`), or chosen per
fold on its anchored train window only (`--select KEY=V1,V2`, best train Sharpe), never on the test fold.

    nice .venv/bin/python research/walk_forward.py --engine trend --set min_spread_atr=0.5
    nice .venv/bin/python research/walk_forward.py --engine rules            # the old default
    nice .venv/bin/python research/walk_forward.py --engine trend --select atr_stop_multiple=2,2.5,3

`--limit KEY=VALUE` overrides a RiskLimits field (e.g. `--limit stale_exit_h=240`). At most two worker
processes (the machine is shared). Results are written as JSON to `--out` when given.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import math
import os
import sys
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.config import CostModel, RiskLimits  # noqa: E402
from core.evaluation.metrics import max_drawdown_pct, positions_of, sharpe_sortino  # noqa: E402

DATA = ROOT / ".." / "shared" / "data" / "binance-perps-train" / "main"
SYMBOLS = ("BTC/USDT:USDT", "ETH/USDT:USDT", "XRP/USDT:USDT", "LTC/USDT:USDT", "ADA/USDT:USDT")
# Five test folds, 2020-04 → 2024-05 (the first quarter of 2020 warms the daily EMA50 up and is the first
# train window); each fold's train window is everything before it (anchored).
FOLDS = (
    ("2020-04-01", "2021-01-01"),
    ("2021-01-01", "2021-10-01"),
    ("2021-10-01", "2022-07-01"),
    ("2022-07-01", "2023-04-01"),
    ("2023-04-01", "2024-05-14"),
)
# The lab's split (`aitrader compare --folds 4` over 2020-01-15 → 2024-05-14: five equal parts of the bars,
# the last four tested), so every candidate is measured on both.
LAB_FOLDS = (
    ("2020-12-09T07:00", "2021-10-18T06:00"),
    ("2021-10-18T06:00", "2022-08-27T04:00"),
    ("2022-08-27T04:00", "2023-07-06T03:00"),
    ("2023-07-06T03:00", "2024-05-14T00:00"),
)
SPLITS = {"harness": FOLDS, "lab": LAB_FOLDS}
TRAIN_START = "2020-01-15"
HOURS_PER_YEAR = 8760.0


def bot_limits() -> RiskLimits:
    """The guard limits the bot runs with by default (bot.settings, no .env): correlation groups included."""
    from bot.settings import Settings

    return Settings(_env_file=None).risk_limits()  # type: ignore[call-arg]


def _iso(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


def _value(text: str) -> Any:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if "/" in text:
        return tuple(_value(part) for part in text.split("/"))
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _pairs(items: list[str]) -> dict[str, Any]:
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        out[key.strip()] = _value(value.strip())
    return out


def build_engine(name: str, params: dict[str, Any]) -> Any:
    if name == "trend":
        from core.decide.trend import TrendEngine, TrendParams

        return TrendEngine(TrendParams(**params))
    if name == "rules":  # the original multi-timeframe score engine
        from core.decide.rules import RulesEngine, RulesParams

        return RulesEngine(RulesParams(**params))
    raise SystemExit(f"--engine: unknown engine {name!r}")


def run_window(job: dict[str, Any]) -> dict[str, Any]:
    """One replay of the portfolio over [start, end]; returns what the stitching needs."""
    from core.evaluation.replay import ReplaySpec, run_replay_cycle
    from core.market.offline import OfflineMarketData

    os.environ.setdefault("MALLOC_ARENA_MAX", "2")
    market = OfflineMarketData(DATA)
    cost_mult = job["cost_mult"]
    costs = CostModel(taker_fee_bps=5.0 * cost_mult, slippage_bps=2.0 * cost_mult)
    limits = dataclasses.replace(bot_limits(), **job["limits"])
    spec = ReplaySpec(
        symbols=tuple(job["symbols"]), start=_iso(job["start"]), end=_iso(job["end"]), engine=job["engine"],
        limits=limits, costs=costs, max_leverage=job.get("max_leverage", 5),
    )
    if job["engine"].startswith("baseline:"):
        # the lab's baselines (core/evaluation/baseline_engines.py) through the same accounting
        from core.evaluation.baseline_engines import build_baseline
        from core.evaluation.baseline_replay import replay_baseline_sync

        baseline = build_baseline(job["engine"].split(":", 1)[1], {k: str(v) for k, v in job["params"].items()})
        result = replay_baseline_sync(market, spec, baseline)
    else:
        result = asyncio.run(run_replay_cycle(market, spec, build_engine(job["engine"], job["params"])))
    hold = next((run for run in result.baselines if run.name == "buy_and_hold"), None)
    positions = positions_of(result.trades)
    per_symbol: dict[str, float] = defaultdict(float)
    for trade in result.trades:
        per_symbol[trade.symbol] += trade.net_pnl
    return {
        "start": job["start"], "end": job["end"], "params": job["params"],
        "equity": result.equity.tolist(),
        "hold_equity": (hold.equity if hold is not None else result.equity).tolist(),
        "initial": result.initial_equity,
        "wins": math.fsum(p.net_pnl for p in positions if p.net_pnl > 0),
        "losses": -math.fsum(p.net_pnl for p in positions if p.net_pnl <= 0),
        "positions": len(positions),
        "per_symbol": dict(per_symbol),
        "exits": {r: sum(1 for t in result.trades if t.exit_reason == r) for r in {t.exit_reason for t in result.trades}},
        "paused": any("kill-switch" in m[1] for m in result.markers),
    }


def vol_targeted(returns: np.ndarray, target_pct: float, cap: float = 4.0, days: int = 30) -> np.ndarray:
    """A portfolio-level volatility target over the strategy's own hourly returns: each day's scale is
    target / the realised volatility of the `days` days before it (EWMA), capped at `cap`, 1 while warming up.
    Point in time (a day's scale uses only earlier returns). It assumes the book can be scaled once a day at
    no extra cost and ignores the guard's caps: an upper bound on what sizing by portfolio volatility adds."""
    hours = days * 24
    variance = pd.Series(returns).pow(2).ewm(span=hours, min_periods=hours).mean().shift(1).to_numpy()
    scale = np.ones_like(returns)
    for start in range(0, len(returns), 24):
        v = variance[start]
        if np.isfinite(v) and v > 0.0:
            scale[start:start + 24] = min(cap, target_pct / 100.0 / math.sqrt(v * HOURS_PER_YEAR))
    return returns * scale


def _curve_stats(initial: float, equities: list[list[float]], vol_target: float = 0.0) -> dict[str, float | None]:
    """Stitch fold equity curves by compounding each fold's returns; Sharpe over the hourly returns."""
    returns = np.concatenate([np.diff(np.asarray(e)) / np.asarray(e)[:-1] for e in equities])
    if vol_target > 0.0:
        returns = vol_targeted(returns, vol_target)
    curve = initial * np.cumprod(1.0 + returns)
    sharpe, _ = sharpe_sortino(returns, HOURS_PER_YEAR)
    years = len(returns) / HOURS_PER_YEAR
    total = curve[-1] / initial - 1.0
    return {
        "total_return_pct": total * 100.0,
        "cagr_pct": ((1.0 + total) ** (1.0 / years) - 1.0) * 100.0 if years > 0 and total > -1 else None,
        "max_drawdown_pct": max_drawdown_pct(initial, curve),
        "sharpe": sharpe,
    }


def summarize(folds: list[dict[str, Any]], vol_target: float = 0.0) -> dict[str, Any]:
    initial = folds[0]["initial"]
    wins = sum(f["wins"] for f in folds)
    losses = sum(f["losses"] for f in folds)
    per_symbol: dict[str, float] = defaultdict(float)
    symbol_folds_positive: dict[str, int] = defaultdict(int)
    for f in folds:
        for sym, pnl in f["per_symbol"].items():
            per_symbol[sym] += pnl / f["initial"] * 100.0
            symbol_folds_positive[sym] += pnl > 0
    return {
        "oos": {
            **_curve_stats(initial, [f["equity"] for f in folds], vol_target),
            "profit_factor": wins / losses if losses > 0 else None,
            "positions": sum(f["positions"] for f in folds),
            "folds_positive": sum(f["equity"][-1] > f["initial"] for f in folds),
            "symbols_positive": sum(v > 0 for v in per_symbol.values()),
        },
        "buy_and_hold": _curve_stats(initial, [f["hold_equity"] for f in folds]),
        "per_symbol_pct": dict(per_symbol),
        "folds": [
            {
                "test": [f["start"], f["end"]], "params": f["params"],
                "return_pct": (f["equity"][-1] / f["initial"] - 1.0) * 100.0,
                "max_drawdown_pct": max_drawdown_pct(f["initial"], np.asarray(f["equity"])),
                "profit_factor": f["wins"] / f["losses"] if f["losses"] > 0 else None,
                "positions": f["positions"], "exits": f["exits"], "kill_switch": f["paused"],
                "hold_return_pct": (f["hold_equity"][-1] / f["initial"] - 1.0) * 100.0,
            }
            for f in folds
        ],
    }


def _fmt(v: object) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:+.2f}" if abs(v) < 1000 else f"{v:+.0f}"
    return str(v)


def print_summary(title: str, s: dict[str, Any]) -> None:
    o, h = s["oos"], s["buy_and_hold"]
    print(f"\n== {title}")
    print(f"OOS  PF {_fmt(o['profit_factor'])}  return {_fmt(o['total_return_pct'])}%  CAGR {_fmt(o['cagr_pct'])}%  "
          f"maxDD {_fmt(o['max_drawdown_pct'])}%  Sharpe {_fmt(o['sharpe'])}  positions {o['positions']}  "
          f"folds+ {o['folds_positive']}/{len(s['folds'])}  symbols+ {o['symbols_positive']}/{len(s['per_symbol_pct'])}")
    print(f"B&H  return {_fmt(h['total_return_pct'])}%  maxDD {_fmt(h['max_drawdown_pct'])}%  Sharpe {_fmt(h['sharpe'])}")
    for f in s["folds"]:
        print(f"  fold {f['test'][0]}→{f['test'][1]}  ret {_fmt(f['return_pct'])}%  DD {_fmt(f['max_drawdown_pct'])}%  "
              f"PF {_fmt(f['profit_factor'])}  n {f['positions']}  B&H {_fmt(f['hold_return_pct'])}%"
              f"{'  KILL-SWITCH' if f['kill_switch'] else ''}  params {f['params']}  exits {f['exits']}")
    print("  per symbol (Σ fold net pnl, % of fold equity): "
          + ", ".join(f"{k.split('/')[0]} {_fmt(v)}" for k, v in sorted(s["per_symbol_pct"].items())))


def _sharpe_of(fold: dict[str, Any]) -> float:
    e = np.asarray(fold["equity"])
    sharpe, _ = sharpe_sortino(np.diff(e) / e[:-1], HOURS_PER_YEAR)
    return -math.inf if sharpe is None else sharpe


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", default="trend")
    ap.add_argument("--set", action="append", default=[], help="engine parameter KEY=VALUE (tuples as a/b)")
    ap.add_argument("--limit", action="append", default=[], help="RiskLimits field KEY=VALUE")
    ap.add_argument("--select", action="append", default=[], help="KEY=V1,V2: chosen per fold on its train window")
    ap.add_argument("--symbols", default=",".join(SYMBOLS))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-costx2", action="store_true", help="skip the run with costs doubled")
    ap.add_argument("--folds", default="", help="comma-separated 1-based fold numbers to run (default all)")
    ap.add_argument("--split", choices=sorted(SPLITS), default="harness", help="the harness's five folds or the lab's four")
    ap.add_argument("--vol-target", type=float, default=0.0, help="annual %%: a portfolio volatility target over the OOS returns")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    if not DATA.is_dir():
        print(f"error: no training data at {DATA}", file=sys.stderr)
        return 2
    params, limits = _pairs(args.set), _pairs(args.limit)
    split = SPLITS[args.split]
    folds = [split[int(k) - 1] for k in args.folds.split(",")] if args.folds else list(split)
    dataclasses.replace(bot_limits(), **limits)  # a bad field name fails here, before any work
    symbols = [s.strip() for s in args.symbols.split(",") if s.strip()]
    base = {"engine": args.engine, "limits": limits, "symbols": symbols}
    grid: list[dict[str, Any]] = [{}]
    for item in args.select:
        key, _, values = item.partition("=")
        grid = [{**cell, key: _value(v)} for cell in grid for v in values.split(",")]

    with ProcessPoolExecutor(max_workers=max(1, min(args.workers, 2))) as pool:
        chosen: list[dict[str, Any]] = []
        if len(grid) > 1:
            jobs = [{**base, "params": {**params, **cell}, "start": TRAIN_START, "end": test[0], "cost_mult": 1.0}
                    for test in folds for cell in grid]
            trains = list(pool.map(run_window, jobs))
            for k, test in enumerate(folds):
                cells = trains[k * len(grid):(k + 1) * len(grid)]
                best = max(cells, key=_sharpe_of)
                chosen.append(best["params"])
                print(f"fold {test[0]}: train Sharpe by cell "
                      + ", ".join(f"{c['params']} {_sharpe_of(c):+.2f}" for c in cells) + f" → {best['params']}")
        else:
            chosen = [{**params, **grid[0]}] * len(folds)
        mults = (1.0,) if args.no_costx2 else (1.0, 2.0)
        jobs = [{**base, "params": chosen[k], "start": test[0], "end": test[1], "cost_mult": m}
                for m in mults for k, test in enumerate(folds)]
        runs = list(pool.map(run_window, jobs))
    results = {}
    for i, m in enumerate(mults):
        summary = summarize(runs[i * len(folds):(i + 1) * len(folds)], args.vol_target)
        results[f"costs_x{m:g}"] = summary
        print_summary(f"{args.engine} {params} limits {limits} select {args.select} · costs ×{m:g}", summary)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"engine": args.engine, "params": params, "limits": limits,
                                        "select": args.select, "symbols": symbols, "split": args.split,
                                        "vol_target": args.vol_target, **results}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
