"""Market Pulse: per symbol price, 24 h change, funding, regime and the engine's one-line view, with a
compact sparkline grid — built here, enqueued through the notifier. Failures are reported, never raised."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import pandas as pd

from core.models import AccountView, Action, DecisionRecord, Snapshot
from core.protocols import CycleRecord, DecisionEngine, DecisionLog, MarketData, SnapshotSource
from core.risk.guard import Reason, data_problem
from core.services.cycle import cycle_id_for, signal_id_for
from core.services.summaries import PulseItem
from jobs.failures import describe, report_failure

log = logging.getLogger(__name__)

SPARK_TIMEFRAME = "1h"
WINDOW_HOURS = 24  # one window for the text's change and the picture's sparkline and its figure
SPARK_BARS = WINDOW_HOURS + 1  # the reference close 24 h back, then every close since
VIEW_CHARS = 140


class PulseNotifier(Protocol):
    async def pulse(self, as_of: datetime, items: Sequence[PulseItem], closes: dict[str, pd.Series]) -> bool: ...

    async def alert(self, text: str) -> None: ...


def one_line_view(record: DecisionRecord) -> str:
    """The engine's view in one line: action, confidence and the first sentence of its reasoning."""
    decision = record.decision
    if decision is None:
        return f"{record.engine}: no view ({record.status})"
    label = {Action.LONG: "long bias", Action.SHORT: "short bias", Action.HOLD: "no trade", Action.CLOSE: "exit"}[
        decision.action
    ]
    first = decision.reasoning.strip().split(". ")[0].strip().rstrip(".")
    # a confidence belongs to a trade idea; "no trade (98 %)" read as 98 % sure of not trading
    line = f"{record.engine}: {label}"
    if decision.action in (Action.LONG, Action.SHORT):
        line += f", {decision.confidence:.0%} confidence"
    if first:
        line += f" — {first}"
    return line if len(line) <= VIEW_CHARS else line[: VIEW_CHARS - 1].rstrip() + "…"


def what_the_bot_does(entry: CycleRecord | None) -> str:
    """What this hour's cycle did about the view: entered, refused by the guard (and why), or nothing."""
    if entry is None or entry.verdict is None:
        return ""
    verdict = entry.verdict
    if verdict.approved:
        return "the bot entered"
    detail = f": {verdict.detail}" if verdict.detail else ""
    if verdict.reason in ("position_exists", "paused"):
        return {"position_exists": "already in a position", "paused": "paused, no new entries"}[verdict.reason]
    return f"refused by the risk guard ({verdict.reason}{detail})"[:160]


def window_closes(candles: pd.DataFrame) -> pd.Series:
    """The closes of the pulse window: the one 24 h before the last bar, and every close since."""
    closes = candles["close"].astype(float)
    if closes.empty:
        return closes
    return closes[closes.index >= closes.index[-1] - pd.Timedelta(hours=WINDOW_HOURS)]


def change_24h_pct(candles: pd.DataFrame, as_of: datetime) -> float | None:
    """Close of the last bar against the close 24 h before it (None when history is shorter)."""
    if candles.empty:
        return None
    closes = candles["close"].astype(float)
    last_time = closes.index[-1]
    earlier = closes[closes.index <= last_time - pd.Timedelta(hours=24)]
    if earlier.empty or earlier.iloc[-1] <= 0:
        return None
    return (float(closes.iloc[-1]) / float(earlier.iloc[-1]) - 1) * 100


async def run_pulse(
    *,
    as_of: datetime,
    symbols: Sequence[str],
    snapshots: SnapshotSource,
    market: MarketData,
    engine: DecisionEngine,
    notifier: PulseNotifier,
    account: AccountView | None = None,
    decision_log: DecisionLog | None = None,
) -> bool:
    """Build and enqueue the Market Pulse for `as_of`. True when a post was enqueued; every problem is
    logged and sent to the admins, and one symbol failing only leaves that symbol out. A symbol whose data
    is stale is left out too (its price is not "now"); the cycle already told the admins, once. With
    `decision_log`, a symbol this hour's cycle already decided shows that decision and what the guard made
    of it (no second engine call, so text and trade agree)."""
    try:
        account = account or AccountView(equity=0.0, available=0.0)
        items: list[PulseItem] = []
        closes: dict[str, pd.Series] = {}
        problems: list[str] = []
        for symbol in symbols:
            try:
                snapshot: Snapshot = await snapshots.snapshot(symbol, as_of)
                problem = data_problem(snapshot)
                if problem is not None and problem[0] is Reason.STALE_DATA:
                    log.info("pulse: %s left out: %s", symbol, problem[1])
                    continue
                candles = await market.candles(symbol, SPARK_TIMEFRAME, until=as_of, limit=SPARK_BARS + 1)
                logged = None
                if decision_log is not None:
                    logged = await decision_log.signal(signal_id_for(cycle_id_for(as_of), symbol))
                record = logged.record if logged is not None and logged.record is not None else None
                if record is None:
                    record = await engine.decide(snapshot, account)
            except Exception as error:
                log.warning("pulse: %s skipped: %s", symbol, error)
                problems.append(f"{symbol}: {type(error).__name__}: {error}")
                continue
            items.append(
                PulseItem(
                    symbol=symbol,
                    price=snapshot.price,
                    change_24h_pct=change_24h_pct(candles, as_of),
                    funding_rate=snapshot.funding_rate,
                    regime=str(snapshot.regime),
                    view=one_line_view(record),
                    doing=what_the_bot_does(logged),
                    sentiment=snapshot.sentiment,
                )
            )
            closes[symbol] = window_closes(candles)
        if problems:
            await notifier.alert("Market Pulse left out " + "; ".join(problems))
        if not items:
            return False
        return await notifier.pulse(as_of, items, closes)
    except Exception as error:
        await report_failure(notifier.alert, "Market Pulse failed", f"Market Pulse failed: {describe(error)}")
        return False
