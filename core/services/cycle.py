"""TradingCycle: snapshot → decide → guard → execute → persist → notify, the one implementation used
live, in demo and in replay (DESIGN §3).

Idempotent per hour: the cycle id is derived from `as_of` ("2024-03-01T12"), and a (cycle_id, symbol)
already in the decision log is skipped, so re-running an hour after a crash never doubles an entry.
Live, the engine's memory (core.services.engine_memory) is saved after each cycle; replay passes no keeper.
The CycleRecord (snapshot, decision record, verdict, signal id) is stored before the broker executes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from functools import cache

from core.models import (
    AccountView,
    Action,
    AuditEntry,
    Decision,
    DecisionRecord,
    GuardVerdict,
    OrderIntent,
    Position,
    RuntimeState,
    Snapshot,
    TradeEvent,
)
from core.protocols import (
    Broker,
    Clock,
    CycleRecord,
    DecisionEngine,
    DecisionLog,
    MarketData,
    Notifier,
    SnapshotSource,
    StateStore,
)
from core.risk.guard import Reason, ReviewContext, RiskGuard, atr_stop, data_problem
from core.services.engine_memory import MemoryKeeper
from core.services.state_change import DATA_WARNING_KEY, LAST_CYCLE_KEY, change_state

log = logging.getLogger(__name__)

BREAKER_DAY_KEY = "daily_breaker_day"


def cycle_id_for(as_of: datetime) -> str:
    """One id per UTC hour: a re-run of the same hour is the same cycle."""
    t = as_of if as_of.tzinfo is UTC else as_of.astimezone(UTC)
    # %-formatting: half the cost of the f-string with format specs, and this runs every bar of a replay
    return "%04d-%02d-%02dT%02d" % (t.year, t.month, t.day, t.hour)  # noqa: UP031


def signal_id_for(cycle_id: str, symbol: str) -> str:
    return f"{cycle_id}-{_pair(symbol)}"


@cache
def _pair(symbol: str) -> str:
    """BTC/USDT:USDT → BTCUSDT (a handful of symbols, each once per symbol-bar of a replay)."""
    return symbol.split(":", 1)[0].replace("/", "")


@dataclass(frozen=True, slots=True)
class _Decided:
    """A symbol whose decision is an entry and that still needs the guard."""

    cycle_id: str
    symbol: str
    as_of: datetime
    signal_id: str
    snapshot: Snapshot
    record: DecisionRecord


def with_pending(account: AccountView, intent: OrderIntent) -> AccountView:
    """The account as the guard must see it once `intent` is sent: one more position, less free margin."""
    pending = Position.opened(
        intent, id=f"pending-{intent.signal_id}", qty=intent.qty, price=intent.reference_price,
        when=intent.created_at, liquidation_price=intent.est_liquidation,
    )
    return replace(account, positions=(*account.positions, pending), available=account.available - pending.margin)


@dataclass(slots=True)
class CycleSummary:
    cycle_id: str
    as_of: datetime
    decisions: dict[str, str] = field(default_factory=dict)  # symbol -> action (or "skipped"/"error")
    approved: list[str] = field(default_factory=list)  # symbols whose intent went to the broker
    rejected: dict[str, str] = field(default_factory=dict)  # symbol -> reason code
    errors: dict[str, str] = field(default_factory=dict)  # symbol -> error text
    skipped: list[str] = field(default_factory=list)  # already done in this cycle
    data_problems: dict[str, str] = field(default_factory=dict)  # symbol -> why its data is unfit to enter on
    events: list[TradeEvent] = field(default_factory=list)
    duration_ms: float = 0.0


class TradingCycle:
    def __init__(
        self,
        *,
        snapshots: SnapshotSource,
        engine: DecisionEngine,
        guard: RiskGuard,
        broker: Broker,
        log: DecisionLog,
        notifier: Notifier,
        state: StateStore,
        defaults: RuntimeState,
        clock: Clock,
        market_data: MarketData | None = None,  # live tickers for the spread/volume filters
        concurrent: bool = True,  # replay may run symbols one after another (no gather overhead)
        record_last_cycle: bool = True,
        memory: MemoryKeeper | None = None,  # the live bot's: the engine's memory saved after each cycle
    ) -> None:
        self._snapshots = snapshots
        self._engine = engine
        self._guard = guard
        self._broker = broker
        self._log = log
        self._notifier = notifier
        self._state = state
        self._defaults = defaults
        self._clock = clock
        self._market_data = market_data
        self._concurrent = concurrent
        self._record_last = record_last_cycle
        self._memory = memory
        self._breaker_alerted_day = ""
        self._breaker_checked_day: date | None = None
        self._btc_change: tuple[datetime, float | None] | None = None  # (as_of, change): one read per cycle
        self._reference: tuple[datetime, Snapshot] | None = None  # the BTC filter symbol's snapshot, when traded

    async def run(self, as_of: datetime) -> CycleSummary:
        started = time.perf_counter()
        cycle_id = cycle_id_for(as_of)
        summary = CycleSummary(cycle_id=cycle_id, as_of=as_of)
        events = await self._broker.sync(as_of)
        if events:
            summary.events.extend(events)
            await self._announce(events)
        state = await self._state.load_state(self._defaults)
        account = await self._broker.account()
        state = await self._kill_switch(state, account)
        day = (as_of if as_of.tzinfo is UTC else as_of.astimezone(UTC)).date()
        if self._breaker_checked_day != day:
            await self._restore_breaker(day)
        # Decisions run concurrently (LLM calls are slow); the guard and the broker then see the symbols
        # one at a time, in the admins' order, each review counting the intents approved before it.
        if self._concurrent and len(state.symbols) > 1:
            decided: list[_Decided | BaseException | None] = list(
                await asyncio.gather(
                    *(self._decide(cycle_id, symbol, as_of, state, account, summary) for symbol in state.symbols),
                    return_exceptions=True,
                )
            )
        else:
            decided = []
            for symbol in state.symbols:
                try:
                    decided.append(await self._decide(cycle_id, symbol, as_of, state, account, summary))
                except Exception as error:
                    decided.append(error)
        for symbol, item in zip(state.symbols, decided, strict=True):
            try:
                if isinstance(item, BaseException):
                    raise item
                if item is not None:
                    account = await self._act(item, account, state, summary)
            except Exception as error:
                summary.errors[symbol] = f"{type(error).__name__}: {error}"
                summary.decisions[symbol] = "error"
        if self._record_last:
            await self._state.set_value(LAST_CYCLE_KEY, as_of.astimezone(UTC).isoformat())
        if self._memory is not None:
            await self._memory.save(as_of)
        await self._data_warning(summary)
        summary.duration_ms = (time.perf_counter() - started) * 1000
        if summary.errors:
            log.warning("cycle %s errors: %s", cycle_id, summary.errors)
        return summary

    async def monitor(self, as_of: datetime) -> list[TradeEvent]:
        """Between cycles: bring the book up to `as_of` (stops, targets, trailing, stale, funding,
        liquidation), announce what happened and trip the kill-switch if the drawdown limit is reached."""
        events = await self._broker.sync(as_of)
        if events:
            await self._announce(events)
        state = await self._state.load_state(self._defaults)
        await self._kill_switch(state, await self._broker.account())
        return events

    async def _kill_switch(self, state: RuntimeState, account: AccountView) -> RuntimeState:
        limits = self._guard.limits
        if (
            not state.paused
            and account.peak_equity > 0
            and account.equity <= account.peak_equity * (1 - limits.max_drawdown_pct / 100)
        ):
            reason = (
                f"{Reason.DRAWDOWN_KILL_SWITCH}: equity {account.equity:.2f} is "
                f"{limits.max_drawdown_pct}% below the peak {account.peak_equity:.2f}"
            )
            state = await change_state(
                self._state, self._defaults, self._clock, "system", "pause", paused=True, pause_reason=reason
            )
            await self._alert(f"Kill-switch: trading paused. {reason}. Resume with /resume after review.")
        return state

    async def _decide(
        self,
        cycle_id: str,
        symbol: str,
        as_of: datetime,
        state: RuntimeState,
        account: AccountView,
        summary: CycleSummary,
    ) -> _Decided | None:
        """Snapshot and decision for one symbol; finishes holds, closes and skips itself and returns
        what still needs the guard (None when nothing does)."""
        signal_id = signal_id_for(cycle_id, symbol)
        if await self._log.cycle_done(cycle_id, symbol):
            summary.skipped.append(symbol)
            summary.decisions[symbol] = "skipped"
            # a crash between storing the record and executing it: execute again (the broker is
            # idempotent per cycle and symbol), so the entry happens exactly once
            done = await self._log.signal(signal_id)
            if done is not None and done.verdict is not None and done.verdict.intent is not None:
                events = await self._broker.execute(done.verdict.intent)
                summary.events.extend(events)
                await self._announce(events)
            return None
        position = account.position(symbol)
        if state.paused and position is None:
            # no snapshot and no engine call while paused: nothing could be opened (and an LLM costs money)
            verdict: GuardVerdict | None = GuardVerdict(False, None, Reason.PAUSED.value, state.pause_reason or "paused")
            self._guard.counts[Reason.PAUSED.value] += 1
            await self._log.record_cycle(CycleRecord(cycle_id, symbol, as_of, None, None, verdict, signal_id))
            summary.decisions[symbol] = "paused"
            summary.rejected[symbol] = Reason.PAUSED.value
            return None
        try:
            snapshot = await self._snapshots.snapshot(symbol, as_of)
        except Exception as error:
            await self._log.record_cycle(
                CycleRecord(cycle_id, symbol, as_of, None, None, None, signal_id, f"snapshot: {error}")
            )
            raise
        if symbol == self._guard.limits.btc_filter_symbol:
            self._reference = (as_of, snapshot)  # the BTC filter reads it for the other symbols' longs
        problem = data_problem(snapshot) if snapshot.quality else None  # no flag, no problem (most bars)
        if problem is not None:
            summary.data_problems[symbol] = problem[1]
        if problem is not None and position is None:
            # nothing could be opened on this data: no engine call (an LLM costs money), the reason counted
            reason, detail = problem
            verdict = GuardVerdict(False, None, reason.value, detail)
            self._guard.counts[reason.value] += 1
            await self._log.record_cycle(CycleRecord(cycle_id, symbol, as_of, snapshot, None, verdict, signal_id))
            summary.decisions[symbol] = reason.value
            summary.rejected[symbol] = reason.value
            return None
        record = await self._engine.decide(snapshot, account)
        decision = record.effective
        action = decision.action.value
        summary.decisions[symbol] = action
        if action in ("close", "hold") or position is not None:
            verdict = None
            if position is not None and action in ("long", "short"):
                verdict = GuardVerdict(False, None, Reason.POSITION_EXISTS.value, f"{symbol} already open")
                self._guard.counts[Reason.POSITION_EXISTS.value] += 1
                summary.rejected[symbol] = Reason.POSITION_EXISTS.value
            await self._log.record_cycle(CycleRecord(cycle_id, symbol, as_of, snapshot, record, verdict, signal_id))
            exit_reason = "signal" if action == "close" else None
            if position is not None and exit_reason is None and self._guard.news_closes(snapshot, position.side):
                exit_reason = "news"  # NEWS_VETO_CLOSE (#17)
            if exit_reason is not None and position is not None:
                events = await self._broker.close_position(symbol, reason=exit_reason)
                summary.events.extend(events)
                await self._announce(events)
            return None
        return _Decided(cycle_id, symbol, as_of, signal_id, snapshot, record)

    async def _act(
        self, item: _Decided, account: AccountView, state: RuntimeState, summary: CycleSummary
    ) -> AccountView:
        """Guard, store, execute. Returns the account the next symbol's review must see: with this
        intent counted as an open position (paper fills come at the next bar's open, so the broker's
        own account does not show it yet)."""
        symbol, decision = item.symbol, item.record.effective
        ticker = None
        if self._market_data is not None:
            try:
                ticker = await self._market_data.ticker(symbol)
            except Exception as error:  # a missing ticker only disables the spread filter
                log.info("no ticker for %s: %s", symbol, error)
        btc = await self._btc_change_4h(item) if decision.action.value == "long" else None
        context = ReviewContext(state, item.as_of, item.cycle_id, item.signal_id, ticker, btc)
        verdict = self._guard.review(decision, account, item.snapshot, context)
        await self._log.record_cycle(
            CycleRecord(item.cycle_id, symbol, item.as_of, item.snapshot, item.record, verdict, item.signal_id)
        )
        if not verdict.approved:
            assert verdict.reason is not None
            summary.rejected[symbol] = verdict.reason
            if verdict.reason == Reason.DAILY_LOSS_BREAKER:
                await self._daily_breaker(item.as_of, verdict.detail)
            return account
        intent = verdict.intent
        assert intent is not None
        summary.approved.append(symbol)
        events = await self._broker.execute(intent)
        if events:
            summary.events.extend(events)
            await self._announce(events)
        return with_pending(account, intent)

    async def _btc_change_4h(self, item: _Decided) -> float | None:
        """The BTC filter's input: the reference symbol's 4 h change from its own snapshot at this cycle's
        as_of (closed bars only, so point-in-time live, in the demo and in replay). None when the filter is
        off or the reference has no usable data — the guard then skips the rule and says so in its checks."""
        reference = self._guard.limits.btc_filter_symbol
        if self._guard.limits.btc_filter_drop_pct <= 0:
            return None
        if item.symbol == reference:
            snapshot: Snapshot | None = item.snapshot
        elif self._btc_change is not None and self._btc_change[0] == item.as_of:
            return self._btc_change[1]
        elif self._reference is not None and self._reference[0] == item.as_of:
            snapshot = self._reference[1]  # already built this cycle: the same snapshot, not assembled again
        else:
            try:
                snapshot = await self._snapshots.snapshot(reference, item.as_of)
            except Exception as error:
                log.info("no %s snapshot for the BTC filter at %s: %s", reference, item.as_of, error)
                snapshot = None
        change = None
        if snapshot is not None and data_problem(snapshot) is None:
            change = snapshot.extra.get("change_4h_pct")
        self._btc_change = (item.as_of, change)
        return change

    async def _data_warning(self, summary: CycleSummary) -> None:
        """Keep the why-nothing-is-entered line for /status current, and tell the admins once when data
        turns unfit (and once when it is fit again) — not every hour."""
        # paused symbols are not looked at, and every snapshot skipped (a re-run of a finished hour) or failed:
        # nothing learnt, the warning stays as it was
        learnt = False
        for action in summary.decisions.values():
            if action == "paused":
                return
            learnt = learnt or (action != "skipped" and action != "error")
        if not learnt:
            return
        problems = summary.data_problems
        warning = "; ".join(problems[s] for s in sorted(problems)) if problems else ""
        before = await self._state.get_value(DATA_WARNING_KEY) or ""
        if warning == before:
            return
        await self._state.set_value(DATA_WARNING_KEY, warning)
        if warning and not before:
            await self._alert(f"No entries: market data is unfit to trade on — {warning}")
        elif before and not warning:
            await self._alert("Market data is fit to trade on again; entries resume.")

    async def _restore_breaker(self, day: date) -> None:
        """Tell a freshly started guard that the daily-loss breaker already tripped today (read once a
        day: in this process the guard itself remembers a trip)."""
        self._breaker_checked_day = day
        if await self._state.get_value(BREAKER_DAY_KEY) == day.isoformat():
            self._guard.remember_breaker(day)

    async def _daily_breaker(self, as_of: datetime, detail: str) -> None:
        day = as_of.astimezone(UTC).strftime("%Y-%m-%d")
        if self._breaker_alerted_day == day or await self._state.get_value(BREAKER_DAY_KEY) == day:
            return
        self._breaker_alerted_day = day
        await self._state.set_value(BREAKER_DAY_KEY, day)
        await self._state.append_audit(AuditEntry(self._clock.now(), "system", "daily_loss_breaker", "", detail))
        await self._alert(f"Daily loss breaker: {detail}")

    async def _announce(self, events: list[TradeEvent]) -> None:
        for event in events:
            try:
                if event.kind == "entry":
                    entry = await self._log.signal(event.signal_id) if event.signal_id else None
                    await self._notifier.entry(
                        event, entry.snapshot if entry else None, entry.record if entry else None
                    )
                elif event.kind == "exit":
                    await self._notifier.exit(event)
            except Exception as error:  # a post failing must never stop trading
                log.warning("notify %s %s failed: %s", event.kind, event.symbol, error)

    async def _alert(self, text: str) -> None:
        try:
            await self._notifier.alert(text)
        except Exception as error:
            log.warning("alert failed: %s", error)

    async def open_manual(
        self, symbol: str, side: str, as_of: datetime, *, actor: str, risk_pct: float | None = None
    ) -> tuple[GuardVerdict, list[TradeEvent]]:
        """An admin's manual trade (`/open`, freqtrade's /forcelong): the ATR stop the guard would give a
        signal without one, targets at 2R and 3R, sized by `risk_pct` (else the limit), and then the very
        same review, record, execution and announcement as any signal — marked manual in its reasoning and
        signal id. A refusal is returned, never forced through."""
        sign = 1 if side == "long" else -1
        snapshot = await self._snapshots.snapshot(symbol, as_of)
        base = snapshot.timeframes.get("1h") or next(iter(snapshot.timeframes.values()), None)
        stop = atr_stop(sign, snapshot.price, base.atr_14 if base is not None else None, self._guard.limits)
        risk = abs(snapshot.price - stop)
        targets = (snapshot.price + sign * 2 * risk, snapshot.price + sign * 3 * risk)
        decision = Decision(Action(side), 1.0, stop, targets, self._guard.limits.hard_max_leverage,
                            invalidation=f"a close beyond the stop {stop:.6g}",
                            reasoning=f"Manual {side} by {actor}: stop from ATR, targets at 2R and 3R.")
        record = DecisionRecord("ok", "manual", actor, 1, decision)
        stamp = as_of.astimezone(UTC).strftime("%Y-%m-%dT%H%M%S")
        cycle_id = f"manual-{stamp}"
        signal_id = f"{stamp}-{symbol.split(':', 1)[0].replace('/', '')}-manual"
        state = await self._state.load_state(self._defaults)
        account = await self._broker.account()
        limits = self._guard.limits
        if risk_pct is not None:
            self._guard.limits = replace(limits, risk_per_trade_pct=risk_pct)
        try:
            verdict = self._guard.review(decision, account, snapshot, ReviewContext(state, as_of, cycle_id, signal_id))
        finally:
            self._guard.limits = limits
        await self._log.record_cycle(CycleRecord(cycle_id, symbol, as_of, snapshot, record, verdict, signal_id))
        if not verdict.approved or verdict.intent is None:
            return verdict, []
        events = await self._broker.execute(verdict.intent)
        await self._announce(events)
        return verdict, events
