"""Stand-ins behind the cycle's protocols for tests, the SIGKILL helper and nothing else."""

from __future__ import annotations

import bisect
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np

from core.models import AccountView, Decision, DecisionRecord, Regime, Snapshot, TimeframeView

HOUR_MS = 3_600_000


class ArraySnapshotSource:
    """Snapshots from 1h bar arrays (ts, o, h, l, c): last closed bar, a 14-bar mean-range ATR."""

    def __init__(self, bars: dict[str, np.ndarray], fail: set[str] | None = None) -> None:
        self._bars = bars
        self._times = {s: a[:, 0].astype(np.int64).tolist() for s, a in bars.items()}
        self.fail = fail or set()

    async def snapshot(self, symbol: str, as_of: datetime) -> Snapshot:
        if symbol in self.fail:
            raise RuntimeError(f"no data for {symbol}")
        a = self._bars[symbol]
        i = bisect.bisect_right(self._times[symbol], int(as_of.timestamp() * 1000) - HOUR_MS) - 1
        if i < 30:
            raise LookupError(f"not enough bars for {symbol} at {as_of}")
        t, o, h, low, c = a[i, :5]
        atr = float(np.mean(a[i - 13 : i + 1, 2] - a[i - 13 : i + 1, 3]))
        view = TimeframeView(datetime.fromtimestamp(t / 1000, tz=UTC), o, h, low, c, 1.0, atr_14=atr,
                             ema_20=float(np.mean(a[i - 19 : i + 1, 4])))
        return Snapshot(symbol, as_of, float(c), {"1h": view}, 0.0001, Regime.RANGING, (),
                        {"quote_volume_24h": 1e9, "close_24h_ago": float(a[i - 24, 4])})


class MomentumEngine:
    """Deterministic: long above the 24h-ago close, short below; stop 2 %, targets 3 % and 6 %."""

    name = "momentum-fake"

    async def decide(self, snapshot: Snapshot, account: AccountView) -> DecisionRecord:
        price = snapshot.price
        sign = 1 if price > (snapshot.extra["close_24h_ago"] or price) else -1
        decision = Decision("long" if sign > 0 else "short", 0.7, price * (1 - sign * 0.02),
                            (price * (1 + sign * 0.03), price * (1 + sign * 0.06)), 5, reasoning="momentum")
        return DecisionRecord("ok", self.name, "fake", 1, decision)


class ScriptedEngine:
    name = "scripted"

    def __init__(self, decide: Callable[[Snapshot], Decision]) -> None:
        self._decide = decide
        self.calls = 0

    async def decide(self, snapshot: Snapshot, account: AccountView) -> DecisionRecord:
        self.calls += 1
        return DecisionRecord("ok", self.name, "fake", 1, self._decide(snapshot))


class RecordingNotifier:
    def __init__(self) -> None:
        self.entries: list = []
        self.exits: list = []
        self.alerts: list[str] = []

    async def entry(self, event, snapshot, record) -> None:
        self.entries.append((event, snapshot, record))

    async def exit(self, event) -> None:
        self.exits.append(event)

    async def alert(self, text: str) -> None:
        self.alerts.append(text)


def hours_after(start_ms: float, n: int) -> datetime:
    return datetime.fromtimestamp(start_ms / 1000, tz=UTC) + timedelta(hours=n)
