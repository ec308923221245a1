"""Market Pulse: per symbol price, 24 h change, funding, regime and the engine's one-line view, with a
compact sparkline grid — built here, enqueued through the notifier. Failures are reported, never raised."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import pandas as pd

from core.models import AccountView, Action, DecisionRecord, Snapshot
from core.protocols import DecisionEngine, MarketData, SnapshotSource
from core.risk.guard import Reason, data_problem
from core.services.summaries import PulseItem
from jobs.failures import describe, report_failure

log = logging.getLogger(__name__)

SPARK_TIMEFRAME = "1h"
SPARK_BARS = 48
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
    line = f"{record.engine}: {label} ({decision.confidence:.0%})"
    if first:
        line += f" — {first}"
    return line if len(line) <= VIEW_CHARS else line[: VIEW_CHARS - 1].rstrip() + "…"


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
) -> bool:
    """Build and enqueue the Market Pulse for `as_of`. True when a post was enqueued; every problem is
    logged and sent to the admins, and one symbol failing only leaves that symbol out. A symbol whose data
    is stale is left out too (its price is not "now"); the cycle already told the admins, once."""
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
                )
            )
            closes[symbol] = candles["close"].astype(float).iloc[-SPARK_BARS:]
        if problems:
            await notifier.alert("Market Pulse left out " + "; ".join(problems))
        if not items:
            return False
        return await notifier.pulse(as_of, items, closes)
    except Exception as error:
        await report_failure(notifier.alert, "Market Pulse failed", f"Market Pulse failed: {describe(error)}")
        return False
