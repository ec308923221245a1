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
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import bot.aiogram_types  # noqa: F401  (before aiogram: its types build on first use)

import pyarrow
from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from pydantic import SecretStr

from bot.reachability import reachability_monitor
from bot.recent_logs import RecentLogs
from bot.settings import Settings
from bot.telegram.notifier import ChannelNotifier
from bot.telegram.publisher import ConsoleSender, PostSender, Publisher, TelegramSender
from bot.telegram.reply_format import ADMIN_COMMANDS, PUBLIC_COMMANDS
from core.clock import MinuteClock, SystemClock
from core.errors import FatalError, UserInputError
from core.evaluation.leaderboard import LeaderboardService
from core.execution.broker_switch import SwitchingBroker
from core.execution.paper_broker import MarketDataBarFeed, PaperBroker
from core.market.snapshot import LiveSnapshotSource
from core.models import RuntimeState, TradeEvent
from core.protocols import Broker, Clock, DecisionEngine, MarketData, SnapshotSource
from core.risk.guard import RiskGuard
from core.services.coin_hunter import CoinHunter
from core.services.control import ControlService
from core.services.cycle import CycleSummary, TradingCycle
from core.services.engine_memory import MemoryKeeper, resume_memories, warm_up_added_symbols
from core.services.ledger import LedgerReports
from core.services.reachability import ObservedMarketData, ObservedUsageLog
from core.services.track_record import TrackRecord
from handlers.admin import build_admin_router
from handlers.admin_arena import build_admin_arena_router
from handlers.admin_reports import build_admin_reports_router
from handlers.admin_risk import build_admin_risk_router
from handlers.errors import build_errors_router
from handlers.public import build_public_router
from handlers.rate_limit import RateLimiter
from jobs.failures import AlertThrottle, AlertVia
from jobs.scheduler import ScheduledJob, build_scheduler, standard_jobs
from storage.book_repo import SqliteBookStore
from storage.db import Database
from storage.decision_log_repo import SqliteDecisionLog
from storage.exchange_repo import SqliteExchangeLedger
from storage.outbox_repo import SqliteOutbox
from storage.state_repo import SqliteStateStore

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from bot.telegram.publisher import DrainReport
    from bot.web.server import WebServer
    from bot.wiring import NewsWiring
    from core.execution.exchange_client import ExchangeCredentials
    from core.execution.live_gate import LiveGate
    from core.services.arena import Arena

log = logging.getLogger(__name__)

CHART_TIMEFRAMES = ("15m", "1h", "4h", "1d")
CONSOLE_CHANNEL = "@console"
# Worker threads behind `asyncio.to_thread` (snapshot indicators, chart rendering, first file reads).
# asyncio's default is min(32, cores + 4); every thread that allocates gets a glibc malloc arena of its own
# that is rarely returned. The work is CPU-bound and holds the GIL, so more workers buy little: measured in
# bench/bot.py (10 symbols, a week of cycles), 2 workers → 294–300 MB and a decision→post median of ~290 ms,
# 1 worker → 280 MB and ~290–370 ms, still far under the 1 s target.
WORKER_THREADS = 1
DB_WATCH_S = 2.0
STOP_WAIT_S = 10.0
REACHABILITY_INTERVAL_S = 60  # the probe job's period, and how long a target may go without a call  # for posts being sent at shutdown; they stay in the outbox either way


def build_dispatcher(*, rate_limiter: RateLimiter | None = None, **deps: Any) -> Dispatcher:
    """Dispatcher with the routers and the handlers' dependencies by name (`control`, `admin_ids`,
    `charts`, `pulse_now`, `notifier`). Admin router first: non-admins fall through to the public router,
    which refuses admin commands politely and answers unknown ones with /help."""
    dp = Dispatcher(**deps)
    dp.include_routers(
        build_admin_router(), build_admin_reports_router(), build_admin_risk_router(), build_admin_arena_router(),
        build_public_router(rate_limiter), build_errors_router(),
    )
    return dp


def version_line() -> str:
    """`/version`: the package version and, from a checkout, the git commit."""
    from bot.provenance import git_commit, package_version
    from bot.telegram.ledger_format import version_text

    info = git_commit()
    return version_text(package_version(), info.get("commit"), info.get("dirty"))


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


@dataclass(frozen=True, slots=True)
class Services:
    """What `App.build()` wires, in one place and once: the stores over one database, market data, the
    engine, guard and brokers, the outbox → publisher → notifier chain, the cycle, the control service and
    the dispatcher. `credentials`/`live_gate` are None in the demo (and the gate without exchange keys);
    `bot` is None without a Telegram token."""

    db: Database
    state_store: SqliteStateStore
    market_data: MarketData
    snapshots: LiveSnapshotSource
    engine: DecisionEngine
    guard: RiskGuard
    book: SqliteBookStore
    history: TrackRecord
    decision_log: SqliteDecisionLog
    paper: PaperBroker
    broker: SwitchingBroker
    outbox: SqliteOutbox
    publisher: Publisher
    notifier: ChannelNotifier
    cycle: TradingCycle
    control: ControlService
    dp: Dispatcher
    bot: Bot | None
    credentials: ExchangeCredentials | None
    live_gate: LiveGate | None
    news: NewsWiring | None = None  # NEWS_FEEDS / FEAR_GREED / NEWS_API_KEY (#17)
    # what the cycle and the pulse read: `snapshots` plus the sentiment when news is configured
    cycle_snapshots: SnapshotSource | None = None
    arena: Arena | None = None  # ARENA's contestants (#15), None when the setting is empty
    memory: MemoryKeeper | None = None  # the engine's memory across restarts, None for an engine that keeps none


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
        wall_clock: Clock | None = None,
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
        self.scheduler: AsyncIOScheduler | None = None
        self._services: Services | None = None
        self._polling: asyncio.Task[None] | None = None
        self._dry_run_flag = self.defaults.dry_run
        self._gate_check: asyncio.Task[None] | None = None
        self._built = False
        self.recent_logs = RecentLogs()
        self._started = False
        self._stopping = False
        self._failure: asyncio.Future[str] | None = None
        self._alerts = AlertThrottle(self._send_alert)
        self._watchdog: asyncio.Task[None] | None = None
        self.web: WebServer | None = None  # the dashboard (#20), when WEB_PORT is set
        # exchange, LLM and Telegram reachability on wall time (#16 item 11; /readyz reads it too)
        self.reachability = reachability_monitor(settings, wall_clock or SystemClock(),
                                                 exchange=not demo and settings.market_data_dir is None)
        self._news_fetched = False
        self._memory_symbols: set[str] = set()  # symbols the engines' memories were resumed or warmed up for

    @property
    def services(self) -> Services:
        if self._services is None:
            raise RuntimeError("App.build() has not run: nothing is wired yet")
        return self._services

    # read-only views of the wired services, by the names the rest of the code uses
    @property
    def db(self) -> Database:
        return self.services.db

    @property
    def state_store(self) -> SqliteStateStore:
        return self.services.state_store

    @property
    def market_data(self) -> MarketData:
        return self.services.market_data

    @property
    def snapshots(self) -> LiveSnapshotSource:
        return self.services.snapshots

    @property
    def engine(self) -> DecisionEngine:
        return self.services.engine

    @property
    def guard(self) -> RiskGuard:
        return self.services.guard

    @property
    def history(self) -> TrackRecord:
        return self.services.history

    @property
    def broker(self) -> SwitchingBroker:
        return self.services.broker

    @property
    def outbox(self) -> SqliteOutbox:
        return self.services.outbox

    @property
    def publisher(self) -> Publisher:
        return self.services.publisher

    @property
    def notifier(self) -> ChannelNotifier:
        return self.services.notifier

    @property
    def cycle(self) -> TradingCycle:
        return self.services.cycle

    @property
    def control(self) -> ControlService:
        return self.services.control

    @property
    def dp(self) -> Dispatcher | None:
        return None if self._services is None else self._services.dp

    @property
    def bot(self) -> Bot | None:
        return None if self._services is None else self._services.bot

    # ---- wiring ---------------------------------------------------------------------------------

    async def build(self) -> None:
        # The loop's default executor, installed before any work is handed to a thread; asyncio shuts it
        # down with the loop (a later App on the same loop replaces it, and the idle pool is collected).
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=WORKER_THREADS, thread_name_prefix="aitrader-worker")
        )
        # pyarrow (pandas' feather reader) through the system allocator: its default mimalloc pool keeps
        # freed pages mapped, ~12 MB more resident for ten symbols in bench/bot.py.
        pyarrow.set_memory_pool(pyarrow.system_memory_pool())
        if self.settings.chart_theme != "dark":
            from bot.telegram import charts

            charts.use_theme(self.settings.chart_theme)
        setting = "--database" if self.demo else "DATABASE_PATH"  # the demo's file comes from its option
        db = await Database(self.settings.database_path, setting=setting, on_lost=self.fail).connect()
        try:
            self._services = await self._wire(db)
        except BaseException:  # a partial wiring must not leave the database's thread (and the process) alive
            await db.close()
            raise
        await self._services.control.restore_risk()  # limits set from chat (/set) survive a restart
        self._services.dp.startup.register(self._on_startup)
        self._services.dp.shutdown.register(self._on_shutdown)
        self._built = True

    async def _wire(self, db: Database) -> Services:
        s = self.settings
        credentials: ExchangeCredentials | None = None  # the demo never talks to an exchange (nor loads ccxt)
        live_gate: LiveGate | None = None
        if not self.demo:
            credentials = s.exchange_credentials()
            if credentials.has_keys:  # without keys live trading is refused before the gate is asked
                from core.execution.live_gate import LiveGate

                live_gate = LiveGate(credentials, s.symbols)
        state_store = SqliteStateStore(db)
        self._dry_run_flag = (await state_store.load_state(self.defaults)).dry_run
        market_data = self._market_data_override or self._market_data(credentials)
        if "exchange" in self.reachability.targets:
            market_data = ObservedMarketData(market_data, self.reachability)
        snapshots = LiveSnapshotSource(market_data)
        news = self._news(db)
        cycle_snapshots: SnapshotSource = snapshots
        if news is not None:
            from core.market.sentiment import SentimentSnapshots

            cycle_snapshots = SentimentSnapshots(snapshots, news.reader)
        engine = self._engine(db)
        limits, costs = s.risk_limits(), s.cost_model()
        guard = RiskGuard(limits, costs)
        book = SqliteBookStore(db)
        # the track record: paper legs and the live broker's legs (its own ledger), one history
        history = TrackRecord(book, SqliteExchangeLedger(db))
        decision_log = SqliteDecisionLog(db)
        paper = PaperBroker(
            # live exchange data: 5m bars, so the minute monitor sees a stop within minutes of it being
            # touched; offline files (demo, MARKET_DATA_DIR) may hold only 1h
            feed=MarketDataBarFeed(market_data, "5m" if self._exchange_data else "1h"),
            store=book,
            clock=self.clock,
            initial_equity=s.initial_equity,
            costs=costs,
            limits=limits,
        )
        broker = SwitchingBroker(paper, self._live_factory(credentials, db), state_store, self.defaults)
        arena = self._arena(db, market_data, cycle_snapshots, guard, state_store) if s.arena_contestants else None

        token = s.telegram_bot_token.get_secret_value() if s.telegram_bot_token else None
        bot: Bot | None = None
        sender: PostSender
        if token:
            channel = s.telegram_channel_id
            if channel is None:
                raise UserInputError("TELEGRAM_CHANNEL_ID is not set: the bot needs a channel to post signals to")
            from bot.telegram.faults import FatalErrorWatch, ReachabilityWatch

            bot = build_bot(token, s.telegram_api_base)
            bot.session.middleware(FatalErrorWatch(s.telegram_api_base, self.fail))
            bot.session.middleware(ReachabilityWatch(self.reachability))
            sender = TelegramSender(bot)
        else:
            sender = ConsoleSender(self.console_out)
            channel = s.telegram_channel_id or CONSOLE_CHANNEL
        outbox = SqliteOutbox(db)
        publisher = Publisher(outbox, sender, clock=SystemClock())
        notifier = ChannelNotifier(
            outbox,
            channel_id=channel,
            admin_ids=sorted(self.admin_ids),
            market=market_data,
            dry_run=lambda: self._dry_run_flag,
            kick=publisher.kick,
            clock=SystemClock(),
            decision_log=decision_log,
            history=history,
            on_closed=self.record_now,
            equity=self._equity,
        )
        publisher.set_failure_hook(self._alert)  # rate-limited, and straight to Telegram when the disk is full
        memory = MemoryKeeper(engine, state_store, self.clock)
        cycle = TradingCycle(
            snapshots=cycle_snapshots,
            engine=engine,
            guard=guard,
            broker=broker,
            log=decision_log,
            notifier=notifier,
            state=state_store,
            defaults=self.defaults,
            clock=self.clock,
            market_data=None if self.demo else market_data,
            memory=memory if memory.active else None,
        )
        control = ControlService(
            state_store=state_store,
            defaults=self.defaults,
            limits=limits,
            broker=broker,
            market_data=market_data,
            cycle=cycle,
            clock=self.clock,
            decision_log=decision_log,
            history=history,
            guard=guard,
            engine_name=engine.name,
            live_allowed=self._live_blocker,
            engine_memory=memory.summary,
            notifier=notifier,
            confirmation_clock=SystemClock(),
        )
        dp = build_dispatcher(
            control=control,
            admin_ids=self.admin_ids,
            charts=MarketCharts(market_data, self.clock),
            pulse_now=self.pulse_now,
            notifier=notifier,
            reports=LedgerReports(history=history, broker=broker, clock=self.clock),
            version_view=version_line,
            health_view=self.health_text,
            logs_view=self.recent_logs.last,
            config_view=self.config_view,
            reload_view=self.reload_config,
            alert=self._alert,
            leaderboard=self._leaderboard(db, history, arena),
            arena_view=self.arena_view,
            dashboard_url=s.web_public_url,  # the Mini App button under /stats (#20)
            # hasattr, not isinstance(…, MarketStatsSource): a runtime protocol check reads attributes statically
            # and misses what ObservedMarketData passes through from the exchange source by __getattr__.
            hunter=CoinHunter(market_data if hasattr(market_data, "market_stats") else None,  # type: ignore[arg-type]
                              self.settings.scan_filters(), state_store, self.defaults),
        )
        return Services(
            db=db,
            state_store=state_store,
            market_data=market_data,
            snapshots=snapshots,
            engine=engine,
            guard=guard,
            book=book,
            history=history,
            decision_log=decision_log,
            paper=paper,
            broker=broker,
            outbox=outbox,
            publisher=publisher,
            notifier=notifier,
            cycle=cycle,
            control=control,
            dp=dp,
            bot=bot,
            credentials=credentials,
            live_gate=live_gate,
            news=news,
            cycle_snapshots=cycle_snapshots,
            arena=arena,
            memory=memory if memory.active else None,
        )

    def _news(self, db: Database) -> NewsWiring | None:
        """The news stack when configured: providers, the SQLite store (first-seen times) and the analyst."""
        s = self.settings
        if not s.news_enabled:
            return None
        from bot.wiring import llm_configured, news_for
        from storage.llm_repo import SqliteCapabilityStore, SqliteUsageLog
        from storage.news_repo import SqliteNewsStore, SqliteScoreCache

        llm_stores = {"usage": SqliteUsageLog(db), "capabilities": SqliteCapabilityStore(db)} if llm_configured(s) else {}
        return news_for(s, SqliteNewsStore(db), clock=SystemClock(), score_cache=SqliteScoreCache(db), **llm_stores)

    async def fetch_news(self) -> object:
        """The news job: fetch, record first-seen, store Fear & Greed, score what is new (#17)."""
        from jobs.news_job import run_news_fetch
        from storage.news_repo import SqliteNewsStore

        news = self.services.news
        if news is None:
            return None
        first, self._news_fetched = not self._news_fetched, True
        return await run_news_fetch(providers=news.providers, fear_greed=news.fear_greed,
                                    store=SqliteNewsStore(self.db), clock=SystemClock(), reader=news.reader, first=first)

    @property
    def _exchange_data(self) -> bool:
        return self._market_data_override is None and self.settings.market_data_dir is None and not self.demo

    def _market_data(self, credentials: ExchangeCredentials | None) -> MarketData:
        if self.settings.market_data_dir is not None:
            from core.market.offline import OfflineMarketData

            return OfflineMarketData(self.settings.market_data_dir, clock=self.clock)
        from core.market.ccxt_source import CcxtMarketData

        c = credentials
        if c is None:
            raise UserInputError("the demo needs offline market data (MARKET_DATA_DIR or --data)")
        return CcxtMarketData.from_id(
            c.exchange_id, api_key=c.api_key, secret=c.secret, testnet=c.testnet, setting="EXCHANGE_ID"
        )

    async def _restore_memory(self) -> None:
        """The engines' memories from the state store (the funding veto and the flip gates go on where they were),
        and the funding hours they missed from the market data (a first start: the warm-up window)."""
        keepers = self._memory_keepers()
        if keepers:
            symbols = (await self.services.state_store.load_state(self.defaults)).symbols
            await resume_memories(keepers, self.services.market_data, symbols, self.clock.now())
            self._memory_symbols = set(symbols)

    def _memory_keepers(self) -> list[MemoryKeeper]:
        services = self.services
        keepers = [services.memory] if services.memory is not None else []
        return keepers + (services.arena.memory_keepers() if services.arena is not None else [])

    async def _warm_up_added(self, state: RuntimeState) -> None:
        """A symbol added from chat since the start gets its funding warm-up before its first cycle."""
        added = [s for s in state.symbols if s not in self._memory_symbols]
        keepers = self._memory_keepers() if added else []
        if keepers:
            self._memory_symbols.update(added)
            await warm_up_added_symbols(keepers, self.services.market_data, added, self.clock.now())

    def _engine(self, db: Database) -> DecisionEngine:
        from bot.wiring import decision_engine_for

        kind = self.settings.effective_engine
        if self.demo and self.settings.engine is None and kind == "trend":
            # The demo's accelerated clock shows a few days: the trend engine trades about weekly on daily
            # bars (docs/strategy.md), so the showcase runs the hourly rules engine unless ENGINE is set.
            kind = "rules"
        llm_stores = self._llm_stores(db) if kind not in ("rules", "trend") else {}
        return decision_engine_for(
            self.settings,
            kind,
            clock=SystemClock(),
            on_budget_exhausted=self._alert,
            **llm_stores,
        )

    def _llm_stores(self, db: Database) -> dict[str, Any]:
        """The LLM's usage log (the daily token budget), capabilities and decision cache: the primary engine
        and every LLM contestant share them, so one budget governs all of their calls."""
        from storage.llm_repo import SqliteCapabilityStore, SqliteDecisionCache, SqliteUsageLog

        return {"usage": ObservedUsageLog(SqliteUsageLog(db), self.reachability),
                "capabilities": SqliteCapabilityStore(db), "cache": SqliteDecisionCache(db)}

    def _arena(self, db: Database, market_data: MarketData, snapshots: SnapshotSource, guard: RiskGuard,
               state_store: SqliteStateStore) -> Arena:
        """ARENA's contestants, each engine from the one factory (bot.wiring), each with its own paper book in
        SQLite (resumed after a restart), the same guard, costs, limits and bar feed as the primary's book."""
        from bot.wiring import CycleFactory, parse_engine
        from core.services.arena import Arena

        s = self.settings
        factory = CycleFactory(s)
        stores = self._llm_stores(db)
        engines = []
        for name in s.arena_contestants:
            entry = parse_engine(name, "ARENA")
            llm = {} if entry.kind in ("rules", "trend") else {**stores, "on_budget_exhausted": self._alert}
            engines.append((name, factory.decision_engine(entry, clock=SystemClock(), **llm)))
        feed = MarketDataBarFeed(market_data, "5m" if self._exchange_data else "1h")
        limits, costs = s.risk_limits(), s.cost_model()

        def broker(book: Any) -> PaperBroker:
            return PaperBroker(feed=feed, store=book, clock=self.clock, initial_equity=s.initial_equity,
                               costs=costs, limits=limits)

        # a cycle of one contestant: each symbol's decision within its LLM budget, then a minute to spare
        timeout_s = s.llm_timeout_budget_s * max(1, len(s.symbols)) + 60
        return Arena(engines, snapshots=snapshots, guard=guard, broker_factory=broker, defaults=self.defaults,
                     clock=self.clock, initial_equity=s.initial_equity, timeout_s=timeout_s,
                     book_factory=lambda name: SqliteBookStore(db, contestant=name),
                     market_data=None if self.demo else market_data, state=state_store)

    def _leaderboard(self, db: Database, history: TrackRecord, arena: Arena | None = None) -> LeaderboardService:
        """Recorded lab results, and the live book under the version the channel runs (engine + model +
        prompt version + decision settings); each arena contestant's book under its own version (source
        "arena"), marked daily the same way."""
        from bot.wiring import CycleFactory, EngineEntry, parse_engine
        from core.evaluation.leaderboard import LiveBook
        from storage.leaderboard_repo import SqliteLeaderboard

        s = self.settings
        factory = CycleFactory(s)
        entry = EngineEntry("live", s.effective_engine)
        live = LiveBook(factory.version(entry).id, entry.engine, factory.model_of(entry), tuple(s.symbols),
                        s.initial_equity, history)
        contestants = []
        for c in arena.contestants if arena is not None else ():
            contestant = parse_engine(c.name, "ARENA")
            contestants.append(LiveBook(factory.version(contestant).id, contestant.engine,
                                        factory.model_of(contestant), tuple(s.symbols), s.initial_equity, c.book,
                                        source="arena"))
        return LeaderboardService(SqliteLeaderboard(db), live=live, contestants=contestants)

    def _live_factory(self, credentials: ExchangeCredentials | None, db: Database) -> Callable[[], Broker] | None:
        if self.demo or credentials is None or not credentials.has_keys:
            return None
        from core.execution.exchange_broker import ExchangeBroker
        from core.execution.exchange_client import make_exchange
        from storage.exchange_repo import SqliteExchangeLedger

        def factory() -> Broker:
            limits = self.settings.risk_limits()  # the exit ladder's split and trail, as the paper broker has them
            return ExchangeBroker(
                make_exchange(credentials), SqliteExchangeLedger(db), self.clock, alert=self._alert,
                taker_fee_bps=self.settings.taker_fee_bps, tp1_fraction=limits.tp1_close_fraction,
                trail_after_tp1_pct=limits.trail_after_tp1_pct, lock_trigger_pct=limits.lock_profit_trigger_pct,
                lock_offset_pct=limits.lock_profit_offset_pct,
            )

        return factory

    def _live_blocker(self) -> str | None:
        """Why `/dryrun off` is refused now (None: an admin may confirm going live)."""
        if self.demo:
            return "the demo always trades on paper"
        live_gate = self.services.live_gate
        return self.broker.live_blocker() or (live_gate.blocker() if live_gate else None)

    async def _alert(self, text: str) -> None:
        """Admin alerts, rate-limited (jobs.failures.AlertThrottle); through the outbox, or straight to
        Telegram when the outbox cannot take it (a full disk, the database gone)."""
        await self._alerts(text)

    async def _send_alert(self, text: str) -> None:
        try:
            await self.notifier.alert(text)
        except Exception as error:
            log.error("admin alert could not be queued (%s: %s): %s", type(error).__name__, error, text[:300])
            if self.bot is None:
                return
            from bot.telegram.post_format import alert_text

            for admin in sorted(self.admin_ids):
                try:
                    await self.bot.send_message(admin, alert_text(text))
                except Exception as send_error:
                    log.error("admin alert to %s failed: %s", admin, send_error)

    async def _equity(self) -> float:
        return (await self.broker.account()).equity

    # ---- what /health and /show_config show ---------------------------------------------------

    def config_view(self) -> dict[str, str]:
        """Every setting by its environment name, secrets masked (set or not set, never the value)."""
        out: dict[str, str] = {}
        for name, value in self.settings:
            if isinstance(value, SecretStr):
                shown = "*** (set)" if value.get_secret_value() else "(not set)"
            elif value is None:
                shown = "(not set)"
            elif isinstance(value, tuple | list):
                shown = ",".join(str(v) for v in value)
            else:
                shown = str(value)
            out[name.upper()] = shown if len(shown) <= 80 else shown[:79] + "…"
        return out

    async def reload_config(self, actor: str) -> str:
        """`/reload_config` (bot.config_reload): what changed applies now where it can; the rest is named."""
        from bot.config_reload import reload_config

        return await reload_config(self, actor)

    async def health_text(self) -> str:
        from bot.telegram.ledger_format import health_text

        status = await self.control.status()
        posts = await self.outbox.posts()
        pending = sum(1 for p in posts if p.status == "pending")
        failed = sum(1 for p in posts if p.status == "failed")
        running = self.scheduler is not None and self.scheduler.running
        checks = {
            "Scheduler": "running" if running else "stopped",
            "Outbox": f"{pending} post(s) queued, {failed} failed",
            "Trading": ("paused" if status.state.paused else "active") + (", dry-run" if status.state.dry_run else ", live"),
            "Engine": status.engine,
        }
        for name in self.reachability.targets:  # exchange, LLM, Telegram as the reachability monitor sees them
            checks[self.reachability.labels[name]] = self.reachability.status(name).detail
        return health_text(self.clock.now(), status.last_cycle_at, checks)

    # ---- life cycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Build (when not yet built) and start; any failure undoes what was started (a database thread
        left open kept the process alive after its error line) and propagates."""
        self._failure = asyncio.get_running_loop().create_future()
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        if not self._built:
            await self.build()
        self.recent_logs.install()
        dp, bot = self.services.dp, self.services.bot
        await self._check_symbols()
        # here, not in build(): the demo sets its stored simulated clock between the two
        await self._restore_memory()
        if bot is not None:
            from bot.telegram.faults import bot_identity

            await bot_identity(bot, self.settings.telegram_api_base)
            started = asyncio.Event()
            dp.startup.register(started.set)
            self._polling = asyncio.create_task(
                dp.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=5)
            )
            waiter = asyncio.create_task(started.wait())
            await asyncio.wait({self._polling, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if self._polling.done():  # polling could not start: surface its error
                waiter.cancel()
                await self._polling
            self._polling.add_done_callback(self._polling_ended)
        else:
            await dp.emit_startup(bot=None, dispatcher=dp, **dp.workflow_data)
        self._watchdog = asyncio.create_task(self._watch_database())
        if self.settings.web_port is not None:
            from bot.web.attach import start_dashboard

            self.web = await start_dashboard(self)
        # What exists now (modules, aiogram, the app) lives as long as the process: keep it out of the cyclic
        # collector's passes, so the one run after each chart (bot.telegram.charts) costs ~0 instead of ~0.1 s.
        gc.collect()
        gc.freeze()

    async def _check_symbols(self) -> None:
        """SYMBOLS must be symbols the market data offers (NOPE/USDT:USDT was accepted and failed every cycle)."""
        try:
            known = set(await self.market_data.symbols())
        except Exception as error:  # an exchange that is down now is retried by every cycle; not a start-up error
            log.warning("could not list the market data's symbols (%s: %s); SYMBOLS not checked",
                        type(error).__name__, error)
            return
        unknown = [s for s in self.settings.symbols if s not in known]
        if unknown:
            where = self.settings.market_data_dir or self.settings.exchange_id
            sample = ", ".join(sorted(known)[:5]) or "none"
            raise UserInputError(
                f"SYMBOLS: {', '.join(unknown)} not offered by {where} (the symbols must be ccxt perpetual "
                f"symbols it has, e.g. {sample})"
            )

    def fail(self, line: str) -> None:
        """Something the bot cannot go on from (a revoked token, the database gone): `serve` stops with it."""
        if self._failure is not None and not self._failure.done():
            log.error("stopping: %s", line)
            self._failure.set_result(line)

    @property
    def failed(self) -> str | None:
        return self._failure.result() if self._failure is not None and self._failure.done() else None

    async def _watch_database(self) -> None:
        """An idle bot notices a deleted or replaced database too (writes check it themselves)."""
        while True:
            await asyncio.sleep(DB_WATCH_S)
            with contextlib.suppress(FatalError):  # check_identity has called self.fail
                self.db.check_identity()

    @property
    def polling_alive(self) -> bool:
        return self._polling is not None and not self._polling.done()

    def _polling_ended(self, task: asyncio.Task[None]) -> None:
        if self._stopping or task.cancelled():
            return
        error = task.exception()
        self.fail(f"Telegram polling stopped: {type(error).__name__}: {error}" if error else "Telegram polling stopped")

    async def serve(self, until: Awaitable[object]) -> None:
        """Run until `until` completes (a stop signal) or a fatal failure, which raises FatalError."""
        assert self._failure is not None, "start() first"
        stop = asyncio.ensure_future(until)
        try:
            await asyncio.wait({stop, self._failure}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await stop
        if self.failed:
            raise FatalError(self.failed)

    async def stop(self) -> None:
        """Undo start() (also a partial one): polling, scheduler, outbox, market data, database, session."""
        self._stopping = True
        gc.unfreeze()
        if self.web is not None:
            await self.web.stop()
            self.web = None
        self.recent_logs.uninstall()
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self.dp is not None:
            if self._polling is not None:
                with contextlib.suppress(RuntimeError):
                    await self.dp.stop_polling()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._polling
                self._polling = None
            elif self.scheduler is not None:
                await self.dp.emit_shutdown(bot=None, dispatcher=self.dp, **self.dp.workflow_data)
        await self._on_shutdown()
        services = self._services
        if services is not None:
            if self.scheduler is not None or self._started:
                await self._tell_admins("stopped")
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(services.publisher.drain(), 10)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(services.publisher.wait_idle(), STOP_WAIT_S)
            await services.publisher.close()
            with contextlib.suppress(Exception):
                await services.market_data.close()
            if services.news is not None:
                with contextlib.suppress(Exception):
                    await services.news.client.aclose()
                    await services.news.reader.close()
            await services.db.close()
            if services.bot is not None:
                with contextlib.suppress(Exception):
                    await services.bot.session.close()
        self._built = False
        self._stopping = False

    async def _on_startup(self, bot: Bot | None = None) -> None:
        self.scheduler = build_scheduler(self._jobs(), alert=self._alert)
        self.scheduler.start()
        if self.services.live_gate is not None:
            self._gate_check = asyncio.create_task(self._refresh_live_gate())
        await self.publisher.recover()
        await self.announce_unposted()
        await self._tell_admins("started")
        self.publisher.kick()
        if bot is not None:
            try:
                await set_bot_commands(bot, sorted(self.admin_ids))
            except Exception as error:
                log.warning("setMyCommands failed: %s", error)
            if self.settings.web_public_url:
                from bot.web.attach import set_menu_button

                await set_menu_button(bot, self.settings.web_public_url)

    async def _tell_admins(self, what: str) -> None:
        """The admins hear when the bot starts (version, mode, engine, symbols) and when it stops."""
        try:
            state = await self.refresh_state()
            mode = "dry-run (paper trading)" if state.dry_run else "LIVE (orders go to the exchange)"
            where = "the demo, on a simulated clock" if self.demo else "live clock"
            if what == "started":
                self._started = True
                text = (f"🟢 {version_line()} started: {mode}, engine {self.engine.name}, "
                        f"symbols {escape(', '.join(state.symbols))}; {where}.")
            else:
                self._started = False
                text = f"🔴 AI Trader stopped ({mode}); open positions: {len(await self.broker.positions())}."
            await self.notifier.notice(text)
        except Exception as error:  # telling the admins must never stop the bot from starting or stopping
            log.warning("could not tell the admins the bot %s: %s", what, error)

    async def _refresh_live_gate(self) -> None:
        assert self.services.live_gate is not None  # only scheduled when there is a gate
        verdict = await self.services.live_gate.refresh()
        log.info("exchange check for live trading: %s", "ok" if verdict.ok else verdict.detail)

    async def _on_shutdown(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None

    def _jobs(self) -> list[ScheduledJob]:
        if self.demo:
            from apscheduler.triggers.interval import IntervalTrigger

            return [ScheduledJob("outbox_drain", self.drain, IntervalTrigger(seconds=1), misfire_grace_s=5),
                    *self._reachability_job()]
        s = self.settings
        news: list[ScheduledJob] = []
        if self.services.news is not None:
            from apscheduler.triggers.interval import IntervalTrigger

            every = s.news_fetch_interval_s
            start = datetime.now(UTC) + timedelta(seconds=5)  # the first fetch soon after start, then every interval
            news.append(ScheduledJob("news", self.fetch_news, IntervalTrigger(seconds=every, start_date=start,
                                                                               timezone=UTC), misfire_grace_s=every))
        return [*news, *standard_jobs(
            cycle=self.run_cycle,
            monitor=self.run_monitor,
            pulse=self.pulse_now,
            daily=self.daily_now,
            drain=self.drain,
            cycle_cron=s.cycle_cron,
            monitor_interval_s=s.monitor_interval_s,
            pulse_cron=s.pulse_cron,
            daily_cron=s.daily_summary_cron,
        ), *self._reachability_job()]

    def _reachability_job(self) -> list[ScheduledJob]:
        """The probe job, when there is something to watch (the keyless demo has nothing)."""
        from apscheduler.triggers.interval import IntervalTrigger

        if not self.reachability.targets:
            return []
        return [ScheduledJob("reachability", self.check_reachability,
                             IntervalTrigger(seconds=REACHABILITY_INTERVAL_S, timezone=UTC), misfire_grace_s=30)]

    async def check_reachability(self) -> list[str]:
        """Probe what had no real call lately; alert the admins of outages past UNREACHABLE_ALERT_MIN and of
        their end (queued in the outbox while Telegram itself is down, and logged)."""
        from bot.reachability import exchange_probe, llm_probe
        from jobs.reachability_job import run_reachability_job

        probes: dict[str, Callable[[], Awaitable[object]]] = {"llm": llm_probe(self.settings.llm_base_url)}
        if self._services is not None:
            state = await self.refresh_state()
            if state.symbols:
                probes["exchange"] = exchange_probe(self.market_data, state.symbols[0])
            if self.bot is not None:
                from bot.telegram.faults import telegram_probe

                probes["telegram"] = telegram_probe(self.bot)
        telegram_was_down = "telegram" in self.reachability.targets and not self.reachability.status("telegram").ok
        due = await run_reachability_job(self.reachability, probes, self._alert,
                                         quiet=timedelta(seconds=REACHABILITY_INTERVAL_S))
        if telegram_was_down and self.reachability.status("telegram").ok and self._services is not None:
            await self.publisher.retry_now()  # what waited out the outage goes now, not after its backoff
        return due

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

    async def tick(self, as_of: datetime) -> CycleSummary:
        """One trading cycle at `as_of` (the demo's step). The cycle syncs the broker first."""
        await self._warm_up_added(await self.refresh_state())
        summary = await self.cycle.run(as_of)
        if self.web is not None:
            self.web.observe_cycle(summary)
        await self.run_arena(summary.as_of)
        return summary

    async def run_cycle(self) -> CycleSummary | None:
        """The scheduled cycle at wall time; per-symbol failures are stored by the cycle and reported to
        the admins by the job, anything else by the scheduler's guard."""
        from jobs.cycle_job import run_cycle_job

        await self._warm_up_added(await self.refresh_state())
        summary = await run_cycle_job(self.cycle, MinuteClock(self.clock), AlertVia(self._alert))
        if self.web is not None:
            self.web.observe_cycle(summary)
        if summary is not None:
            await self.run_arena(summary.as_of)
        return summary

    async def run_arena(self, as_of: datetime) -> dict[str, str | None]:
        """After the primary cycle (which has posted): every contestant on the same as_of, concurrently, each
        into its own book; name → None when it ran, else why not. Never raises: the arena must not stop the bot."""
        arena = self.services.arena
        if arena is None:
            return {}
        try:
            outcome = await arena.run(as_of)
        except Exception as error:
            log.warning("the arena failed at %s: %s: %s", as_of, type(error).__name__, error)
            return {}
        failed = {name: why for name, why in outcome.items() if why}
        if failed:
            log.info("arena at %s: %s", as_of, "; ".join(f"{n}: {w}" for n, w in failed.items()))
        return outcome

    async def arena_view(self) -> tuple[str, bytes | None]:
        """`/arena`: the standings (compare's figures) and one equity chart of every contestant."""
        from bot.telegram.arena_format import ARENA_OFF, arena_text
        from core.evaluation.arena_standings import equity_curves, standings

        arena = self.services.arena
        if arena is None:
            return ARENA_OFF, None
        text = arena_text(await standings(arena), primary=self.engine.name, initial_equity=self.settings.initial_equity)
        curves = await equity_curves(arena)
        if not any(len(points) >= 2 for points in curves.values()):
            return text + "\nNo equity chart yet: the contestants have not run two cycles.", None
        from bot.telegram import charts

        image = await asyncio.to_thread(charts.arena_chart, curves, initial_equity=self.settings.initial_equity)
        return text, image

    async def close_arena(self, reason: str) -> None:
        """Close every contestant's open positions at the last price (the demo's end), silently as they trade."""
        for contestant in self.services.arena.contestants if self.services.arena is not None else ():
            await contestant.broker.close_all(reason=reason)

    async def arena_lines(self) -> list[str]:
        """One summary line per contestant (the demo's last words): name, equity, return, positions closed."""
        from core.evaluation.arena_standings import standings

        if self.services.arena is None:
            return []
        return [f"Arena {row.name}: equity {row.equity:,.2f} USDT ({row.return_pct:+.2f}%), positions closed "
                f"{row.trades}" + (f", {row.failures} failed cycle(s)" if row.failures else "")
                for row in await standings(self.services.arena)]

    async def arena_post_now(self) -> bool:
        """The daily arena post to the channel (ARENA_DAILY_POST), through the outbox; once per UTC day."""
        from bot.telegram.arena_format import arena_text
        from core.evaluation.arena_standings import equity_curves, standings

        arena = self.services.arena
        if arena is None or not self.settings.arena_daily_post:
            return False
        try:
            text = arena_text(await standings(arena), primary=self.engine.name,
                              initial_equity=self.settings.initial_equity)
            day = self.clock.now().astimezone(UTC).strftime("%Y-%m-%d")
            return await self.notifier.arena(day, text, await equity_curves(arena), self.settings.initial_equity)
        except Exception as error:
            log.warning("the daily arena post failed: %s: %s", type(error).__name__, error)
            return False

    async def run_monitor(self) -> int:
        """Between cycles: stops, targets, trailing, stale exits, funding and liquidation from the broker's
        own book, announced like the cycle announces them, and the drawdown kill-switch."""
        from jobs.monitor_job import run_monitor_job

        await self.refresh_state()
        return len(await run_monitor_job(self.cycle, self.clock, AlertVia(self._alert)))

    async def pulse_now(self) -> bool:
        from jobs.pulse_job import run_pulse

        state = await self.refresh_state()
        return await run_pulse(
            as_of=self.clock.now(),
            symbols=state.symbols,
            snapshots=self.services.cycle_snapshots or self.snapshots,
            market=self.market_data,
            engine=self.engine,
            notifier=self.notifier,
            account=await self.broker.account(),
            decision_log=self.services.decision_log,
        )

    async def daily_now(self) -> bool:
        """The daily summary; on Mondays also the weekly one; then the pinned track record's refresh."""
        from jobs.daily_job import run_daily_summary, run_weekly_summary

        now = self.clock.now()
        posted = await run_daily_summary(as_of=now, history=self.history, broker=self.broker, notifier=self.notifier)
        if now.astimezone(UTC).weekday() == 0:
            await run_weekly_summary(as_of=now, history=self.history, broker=self.broker, notifier=self.notifier)
        await self.arena_post_now()
        await self.record_now()
        return posted

    async def record_now(self) -> bool:
        """Queue the current pinned track record (after every position that closes, and daily)."""
        from jobs.daily_job import run_track_record

        return await run_track_record(
            as_of=self.clock.now(), history=self.history, broker=self.broker, notifier=self.notifier,
            initial_equity=self.settings.initial_equity,
        )

    async def drain(self) -> DrainReport:
        await self.refresh_state()
        return await self.publisher.drain()
