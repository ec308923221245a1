from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import pytest
from aiogram import Bot, Dispatcher

from bot.app import build_dispatcher
from bot.telegram.reply_limits import install_reply_limits
from core.errors import UserInputError
from core.evaluation.leaderboard import LeaderboardService, MemoryLeaderboard
from core.services.control import ControlService
from handlers.rate_limit import RateLimiter
from tests.handlers.control_fakes import FakeBroker, FakeCycle, FakeLog, FixedClock, build_control, position
from tests.handlers.tg_session import ADMIN_ID, OTHER_ADMIN_ID, RecordingSession

TOKEN = "123456:" + "A" * 35
PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 64


@dataclass
class FakeCharts:
    drawn: list[tuple[str, str]] = field(default_factory=list)

    async def symbol_chart(self, symbol: str, timeframe: str) -> bytes:
        if symbol not in ("BTC/USDT:USDT", "ETH/USDT:USDT"):
            raise UserInputError(f"no data for {symbol}; symbols: BTC/USDT:USDT, ETH/USDT:USDT")
        if timeframe not in ("1h", "4h", "1d"):
            raise UserInputError(f"timeframe must be 1h, 4h or 1d, got {timeframe!r}")
        self.drawn.append((symbol, timeframe))
        return PNG

    async def equity_chart(self, points: Sequence[tuple[datetime, float]]) -> bytes:
        self.drawn.append(("equity", str(len(points))))
        return PNG


@dataclass
class FakeNotifier:
    alerts: list[str] = field(default_factory=list)

    async def alert(self, text: str) -> None:
        self.alerts.append(text)


@dataclass
class Harness:
    dp: Dispatcher
    bot: Bot
    session: RecordingSession
    control: ControlService
    broker: FakeBroker
    clock: FixedClock
    log: FakeLog
    cycle: FakeCycle
    charts: FakeCharts
    notifier: FakeNotifier
    pulses: list[int]
    leaderboard: LeaderboardService | None = None


@pytest.fixture
def harness() -> Harness:
    broker = FakeBroker(open_positions=[position("BTC/USDT:USDT")])
    clock = FixedClock()
    log = FakeLog()
    cycle = FakeCycle()
    control = build_control(broker=broker, clock=clock, log=log, cycle=cycle)
    charts = FakeCharts()
    notifier = FakeNotifier()
    pulses: list[int] = []

    async def pulse_now() -> int:
        pulses.append(1)
        return 2

    session = RecordingSession()
    bot = install_reply_limits(Bot(token=TOKEN, session=session))  # as bot.app.build_bot does
    leaderboard = LeaderboardService(MemoryLeaderboard(), live_version="0123456789")
    dp = build_dispatcher(
        rate_limiter=RateLimiter(limit=1000, window_s=60),
        control=control,
        admin_ids=frozenset({ADMIN_ID, OTHER_ADMIN_ID}),
        charts=charts,
        pulse_now=pulse_now,
        notifier=notifier,
        leaderboard=leaderboard,
    )
    return Harness(dp, bot, session, control, broker, clock, log, cycle, charts, notifier, pulses, leaderboard)
