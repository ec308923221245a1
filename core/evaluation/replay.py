"""Replay: the live TradingCycle over history on a simulated clock (DESIGN §3, §4.6, §6).

Nothing here decides or executes anything itself: it wires the same TradingCycle, RiskGuard and
PaperBroker the bot runs, with a SeriesSnapshotSource (indicators computed once per series, sliced per
bar), a numpy ReplayBarFeed (5m/15m bars when on disk, so stops and targets resolve inside the hour),
in-memory stores and a SimulatedClock, then steps `as_of` over every base bar close from start to end.
Equity is marked after every step; positions still open at the end close at the last price ("end").
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from core.clock import SimulatedClock
from core.config import CostModel, RiskLimits
from core.errors import UserInputError
from core.evaluation.bar_spill import BarSpill
from core.evaluation.baselines import BaselineRun, buy_and_hold, buy_and_hold_spot, flat
from core.evaluation.feed import Bars, BarSeries, ReplayBarFeed, SymbolBars, covers
from core.evaluation.replay_log import CountingDecisionLog, DecisionTally, approved_records
from core.evaluation.report import ReplayResult
from core.execution.paper_book import MemoryBookStore
from core.execution.paper_broker import PaperBroker
from core.market.offline import OfflineMarketData
from core.market.sentiment import SentimentReader, SentimentSnapshots
from core.market.snapshot import BarArrays, SeriesSnapshotSource
from core.market.timeframes import from_ms, index_ms, tf_ms, to_ms
from core.models import DecisionRecord, RuntimeState, Snapshot, TradeEvent, iso_z, require_utc
from core.protocols import DecisionEngine
from core.risk.guard import RiskGuard
from core.services.cycle import TradingCycle
from core.services.memory_log import MemoryDecisionLog
from core.services.memory_state import MemoryStateStore
from core.services.state_change import change_state

ProgressCallback = Callable[[int, int], None]
BASE_TIMEFRAME = "1h"
INTRABAR_TIMEFRAMES = ("5m", "15m")
WARMUP_BARS = 500
PROGRESS_EVERY = 200  # steps between progress callbacks (and event-loop yields)


@dataclass(frozen=True, slots=True)
class ReplaySpec:
    symbols: tuple[str, ...]
    start: datetime  # first as_of (a base bar close); rounded up to the base bar when it is not one
    end: datetime  # last as_of; rounded down
    engine: str
    initial_equity: float = 10_000.0
    limits: RiskLimits = field(default_factory=RiskLimits)
    costs: CostModel = field(default_factory=CostModel)
    max_leverage: int = 5
    base_timeframe: str = BASE_TIMEFRAME
    intrabar: bool = True  # resolve stops/targets on 5m/15m bars when they are on disk
    # Evaluation policy for the drawdown kill-switch: 0 = stay paused to the end (live: until an admin's
    # /resume); N > 0 = resume after N days paused, as an admin would, with the drawdown peak re-based to the
    # equity at that moment (otherwise the same drawdown would trip it again at once).
    resume_after_days: float = 0.0

    def __post_init__(self) -> None:
        require_utc(self.start, "start")
        require_utc(self.end, "end")
        if not self.symbols:
            raise UserInputError("--symbols: give at least one symbol")
        if len(set(self.symbols)) != len(self.symbols):
            raise UserInputError(f"--symbols: {', '.join(self.symbols)} names a symbol twice")
        if not self.initial_equity > 0:
            raise UserInputError(f"--initial-equity: must be positive, got {self.initial_equity}")
        if not self.resume_after_days >= 0:
            raise UserInputError(f"--resume-after-days: must be >= 0, got {self.resume_after_days}")


class ReplayNotifier:
    """Followers are not told anything during a replay; entries, exits and alerts are only counted."""

    def __init__(self) -> None:
        self.entries = 0
        self.exits = 0
        self.alerts: list[str] = []

    async def entry(self, event: TradeEvent, snapshot: Snapshot | None, record: DecisionRecord | None) -> None:
        self.entries += 1

    async def exit(self, event: TradeEvent) -> None:
        self.exits += 1

    async def alert(self, text: str) -> None:
        self.alerts.append(text)


def plan_steps(market: OfflineMarketData, spec: ReplaySpec) -> np.ndarray:
    """The as_of of every step (UTC ms): each base bar close in [start, end] that every symbol has.

    A window reaching past the data is clipped to it (asking for "2023-01-01" on data whose first hourly
    bar closes at 01:00 starts there); a window with no base bar of some symbol is a UserInputError.
    """
    step = tf_ms(spec.base_timeframe)
    start_ms = -(-to_ms(spec.start) // step) * step
    end_ms = to_ms(spec.end) // step * step
    for symbol in spec.symbols:
        base = market.frame(symbol, spec.base_timeframe)
        if base.empty:
            raise UserInputError(f"--symbols: no {spec.base_timeframe} bars for {symbol} in {market.folder}")
        times = index_ms(base)
        first_close, last_close = int(times[0]) + step, int(times[-1]) + step
        if start_ms > last_close or end_ms < first_close:
            raise UserInputError(
                f"--start/--end: {symbol} has {spec.base_timeframe} bars closing from {from_ms(first_close):%Y-%m-%dT%H:%MZ}"
                f" to {from_ms(last_close):%Y-%m-%dT%H:%MZ}; the window {spec.start:%Y-%m-%dT%H:%MZ} → "
                f"{spec.end:%Y-%m-%dT%H:%MZ} is outside it"
            )
        start_ms, end_ms = max(start_ms, first_close), min(end_ms, last_close)
    if end_ms <= start_ms:
        raise UserInputError(
            f"--end: the window {spec.start:%Y-%m-%dT%H:%MZ} → {spec.end:%Y-%m-%dT%H:%MZ} holds fewer than two "
            f"{spec.base_timeframe} bar closes that all symbols have"
        )
    return np.arange(start_ms, end_ms + 1, step, dtype=np.int64)


def snapshot_symbols(market: OfflineMarketData, spec: ReplaySpec) -> tuple[str, ...]:
    """The traded symbols, plus the BTC filter's reference when the filter is on and the reference is on disk but
    not traded: the cycle reads its point-in-time 4 h change from its own snapshot, as live (#17)."""
    reference = spec.limits.btc_filter_symbol
    if spec.limits.btc_filter_drop_pct <= 0 or reference in spec.symbols or reference not in market.symbol_list():
        return tuple(spec.symbols)
    return (*spec.symbols, reference)


def _bars(arrays: BarArrays) -> Bars:
    return Bars(arrays.timeframe_ms, arrays.open_time_ms, arrays.open, arrays.high, arrays.low, arrays.close)


def symbol_bars(source: SeriesSnapshotSource, symbol: str, base_timeframe: str,
                finer: Mapping[str, BarSeries] | None = None) -> SymbolBars:
    funding = source.funding(symbol)
    return SymbolBars(symbol, _bars(source.bars(symbol, base_timeframe)), finer or {}, funding.time_ms, funding.rate)


def intrabar_bars(market: OfflineMarketData, symbol: str, base_timeframe: str, window_ms: tuple[int, int],
                  spill: BarSpill | None = None) -> dict[str, BarSeries]:
    """The finest of INTRABAR_TIMEFRAMES stored for `symbol` that covers the window (as feed.ReplayBarFeed
    decides), as arrays of the window only — their OHLC in `spill`'s file when given; {} when none does and
    the symbol resolves on its base bars. Each frame read is dropped from the market's cache."""
    base_ms = tf_ms(base_timeframe)
    start_ms, end_ms = window_ms[0] - base_ms, window_ms[1]  # the first step's fill is in the bar opening at start
    native = market.native_timeframes(symbol)
    for tf in INTRABAR_TIMEFRAMES:
        if tf not in native or tf_ms(tf) >= base_ms:
            continue
        frame = market.frame(symbol, tf)
        times = index_ms(frame)
        lo, hi = int(np.searchsorted(times, start_ms, "left")), int(np.searchsorted(times, end_ms, "right"))
        bars = Bars(tf_ms(tf), np.array(times[lo:hi], dtype=np.int64),
                    *(np.array(frame[c].to_numpy()[lo:hi], dtype=np.float64) for c in ("open", "high", "low", "close")))
        market.forget(symbol, tf)
        if covers(bars, start_ms, end_ms):
            return {tf: bars if spill is None else spill.put(bars)}
    return {}


def replay_bars(market: OfflineMarketData, spec: ReplaySpec, source: SeriesSnapshotSource,
                window_ms: tuple[int, int], spill: BarSpill | None = None) -> list[SymbolBars]:
    """The paper broker's bars per traded symbol: the base bars and, with `spec.intrabar`, the one finer
    timeframe each symbol resolves on (its OHLC in `spill`'s file when given)."""
    return [
        symbol_bars(source, s, spec.base_timeframe,
                    intrabar_bars(market, s, spec.base_timeframe, window_ms, spill) if spec.intrabar else None)
        for s in spec.symbols
    ]


def close_prices(market: OfflineMarketData, spec: ReplaySpec) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(close time ms, close) of the base bars inside the window, per symbol, for the report chart."""
    step = tf_ms(spec.base_timeframe)
    start_ms, end_ms = to_ms(spec.start), to_ms(spec.end)
    out = {}
    for symbol in spec.symbols:
        frame = market.frame(symbol, spec.base_timeframe)
        close_ms = index_ms(frame) + step
        keep = (close_ms >= start_ms) & (close_ms <= end_ms)
        out[symbol] = (close_ms[keep], frame["close"].to_numpy()[keep])
    return out


def _engine_stats(tally: DecisionTally, notifier: ReplayNotifier) -> tuple[dict[str, int], dict[str, int]]:
    """(deterministic decision counts for report.json, run-dependent LLM usage: tokens and cache hits)."""
    stats = {"decisions": sum(tally.statuses.values()), "entries_filled": notifier.entries,
             "alerts": len(notifier.alerts)}
    stats.update({f"action_{k}": v for k, v in sorted(tally.actions.items())})
    stats.update({f"status_{k}": v for k, v in sorted(tally.statuses.items())})
    usage = {"prompt_tokens": tally.prompt_tokens, "completion_tokens": tally.completion_tokens,
             "cached_decisions": tally.cached}
    return stats, usage


async def run_replay_cycle(
    market: OfflineMarketData,
    spec: ReplaySpec,
    engine: DecisionEngine,
    *,
    progress: ProgressCallback | None = None,
    decision_log: MemoryDecisionLog | None = None,
    source: SeriesSnapshotSource | None = None,
    clock: SimulatedClock | None = None,
    progress_every: int = PROGRESS_EVERY,
    sentiment: SentimentReader | None = None,
    bars: Sequence[SymbolBars] | None = None,
) -> ReplayResult:
    """Replay `spec` through the live cycle. `source` and `bars` (replay_bars) may be given pre-built
    (benchmarks, tests); `clock`
    when the engine was built on it (the LLM engine's daily token budget follows simulated days);
    `progress_every` 1 when every step is slow (an LLM engine), so the progress moves every bar."""
    steps = plan_steps(market, spec)
    start, end = from_ms(int(steps[0])), from_ms(int(steps[-1]))
    if source is None:
        source = await asyncio.to_thread(
            SeriesSnapshotSource.from_offline,
            market,
            snapshot_symbols(market, spec),
            start,
            end,
            warmup_bars=WARMUP_BARS,
            bar_timeframes=(),  # intrabar bars: only the one timeframe each symbol resolves on, below
        )
    window_ms = (int(steps[0]), int(steps[-1]))
    spill = None
    if bars is None:
        spill = BarSpill()  # the intrabar OHLC in a temporary file, a chunk per symbol in memory (#18)
        bars = replay_bars(market, spec, source, window_ms, spill)
    series = list(bars)
    feed = ReplayBarFeed(series, base_timeframe_ms=tf_ms(spec.base_timeframe), window_ms=window_ms)

    if clock is None:
        clock = SimulatedClock(start)
    clock.set(start)
    store = MemoryBookStore()
    broker = PaperBroker(
        feed=feed, store=store, clock=clock, initial_equity=spec.initial_equity, costs=spec.costs, limits=spec.limits
    )
    log: MemoryDecisionLog | CountingDecisionLog = decision_log if decision_log is not None else CountingDecisionLog()
    notifier = ReplayNotifier()
    guard = RiskGuard(spec.limits, spec.costs)
    defaults = RuntimeState(paused=False, dry_run=True, max_leverage=spec.max_leverage, symbols=spec.symbols)
    cycle_state = MemoryStateStore()
    cycle = TradingCycle(
        # recorded news (#17): each snapshot gets the sentiment of the headlines first seen by its as_of
        snapshots=source if sentiment is None else SentimentSnapshots(source, sentiment),
        engine=engine,
        guard=guard,
        broker=broker,
        log=log,
        notifier=notifier,
        state=cycle_state,
        defaults=defaults,
        clock=clock,
        market_data=None,  # the guard reads the 24h volume from the snapshot; history has no spread
        concurrent=False,
        record_last_cycle=False,
    )

    total = len(steps)
    equity = np.empty(total, dtype=np.float64)
    exposure = np.zeros(total, dtype=bool)
    approved = 0
    reasons: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    markers: list[tuple[int, str]] = []
    kill = KillSwitchLog(spec.resume_after_days)
    state_store = cycle_state
    for k, as_of_ms in enumerate(steps.tolist()):
        as_of = from_ms(as_of_ms)
        clock.set(as_of)
        if kill.due(as_of_ms):
            await change_state(state_store, defaults, clock, "evaluation", "resume", paused=False, pause_reason="")
            await broker.rebase_peak()
            kill.resumed(as_of_ms)
            markers.append((as_of_ms, "resumed (evaluation policy)"))
        summary = await cycle.run(as_of)
        approved += len(summary.approved)
        if kill.paused_at is None and (await state_store.load_state(defaults)).paused:
            kill.paused(as_of_ms, broker.equity())
            markers.append((as_of_ms, "trading paused (kill-switch)"))
        kill.count(k)
        if summary.rejected:
            reasons.update(summary.rejected.values())
        if summary.errors:
            errors.update(summary.errors.values())
        equity[k] = broker.equity()
        exposure[k] = bool(await broker.positions())
        if progress is not None and (k % progress_every == 0 or k == total - 1):
            progress(k + 1, total)
            await asyncio.sleep(0)
    await broker.close_all(reason="end")
    if spill is not None:
        spill.close()
    equity[-1] = broker.equity()
    if errors:
        raise RuntimeError(f"the cycle failed during replay: {dict(errors)}")

    trades = tuple(await store.closed_trades())
    if isinstance(log, CountingDecisionLog):
        tally, entries = log.tally(), log.approved()
    else:
        tally, entries = DecisionTally.of(log.records()), approved_records(log.records())
    regimes = {r.signal_id: r.snapshot.regime.value for r in entries if r.snapshot is not None}
    runs = standard_baselines(series, steps, spec)
    stats, usage = _engine_stats(tally, notifier)
    stats["intrabar_timeframe_ms"] = feed.timeframe_ms  # the coarsest; per symbol in ReplayResult.intrabar_ms
    return ReplayResult(
        engine=spec.engine,
        symbols=spec.symbols,
        start=start,
        end=end,
        initial_equity=spec.initial_equity,
        bar_seconds=tf_ms(spec.base_timeframe) // 1000,
        step_ms=steps,
        equity=equity,
        exposure=exposure,
        trades=trades,
        baselines=runs,
        guard_approved=approved,
        guard_rejected=sum(reasons.values()),
        guard_reasons=dict(reasons),
        engine_stats=stats,
        settings=settings_summary(spec),
        run_stats=usage,
        alerts=tuple(notifier.alerts),
        markers=tuple(markers),
        entry_regimes=regimes,
        kill_switch=kill.summary(steps),
        intrabar_ms=dict(feed.resolution),
    )


def standard_baselines(bars: list[SymbolBars], steps: np.ndarray, spec: ReplaySpec) -> tuple[BaselineRun, ...]:
    """What every report compares against: buy-and-hold as a perp and as spot (labelled), and flat."""
    return (
        buy_and_hold(bars, steps, spec.initial_equity, spec.costs),
        buy_and_hold_spot(bars, steps, spec.initial_equity, spec.costs),
        flat(steps, spec.initial_equity),
    )


class KillSwitchLog:
    """When the drawdown kill-switch paused the replay, when the evaluation policy resumed it, and how many
    bars it stayed paused: the report says what it did instead of a long window silently trading nothing."""

    def __init__(self, resume_after_days: float) -> None:
        self.resume_ms = int(resume_after_days * 86_400_000)
        self.paused_at: int | None = None
        self.events: list[dict[str, object]] = []
        self._paused_from_step: int | None = None
        self.bars_paused = 0

    def due(self, as_of_ms: int) -> bool:
        return self.paused_at is not None and self.resume_ms > 0 and as_of_ms - self.paused_at >= self.resume_ms

    def paused(self, as_of_ms: int, equity: float) -> None:
        self.paused_at = as_of_ms
        self.events.append({"paused": iso_z(from_ms(as_of_ms)), "equity": equity, "resumed": None, "bars_paused": 0})

    def resumed(self, as_of_ms: int) -> None:
        self.events[-1]["resumed"] = iso_z(from_ms(as_of_ms))
        self.paused_at = None

    def count(self, step: int) -> None:
        if self.paused_at is not None:
            self.bars_paused += 1
            self.events[-1]["bars_paused"] = int(self.events[-1]["bars_paused"]) + 1  # type: ignore[call-overload]

    def summary(self, steps: np.ndarray) -> dict[str, object]:
        policy = (
            f"resume after {self.resume_ms / 86_400_000:g} days paused, drawdown peak re-based"
            if self.resume_ms
            else "stay paused to the end (live: until an admin's /resume)"
        )
        return {"policy": policy, "fired": len(self.events), "bars_paused": self.bars_paused,
                "bars": len(steps), "events": self.events}


def settings_summary(spec: ReplaySpec) -> Mapping[str, object]:
    """The limits and costs a report was made with, so a reader can reproduce it."""
    limits = {name: getattr(spec.limits, name) for name in spec.limits.__slots__}
    costs = {name: getattr(spec.costs, name) for name in spec.costs.__slots__}
    limits["correlation_groups"] = [list(g) for g in spec.limits.correlation_groups]
    return {"limits": limits, "costs": costs, "max_leverage": spec.max_leverage, "intrabar": spec.intrabar}


__all__ = [
    "ReplayNotifier",
    "ReplaySpec",
    "close_prices",
    "plan_steps",
    "replay_bars",
    "run_replay_cycle",
    "settings_summary",
    "symbol_bars",
]
