"""Where the in-process replay's microseconds per symbol-bar go, and the floor of the shared cycle (#18).

The README replay of bench/replay.py (BTC and ETH, 2023-01-15 → 2024-05-14, rules engine, kill-switch out of
reach, 5m intrabar, data and indicators loaded before the clock starts) is run four ways, each time replacing
one more piece with a free stand-in, so the differences are what each piece costs:

1. the replay as `aitrader replay` runs it;
2. the engine free: the decisions of run 1, recorded, handed back by a dict lookup (same trades, same guard
   reviews, same broker work, real snapshots);
3. no trading: an engine that always holds, real snapshots (no entries, no open positions, no guard reviews);
4. the cycle's base: that engine and one snapshot per symbol built once and handed back every hour.

So 1 − 2 is the engine, 2 − 3 the trading (guard, paper broker with its 5m walk, exits), 3 − 4 the snapshots and
4 the cycle itself (clock, state, account, kill-switch check, decision log, summary). backtesting.py's bare EMA
cross is measured in the same run for the budget #18 sets (≥ 0.5× its bars per CPU-second).
Figures: CPU µs per symbol-bar, min of `--repeat` runs.

Usage: .venv/bin/python bench/replay_floor.py [--data DIR] [--repeat N]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from replay import DATA, END, START, SYMBOLS, backtesting_py, build_source  # noqa: E402

from bot.settings import load_settings  # noqa: E402
from core.decide.rules import RulesEngine  # noqa: E402
from core.evaluation.replay import ReplaySpec, run_replay_cycle  # noqa: E402
from core.market.offline import OfflineMarketData  # noqa: E402
from core.models import AccountView, Decision, DecisionRecord, Snapshot  # noqa: E402

HOLD = DecisionRecord(status="ok", engine="rules", model="rules", attempts=1, decision=Decision.hold("bench", 0.0))


class Recording:
    """The rules engine, its every decision kept by (symbol, as_of)."""

    name = "rules"

    def __init__(self) -> None:
        self.engine = RulesEngine()
        self.decisions: dict[tuple[str, datetime], DecisionRecord] = {}

    async def decide(self, snapshot: Snapshot, account: AccountView) -> DecisionRecord:
        record = self.engine.decide_sync(snapshot, account)
        self.decisions[snapshot.symbol, snapshot.as_of] = record
        return record


class Recorded:
    name = "rules"

    def __init__(self, decisions: dict[tuple[str, datetime], DecisionRecord]) -> None:
        self.decisions = decisions

    async def decide(self, snapshot: Snapshot, account: AccountView) -> DecisionRecord:
        return self.decisions[snapshot.symbol, snapshot.as_of]


class Holding:
    name = "rules"

    async def decide(self, snapshot: Snapshot, account: AccountView) -> DecisionRecord:
        return HOLD


class OneSnapshot:
    """Each symbol's first snapshot, handed back for every hour."""

    def __init__(self, source: object) -> None:
        self.source = source
        self.built: dict[str, Snapshot] = {}

    async def snapshot(self, symbol: str, as_of: datetime) -> Snapshot:
        built = self.built.get(symbol)
        if built is None:
            built = self.built[symbol] = await self.source.snapshot(symbol, as_of)  # type: ignore[attr-defined]
        return built

    def __getattr__(self, name: str) -> object:
        return getattr(self.source, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not args.data.is_dir():
        sys.exit(f"data folder {args.data} not found (expected ../shared/data next to the repo)")
    market = OfflineMarketData(args.data)
    settings = load_settings(env_file=None)
    limits = replace(settings.risk_limits(), max_drawdown_pct=100.0, daily_loss_limit_pct=100.0)
    spec = ReplaySpec(symbols=SYMBOLS, start=START, end=END, engine="rules", costs=settings.cost_model(),
                      max_leverage=settings.max_leverage, limits=limits)
    source, bars = build_source(market, spec)

    def micros(engine: object, snapshots: object) -> tuple[float, object]:
        cpu = time.process_time()
        result = asyncio.run(run_replay_cycle(market, spec, engine, source=snapshots, bars=bars))  # type: ignore[arg-type]
        symbol_bars = len(result.step_ms) * len(result.symbols)
        return (time.process_time() - cpu) / symbol_bars * 1e6, result

    recording = Recording()
    _, reference = micros(recording, source)  # warm-up and the decisions to hand back
    runs = (
        ("1. the replay", lambda: (RulesEngine(), source)),
        ("2. engine free (decisions handed back)", lambda: (Recorded(recording.decisions), source)),
        ("3. no trading (always hold)", lambda: (Holding(), source)),
        ("4. the cycle's base (one snapshot per symbol)", lambda: (Holding(), OneSnapshot(source))),
    )
    best: dict[str, float] = {}
    for label, make in runs:
        for _ in range(args.repeat):
            us, result = micros(*make())
            best[label] = min(best.get(label, us), us)
        if label.startswith("2."):
            assert result.trades == reference.trades, "handing back the decisions must not change the trades"  # type: ignore[attr-defined]
    (_, cpu), bt_bars = min((backtesting_py(market) for _ in range(args.repeat)), key=lambda r: r[0][1])
    bt_us = cpu / bt_bars * 1e6
    one, two, three, four = best.values()
    print(f"CPU µs per symbol-bar, min of {args.repeat} (README replay, rules engine, 5m intrabar, every bar decided):")
    for label, us in best.items():
        print(f"  {us:6.1f}  {label}")
    print(f"  by piece: engine {one - two:.1f}, trading {two - three:.1f}, snapshots {three - four:.1f}, "
          f"cycle base {four:.1f}")
    print(f"  backtesting.py EMA cross {bt_us:.1f} µs per bar: #18's ≥ 0.5× allows {2 * bt_us:.1f} µs per symbol-bar; "
          f"the replay is {bt_us / one:.2f}×, with the engine free {bt_us / two:.2f}×, with engine and snapshots "
          f"free {bt_us / (two - three + four):.2f}×")


if __name__ == "__main__":
    main()
