"""The composition root (DESIGN §2): the only module that wires everything together.

settings → Database → stores → market data (offline when MARKET_DATA_DIR, else ccxt) → snapshot source →
engine → guard → paper broker (+ SwitchingBroker with the live factory) → outbox/publisher/notifier
(Telegram sender when a token, else the console) → cycle → ControlService → Bot → Dispatcher(**deps)
→ scheduler (built in dp.startup, stopped in dp.shutdown). `App` is shared by `aitrader run`, `aitrader
demo`, the tests and the bench.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bot.aiogram_types  # noqa: F401  (before aiogram: its types build on first use)

import pyarrow
from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault

from bot.settings import Settings
from bot.telegram.notifier import ChannelNotifier
from bot.telegram.publisher import ConsoleSender, Publisher, TelegramSender
from bot.telegram.reply_format import ADMIN_COMMANDS, PUBLIC_COMMANDS
from core.clock import MinuteClock, SystemClock
from core.errors import UserInputError
from core.execution.broker_switch import SwitchingBroker
from core.execution.paper_broker import MarketDataBarFeed, PaperBroker
from core.market.snapshot import LiveSnapshotSource
from core.models import RuntimeState, TradeEvent
from core.protocols import Clock, MarketData
from core.risk.guard import RiskGuard
from core.services.control import ControlService
from core.services.cycle import TradingCycle
from core.services.track_record import TrackRecord
from handlers.admin import build_admin_router
from handlers.errors import build_errors_router
from handlers.public import build_public_router
from handlers.rate_limit import RateLimiter
from jobs.scheduler import ScheduledJob, build_scheduler, standard_jobs
from storage.book_repo import SqliteBookStore
from storage.db import Database
from storage.decision_log_repo import SqliteDecisionLog
from storage.exchange_repo import SqliteExchangeLedger
from storage.outbox_repo import SqliteOutbox
from storage.state_repo import SqliteStateStore

log = logging.getLogger(__name__)

CHART_TIMEFRAMES = ("15m", "1h", "4h", "1d")
CONSOLE_CHANNEL = "@console"
# Worker threads behind `asyncio.to_thread` (snapshot indicators, chart rendering, first file reads).
# asyncio's default is min(32, cores + 4); every thread that allocates gets a glibc malloc arena of its own
# that is rarely returned. The work is CPU-bound and holds the GIL, so more workers buy little: measured in
# bench/bot.py (10 symbols, a week of cycles), 2 workers → 294–300 MB and a decision→post median of ~290 ms,
# 1 worker → 280 MB and ~290–370 ms, still far under the 1 s target.
WORKER_THREADS = 1


def build_dispatcher(*, rate_limiter: RateLimiter | None = None, **deps: Any) -> Dispatcher:
    """Dispatcher with the routers and the handlers' dependencies by name (`control`, `admin_ids`,
    `charts`, `pulse_now`, `notifier`). Admin router first: non-admins fall through to the public router,
    which refuses admin commands politely and answers unknown ones with /help."""
    dp = Dispatcher(**deps)
    dp.include_routers(build_admin_router(), build_public_router(rate_limiter), build_errors_router())
    return dp


def build_bot(token: str, api_base: str) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_base))
    return Bot(token=token, session=session, default=DefaultBotProperties(parse_mode="HTML"))


async def set_bot_commands(bot: Bot, admin_ids: Sequence[int]) -> None:
    """Public commands for everyone; public + admin commands in each admin's private chat."""
    public = [BotCommand(command=name, description=text) for name, text in PUBLIC_COMMANDS]
    admin = public + [BotCommand(command=name, description=text) for name, text in ADMIN_COMMANDS]
    await bot.set_my_commands(public, scope=BotCommandScopeDefault())
    for admin_id in admin_ids:
        try:
            await bot.set_my_commands(admin, scope=BotCommandScopeChat(chat_id=admin_id))
        except Exception as error:  # e.g. the admin never opened a chat with the bot
            log.warning("could not set the admin commands for %s: %s", admin_id, error)


class MarketCharts:
    """`handlers.public.ChartSource` over market data and bot.telegram.charts (rendered off the event loop)."""

    def __init__(self, market_data: MarketData, clock: Clock) -> None:
        self._md = market_data
        self._clock = clock

    async def symbol_chart(self, symbol: str, timeframe: str) -> bytes:
        if timeframe not in CHART_TIMEFRAMES:
            raise UserInputError(f"timeframe must be one of {', '.join(CHART_TIMEFRAMES)}, got {timeframe!r}")
        known = list(await self._md.symbols())
        if symbol not in known:
            sample = ", ".join(sorted(known)[:6])
            raise UserInputError(f"no data for {symbol}; try one of {sample}")
        candles = await self._md.candles(symbol, timeframe, until=self._clock.now(), limit=150)
        if candles.empty:
            raise UserInputError(f"no {timeframe} candles for {symbol} yet")
        from bot.telegram import charts  # matplotlib loads with the first chart drawn

        return await asyncio.to_thread(charts.symbol_chart, candles, timeframe, symbol=symbol)

    async def equity_chart(self, points: Sequence[tuple[datetime, float]]) -> bytes:
        from bot.telegram import charts

        return await asyncio.to_thread(charts.equity_chart, list(points))


class App:
    """Everything the bot is, built from settings. `start()` connects, wires and starts polling (when there
    is a Telegram token) and the scheduler; `stop()` undoes it. In demo mode (`demo=True`) nothing runs on
    cron: the caller drives the simulated clock with `tick(as_of)`; only the outbox drain is scheduled."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock,
        demo: bool = False,
        console_out: Path = Path("demo-out"),
        market_data: MarketData | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.demo = demo
        self.console_out = console_out
        self._market_data_override = market_data
        self.admin_ids = frozenset(settings.telegram_admin_ids)
        self.defaults = RuntimeState(
            paused=False,
            dry_run=True if demo else settings.dry_run,
            max_leverage=settings.max_leverage,
            symbols=tuple(settings.symbols),
        )
        self.bot: Bot | None = None
        self.dp: Dispatcher | None = None
        self.scheduler: Any = None
        self._polling: asyncio.Task[None] | None = None
        self._dry_run_flag = self.defaults.dry_run
        self._gate_check: asyncio.Task[None] | None = None
        self._built = False

    # ---- wiring ---------------------------------------------------------------------------------

    async def build(self) -> None:
        s = self.settings
        # The loop's default executor, installed before any work is handed to a thread; asyncio shuts it
        # down with the loop (a later App on the same loop replaces it, and the idle pool is collected).
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=WORKER_THREADS, thread_name_prefix="aitrader-worker")
        )
        # pyarrow (pandas' feather reader) through the system allocator: its default mimalloc pool keeps
        # freed pages mapped, ~12 MB more resident for ten symbols in bench/bot.py.
        pyarrow.set_memory_pool(pyarrow.system_memory_pool())
        self.credentials: Any = None  # the demo never talks to an exchange (and skips ccxt's ~100 MB)
        self.live_gate: Any = None
        if not self.demo:
            from core.execution.exchange_client import ExchangeCredentials

            self.credentials = ExchangeCredentials(
                s.exchange_id,
                api_key=s.exchange_api_key.get_secret_value() if s.exchange_api_key else None,
                secret=s.exchange_secret.get_secret_value() if s.exchange_secret else None,
                testnet=s.exchange_testnet,
            )
            if self.credentials.has_keys:  # without keys live trading is refused before the gate is asked
                from core.execution.live_gate import LiveGate

                self.live_gate = LiveGate(self.credentials, s.symbols)
        self.db = await Database(s.database_path).connect()
        self.state_store = SqliteStateStore(self.db)
        self._dry_run_flag = (await self.state_store.load_state(self.defaults)).dry_run
        self.market_data = self._market_data_override or self._market_data()
        self.snapshots = LiveSnapshotSource(self.market_data)
        self.engine = self._engine()
        limits, costs = s.risk_limits(), s.cost_model()
        self.guard = RiskGuard(limits, costs)
        self.book = SqliteBookStore(self.db)
        # the track record: paper legs and the live broker's legs (its own ledger), one history
        self.history = TrackRecord(self.book, SqliteExchangeLedger(self.db))
        self.decision_log = SqliteDecisionLog(self.db)
        self.paper = PaperBroker(
            # live exchange data: 5m bars, so the minute monitor sees a stop within minutes of it being
            # touched; offline files (demo, MARKET_DATA_DIR) may hold only 1h
            feed=MarketDataBarFeed(self.market_data, "5m" if self._exchange_data else "1h"),
            store=self.book,
            clock=self.clock,
            initial_equity=s.initial_equity,
            costs=costs,
            limits=limits,
        )
        self.broker = SwitchingBroker(self.paper, self._live_factory(), self.state_store, self.defaults)

        token = s.telegram_bot_token.get_secret_value() if s.telegram_bot_token else None
        if token:
            self.bot = build_bot(token, s.telegram_api_base)
            sender: Any = TelegramSender(self.bot)
            channel = s.telegram_channel_id
            if channel is None:
                raise UserInputError("TELEGRAM_CHANNEL_ID is not set: the bot needs a channel to post signals to")
        else:
            sender = ConsoleSender(self.console_out)
            channel = s.telegram_channel_id or CONSOLE_CHANNEL
        self.outbox = SqliteOutbox(self.db)
        self.publisher = Publisher(self.outbox, sender, clock=SystemClock())
        self.notifier = ChannelNotifier(
            self.outbox,
            channel_id=channel,
            admin_ids=sorted(self.admin_ids),
            market=self.market_data,
            dry_run=lambda: self._dry_run_flag,
            kick=self.publisher.kick,
            clock=SystemClock(),
            decision_log=self.decision_log,
            history=self.history,
            on_closed=self.record_now,
            equity=self._equity,
        )
        self.publisher.set_failure_hook(self.notifier.alert)
        self.cycle = TradingCycle(
            snapshots=self.snapshots,
            engine=self.engine,
            guard=self.guard,
            broker=self.broker,
            log=self.decision_log,
            notifier=self.notifier,
            state=self.state_store,
            defaults=self.defaults,
            clock=self.clock,
            market_data=None if self.demo else self.market_data,
        )
        self.control = ControlService(
            state_store=self.state_store,
            defaults=self.defaults,
            limits=limits,
            broker=self.broker,
            market_data=self.market_data,
            cycle=self.cycle,
            clock=self.clock,
            decision_log=self.decision_log,
            history=self.history,
            guard=self.guard,
            engine_name=self.engine.name,
            live_allowed=self._live_blocker,
            notifier=self.notifier,
            wall_clock=SystemClock(),
        )
        self.dp = build_dispatcher(
            control=self.control,
            admin_ids=self.admin_ids,
            charts=MarketCharts(self.market_data, self.clock),
            pulse_now=self.pulse_now,
            notifier=self.notifier,
        )
        self.dp.startup.register(self._on_startup)
        self.dp.shutdown.register(self._on_shutdown)
        self._built = True

    @property
    def _exchange_data(self) -> bool:
        return self._market_data_override is None and self.settings.market_data_dir is None and not self.demo

    def _market_data(self) -> MarketData:
        if self.settings.market_data_dir is not None:
            from core.market.offline import OfflineMarketData

            return OfflineMarketData(self.settings.market_data_dir, clock=self.clock)
        from core.market.ccxt_source import CcxtMarketData

        c = self.credentials
        return CcxtMarketData.from_id(c.exchange_id, api_key=c.api_key, secret=c.secret, testnet=c.testnet)

    def _engine(self) -> Any:
        from core.decide.engines import build_engine

        s = self.settings
        kind = s.effective_engine
        stores: dict[str, Any] = {}
        if kind != "rules":
            from storage.llm_repo import SqliteCapabilityStore, SqliteDecisionCache, SqliteUsageLog

            stores = {
                "usage": SqliteUsageLog(self.db),
                "capabilities": SqliteCapabilityStore(self.db),
                "cache": SqliteDecisionCache(self.db),
            }
        return build_engine(
            kind,
            llm_config=s.llm_config(),
            api_key=s.llm_api_key.get_secret_value() if s.llm_api_key else None,
            clock=SystemClock(),
            on_budget_exhausted=self._alert,
            **stores,
        )

    def _live_factory(self) -> Any:
        if self.demo or not self.credentials.has_keys:
            return None
        from core.execution.exchange_broker import ExchangeBroker
        from core.execution.exchange_client import make_exchange
        from storage.exchange_repo import SqliteExchangeLedger

        def factory() -> Any:
            return ExchangeBroker(
                make_exchange(self.credentials), SqliteExchangeLedger(self.db), self.clock, alert=self._alert,
                taker_fee_bps=self.settings.taker_fee_bps,
            )

        return factory

    def _live_blocker(self) -> str | None:
        """Why `/dryrun off` is refused now (None: an admin may confirm going live)."""
        if self.demo:
            return "the demo always trades on paper"
        return self.broker.live_blocker() or (self.live_gate.blocker() if self.live_gate else None)

    async def _alert(self, text: str) -> None:
        await self.notifier.alert(text)

    async def _equity(self) -> float:
        return (await self.broker.account()).equity

    # ---- life cycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        if not self._built:
            await self.build()
        assert self.dp is not None
        if self.bot is not None:
            started = asyncio.Event()
            self.dp.startup.register(started.set)
            self._polling = asyncio.create_task(
                self.dp.start_polling(self.bot, handle_signals=False, close_bot_session=False, polling_timeout=5)
            )
            waiter = asyncio.create_task(started.wait())
            await asyncio.wait({self._polling, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if self._polling.done():  # polling could not start: surface its error
                waiter.cancel()
                await self._polling
        else:
            await self.dp.emit_startup(bot=None, dispatcher=self.dp, **self.dp.workflow_data)
        # What exists now (modules, aiogram, the app) lives as long as the process: keep it out of the cyclic
        # collector's passes, so the one run after each chart (bot.telegram.charts) costs ~0 instead of ~0.1 s.
        gc.collect()
        gc.freeze()

    async def stop(self) -> None:
        gc.unfreeze()
        if self.dp is not None:
            if self._polling is not None:
                with contextlib.suppress(RuntimeError):
                    await self.dp.stop_polling()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._polling
                self._polling = None
            elif self.scheduler is not None:
                await self.dp.emit_shutdown(bot=None, dispatcher=self.dp, **self.dp.workflow_data)
        if self._built:
            await self.publisher.wait_idle()
            await self.publisher.close()
            with contextlib.suppress(Exception):
                await self.market_data.close()
            await self.db.close()
        if self.bot is not None:
            await self.bot.session.close()
        self._built = False

    async def _on_startup(self, bot: Bot | None = None) -> None:
        self.scheduler = build_scheduler(self._jobs(), alert=self._alert)
        self.scheduler.start()
        if not self.demo and self.credentials.has_keys:
            self._gate_check = asyncio.create_task(self._refresh_live_gate())
        await self.publisher.recover()
        await self.announce_unposted()
        self.publisher.kick()
        if bot is not None:
            try:
                await set_bot_commands(bot, sorted(self.admin_ids))
            except Exception as error:
                log.warning("setMyCommands failed: %s", error)

    async def _refresh_live_gate(self) -> None:
        verdict = await self.live_gate.refresh()
        log.info("exchange check for live trading: %s", "ok" if verdict.ok else verdict.detail)

    async def _on_shutdown(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None

    def _jobs(self) -> list[ScheduledJob]:
        if self.demo:
            from apscheduler.triggers.interval import IntervalTrigger

            return [ScheduledJob("outbox_drain", self.drain, IntervalTrigger(seconds=1), misfire_grace_s=5)]
        s = self.settings
        return standard_jobs(
            cycle=self.run_cycle,
            monitor=self.run_monitor,
            pulse=self.pulse_now,
            daily=self.daily_now,
            drain=self.drain,
            cycle_cron=s.cycle_cron,
            monitor_interval_s=s.monitor_interval_s,
            pulse_cron=s.pulse_cron,
            daily_cron=s.daily_summary_cron,
        )

    # ---- jobs -----------------------------------------------------------------------------------

    async def announce_unposted(self, lookback: timedelta = timedelta(days=2)) -> None:
        """Crash recovery for posts: the book is written before anything is announced, so a process that
        died in between left fills nobody heard of. Announce open positions and recent exits again; the
        outbox's dedupe keys turn everything already announced into a no-op."""
        try:
            for p in await self.broker.positions():
                await self.notifier.entry(
                    TradeEvent("entry", p.id, p.symbol, p.side, p.entry_time, p.entry_price, p.qty,
                               signal_id=p.signal_id, position=p),
                    None,
                    None,
                )
            for t in await self.history.closed_trades(since=self.clock.now() - lookback):
                await self.notifier.exit(
                    TradeEvent("exit", t.position_id, t.symbol, t.side, t.exit_time, t.exit_price, t.qty,
                               signal_id=t.signal_id, reason=t.exit_reason, net_pnl=t.net_pnl, trade=t)
                )
        except Exception as error:  # never block start-up on it
            log.warning("re-announcing unposted trades failed: %s", error)

    async def refresh_state(self) -> RuntimeState:
        state = await self.state_store.load_state(self.defaults)
        self._dry_run_flag = state.dry_run
        return state

    async def tick(self, as_of: datetime) -> Any:
        """One trading cycle at `as_of` (the demo's step). The cycle syncs the broker first."""
        await self.refresh_state()
        return await self.cycle.run(as_of)

    async def run_cycle(self) -> Any:
        """The scheduled cycle at wall time; per-symbol failures are stored by the cycle and reported to
        the admins by the job, anything else by the scheduler's guard."""
        from jobs.cycle_job import run_cycle_job

        await self.refresh_state()
        return await run_cycle_job(self.cycle, MinuteClock(self.clock), self.notifier)

    async def run_monitor(self) -> int:
        """Between cycles: stops, targets, trailing, stale exits, funding and liquidation from the broker's
        own book, announced like the cycle announces them, and the drawdown kill-switch."""
        from jobs.monitor_job import run_monitor_job

        await self.refresh_state()
        return len(await run_monitor_job(self.cycle, self.clock, self.notifier))

    async def pulse_now(self) -> bool:
        from jobs.pulse_job import run_pulse

        state = await self.refresh_state()
        return await run_pulse(
            as_of=self.clock.now(),
            symbols=state.symbols,
            snapshots=self.snapshots,
            market=self.market_data,
            engine=self.engine,
            notifier=self.notifier,
            account=await self.broker.account(),
            decision_log=self.decision_log,
        )

    async def daily_now(self) -> bool:
        """The daily summary; on Mondays also the weekly one; then the pinned track record's refresh."""
        from jobs.daily_job import run_daily_summary, run_weekly_summary

        now = self.clock.now()
        posted = await run_daily_summary(as_of=now, history=self.history, broker=self.broker, notifier=self.notifier)
        if now.astimezone(UTC).weekday() == 0:
            await run_weekly_summary(as_of=now, history=self.history, broker=self.broker, notifier=self.notifier)
        await self.record_now()
        return posted

    async def record_now(self) -> bool:
        """Queue the current pinned track record (after every position that closes, and daily)."""
        from jobs.daily_job import run_track_record

        return await run_track_record(
            as_of=self.clock.now(), history=self.history, broker=self.broker, notifier=self.notifier,
            initial_equity=self.settings.initial_equity,
        )

    async def drain(self) -> Any:
        await self.refresh_state()
        return await self.publisher.drain()
