"""`ChannelNotifier`: the Telegram `core.protocols.Notifier` — renders charts and captions and enqueues
posts in the durable outbox, then nudges the publisher. It never talks to Telegram itself, so a cycle is
never held up by flood control.

Dedupe keys (a re-run after a crash enqueues nothing twice):
`entry:<position id>`, `exit:<position id>:<reason>:<epoch s>`, `update:<position id>:<kind>:<epoch s>`,
`pulse:<as_of>`, `daily:<date>`, `weekly:<monday>`, `record:pinned` (then `record:pinned:<hash of the figures>`
for each edit), `alert:<admin id>:<hash of text>:<UTC hour>` (one identical alert per hour).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta

import pandas as pd

from bot.telegram import charts
from bot.telegram.post_format import (
    DailySummary,
    PositionOutcome,
    PulseItem,
    TrackRecordCard,
    alert_text,
    closes_position,
    daily_summary_text,
    entry_caption,
    exit_text,
    position_outcome,
    pulse_text,
    track_record_text,
    update_text,
)
from core.clock import SystemClock
from core.models import ClosedTrade, DecisionRecord, Snapshot, TradeEvent, iso_z
from core.protocols import Clock, DecisionLog, MarketData, TradeHistory
from core.services.outbox import NewPost, Outbox, PostKind

log = logging.getLogger(__name__)

CHART_TIMEFRAME = "1h"
ENTRY_WAIT_S = 60.0  # how long an exit waits for its entry post still being prepared
CHART_BARS = 120
EMA_SPANS = (20, 50)


RECORD_KEY = "record:pinned"


def entry_key(position_id: str) -> str:
    return f"entry:{position_id}"


class ChannelNotifier:
    """Posts entries (chart + caption) and exits (replies) to the channel, alerts to each admin."""

    def __init__(
        self,
        outbox: Outbox,
        *,
        channel_id: str,
        admin_ids: Sequence[int] = (),
        market: MarketData | None = None,
        dry_run: bool | Callable[[], bool] = True,
        kick: Callable[[], None] | None = None,
        clock: Clock | None = None,
        chart_timeframe: str = CHART_TIMEFRAME,
        chart_bars: int = CHART_BARS,
        decision_log: DecisionLog | None = None,
        history: TradeHistory | None = None,
        on_closed: Callable[[], Awaitable[object]] | None = None,
        equity: Callable[[], Awaitable[float]] | None = None,
    ) -> None:
        """`clock` is wall time (the latency clock and alert buckets), not the simulated market clock;
        `kick` is usually `Publisher.kick`; `dry_run` may be a callable reading the runtime state;
        `decision_log` lets an entry announced without its record (a fill found by the monitor) still
        carry the reasoning of its signal; `history` gives the exit that ends a position the result of all
        its legs; `on_closed` runs after such an exit is queued (the pinned track record's refresh);
        `equity` (the account's) states an entry's risk as a share of equity at the stop."""
        self._outbox = outbox
        self.channel_id = str(channel_id)
        self.admin_ids = tuple(admin_ids)
        self._market = market
        self._dry_run = dry_run
        self._kick = kick
        self._clock = clock or SystemClock()
        self._tf = chart_timeframe
        self._bars = chart_bars
        self._decisions = decision_log
        self._history = history
        self._on_closed = on_closed
        self._equity = equity
        self._preparing: dict[str, asyncio.Event] = {}  # entry keys whose chart is being drawn

    @property
    def dry_run(self) -> bool:
        return self._dry_run() if callable(self._dry_run) else self._dry_run

    # ---- Notifier protocol ----------------------------------------------------------------------

    async def entry(self, event: TradeEvent, snapshot: Snapshot | None, record: DecisionRecord | None) -> None:
        announced = self._clock.now()
        key = entry_key(event.position_id)
        if await self._outbox.get(key) is not None:
            return  # re-run after a crash: already enqueued, skip the chart work
        ready = self._preparing.setdefault(key, asyncio.Event())
        try:
            await self._prepare_entry(key, announced, event, snapshot, record)
        finally:
            ready.set()
            if self._preparing.get(key) is ready:
                del self._preparing[key]

    async def _prepare_entry(
        self, key: str, announced: datetime, event: TradeEvent, snapshot: Snapshot | None, record: DecisionRecord | None
    ) -> None:
        if (record is None or snapshot is None) and event.signal_id and self._decisions is not None:
            try:
                logged = await self._decisions.signal(event.signal_id)
            except Exception:
                log.exception("decision log lookup for %s failed; posting without it", event.signal_id)
                logged = None
            if logged is not None:
                record = record or logged.record
                snapshot = snapshot or logged.snapshot
        equity = None
        if self._equity is not None:
            try:
                equity = await self._equity()
            except Exception:
                log.exception("no equity for the %s entry caption; posting without the risk share", event.symbol)
        caption = entry_caption(event, record, snapshot, dry_run=self.dry_run, equity=equity)
        image = await self._entry_image(event, snapshot)
        await self._enqueue(NewPost(key, self.channel_id, "entry", caption, announced, image=image))

    async def exit(self, event: TradeEvent) -> None:
        announced = self._clock.now()
        # The monitor may close a position while the cycle still draws its entry chart: the exit must be
        # queued after its entry, or it would reach the channel first, replying to nothing.
        preparing = self._preparing.get(entry_key(event.position_id))
        if preparing is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(preparing.wait(), ENTRY_WAIT_S)
        stamp = int(event.time.timestamp())
        final = closes_position(event)
        if event.kind == "exit":
            reason = (event.reason or (event.trade.exit_reason if event.trade else "") or "exit").lower()
            key = f"exit:{event.position_id}:{reason}:{stamp}"
            if await self._outbox.get(key) is not None:
                return  # announced already (a re-announce after a restart)
            outcome = await self._outcome(event) if final else None
            text = exit_text(event, dry_run=self.dry_run, outcome=outcome)
            kind: PostKind = "exit"
        else:
            key = f"update:{event.position_id}:{event.kind}:{stamp}"
            text = update_text(event, dry_run=self.dry_run)
            kind = "update"
        post = NewPost(key, self.channel_id, kind, text, announced, reply_to_key=entry_key(event.position_id))
        added = await self._enqueue(post)
        if added and final and self._on_closed is not None:
            try:
                await self._on_closed()
            except Exception:
                log.exception("refreshing after the close of %s failed", event.position_id)

    async def _outcome(self, event: TradeEvent) -> PositionOutcome:
        legs: list[ClosedTrade] = []
        if self._history is not None:
            opened = event.position.entry_time if event.position is not None else None
            if opened is None and event.trade is not None:
                opened = event.trade.entry_time
            try:
                legs = [t for t in await self._history.closed_trades(since=opened) if t.position_id == event.position_id]
            except Exception:
                log.exception("no legs for %s; its exit shows the last leg only", event.position_id)
        return position_outcome(event, legs)

    async def notice(self, html: str) -> None:
        """To the admins, not a warning (the bot started or stopped); `html` is sent as given."""
        now = self._clock.now()
        digest = hashlib.sha1(html.encode()).hexdigest()[:12]
        for admin in self.admin_ids:
            await self._outbox.enqueue(NewPost(f"notice:{admin}:{digest}:{now:%Y%m%d%H%M%S}", str(admin), "notice",
                                               html, now))
        self._nudge()

    async def alert(self, text: str) -> None:
        now = self._clock.now()
        if not self.admin_ids:
            log.warning("admin alert (no TELEGRAM_ADMIN_IDS to send it to): %s", text)
            return
        digest = hashlib.sha1(text.encode()).hexdigest()[:12]
        bucket = now.strftime("%Y%m%d%H")
        for admin in self.admin_ids:
            await self._outbox.enqueue(
                NewPost(f"alert:{admin}:{digest}:{bucket}", str(admin), "alert", alert_text(text), now)
            )
        self._nudge()

    # ---- scheduled posts ------------------------------------------------------------------------

    async def pulse(self, as_of: datetime, items: Sequence[PulseItem], closes: Mapping[str, pd.Series]) -> bool:
        """Market Pulse: one post with a compact sparkline grid. False when this as_of was posted already."""
        announced = self._clock.now()
        key = f"pulse:{iso_z(as_of)}"
        if await self._outbox.get(key) is not None:
            return False
        text = pulse_text(items, as_of, dry_run=self.dry_run)
        image = None
        if any(len(s.dropna()) >= 2 for s in closes.values()):
            image = await self._render(charts.pulse_chart, dict(closes), title="Market Pulse · last 24 h, 1h closes")
        return await self._enqueue(NewPost(key, self.channel_id, "pulse", text, announced, image=image))

    async def daily_summary(self, summary: DailySummary, equity: Sequence[tuple[datetime, float]] = ()) -> bool:
        """The daily post (`summary.days == 1`) or the weekly one (7): once per period."""
        announced = self._clock.now()
        kind: PostKind = "daily" if summary.days == 1 else "weekly"
        key = f"{kind}:{summary.day.isoformat()}"
        if await self._outbox.get(key) is not None:
            return False
        text = daily_summary_text(summary, dry_run=self.dry_run)
        image = None
        if len(equity) >= 2:
            last = summary.day + timedelta(days=summary.days - 1)
            image = await self._render(charts.equity_chart, list(equity), title=f"Equity to {last}")
        return await self._enqueue(NewPost(key, self.channel_id, kind, text, announced, image=image))

    async def track_record(self, card: TrackRecordCard, equity: Sequence[tuple[datetime, float]] = ()) -> bool:
        """The pinned track record: posted and pinned once, then edited in place with each new version.
        A version identical to the last one queued is not queued again (Telegram refuses a no-op edit)."""
        announced = self._clock.now()
        text = track_record_text(card, dry_run=self.dry_run)
        figures = text.rsplit("\nUpdated ", 1)[0]
        digest = hashlib.sha1(figures.encode()).hexdigest()[:12]
        pinned = await self._outbox.get(RECORD_KEY)
        if pinned is not None and (pinned.text.rsplit("\nUpdated ", 1)[0] == figures or
                                   await self._outbox.get(f"{RECORD_KEY}:{digest}") is not None):
            return False
        image = None
        if len(equity) >= 2:
            image = await self._render(charts.equity_chart, list(equity), title="Track record · equity")
        if pinned is None:
            return await self._enqueue(NewPost(RECORD_KEY, self.channel_id, "record", text, announced, image=image))
        edit = NewPost(f"{RECORD_KEY}:{digest}", self.channel_id, "record_edit", text, announced, image=image,
                       reply_to_key=RECORD_KEY)
        return await self._enqueue(edit)

    async def arena(self, day: str, text: str, curves: Mapping[str, Sequence[tuple[datetime, float]]],
                    initial_equity: float) -> bool:
        """The daily arena standings (ARENA_DAILY_POST) with the contestants' equity chart: once per day."""
        key = f"arena:{day}"
        if await self._outbox.get(key) is not None:
            return False
        image = None
        if any(len(points) >= 2 for points in curves.values()):
            image = await self._render(charts.arena_chart, dict(curves), initial_equity=initial_equity,
                                       title=f"Arena to {day}")
        return await self._enqueue(NewPost(key, self.channel_id, "arena", text, self._clock.now(), image=image))

    # ---- internals ------------------------------------------------------------------------------

    async def _enqueue(self, post: NewPost) -> bool:
        added = await self._outbox.enqueue(post)
        self._nudge()
        return added

    def _nudge(self) -> None:
        if self._kick is not None:
            self._kick()

    async def _render(self, draw: Callable[..., bytes], *args: object, **kwargs: object) -> bytes | None:
        """A chart off the event loop; a failed chart never stops its post, which then goes out as text."""
        try:
            return await asyncio.to_thread(draw, *args, **kwargs)
        except Exception:
            log.exception("chart %s failed; posting text only", getattr(draw, "__name__", draw))
            return None

    async def _entry_image(self, event: TradeEvent, snapshot: Snapshot | None) -> bytes | None:
        pos = event.position
        if self._market is None or pos is None:
            return None
        # bars closed by the decision (or by the fill, which happens at a bar's open): never later ones
        until = snapshot.as_of if snapshot is not None else event.time
        try:
            candles = await self._market.candles(event.symbol, self._tf, until=until, limit=self._bars + 60)
        except Exception:
            log.exception("no candles for the %s entry chart; posting text only", event.symbol)
            return None
        if candles.empty:
            return None
        return await self._render(
            charts.entry_chart,
            candles,
            entry=pos.entry_price,
            stop=pos.stop_loss,
            targets=list(pos.take_profit),
            side=pos.side,
            liquidation=pos.liquidation_price,
            ema_spans=EMA_SPANS,
            title=f"{event.symbol.split(':')[0]} · {self._tf}",  # the symbol as the caption names it
            bars=self._bars,
        )
