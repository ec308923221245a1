"""Through the App (issue #16 item 11, #20): an exchange stand-in that fails, the local OpenAI-compatible server
going away and a local Bot API server going away and coming back. The admins get one alert per outage once it
lasts UNREACHABLE_ALERT_MIN and one when it ends; /readyz shows the exchange and the LLM from the same monitor;
while Telegram is down the alert waits in the outbox and goes out when it is back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.app import App
from bot.settings import load_settings
from core.clock import SimulatedClock, SystemClock
from core.errors import TemporaryError
from core.market.offline import OfflineMarketData, sample_data_dir
from tests.bot.web.helpers import free_port
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.telegram_server import FakeBotApi
from tests.settings_env import isolate_settings

TOKEN = "987654321:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
ADMIN = 1001
WALL = datetime(2026, 12, 1, 13, 5, tzinfo=UTC)
ENV = ("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHANNEL_ID", "TELEGRAM_ADMIN_IDS", "LLM_API_KEY", "LLM_BASE_URL", "ENGINE",
       "EXCHANGE_API_KEY", "EXCHANGE_SECRET", "MARKET_DATA_DIR", "DATABASE_PATH", "SYMBOLS", "DRY_RUN", "WEB_PORT",
       "WEB_PUBLIC_URL", "TELEGRAM_API_BASE", "UNREACHABLE_ALERT_MIN")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_settings(monkeypatch, tmp_path, ENV)


class FlakyExchange:
    """The exchange as core sees it through ccxt: real candles, and `down` makes every call fail the way
    CcxtMarketData fails after its retries (TemporaryError)."""

    def __init__(self, clock: Any) -> None:
        self._offline = OfflineMarketData(sample_data_dir(), clock=clock)
        self.down = False
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._offline, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.down and name != "close":
                raise TemporaryError(f"binanceusdm {name}: RequestTimeout after 4 attempts: read timeout")
            return await method(*args, **kwargs)

        return call

    async def symbols(self) -> Sequence[str]:
        return await self.__getattr__("symbols")()


async def _get_json(url: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.json()


async def _alert_texts(app: App) -> list[str]:
    return [p.text for p in await app.outbox.posts(kind="alert")]


async def test_exchange_and_llm_outages_alert_once_recover_once_and_show_in_readyz(tmp_path: Path) -> None:
    llm = FakeOpenAIServer().start()
    llm_port = int(llm.base_url.split(":")[2].split("/")[0])
    wall = SimulatedClock(WALL)
    exchange = FlakyExchange(SystemClock())
    web_port = free_port()
    settings = load_settings(
        env_file=None, database_path=tmp_path / "bot.sqlite", symbols=("BTC/USDT:USDT",),
        telegram_admin_ids=(ADMIN,), engine="llm", llm_api_key="sk-test-secret-key-123", llm_base_url=llm.base_url,
        llm_max_retries=0, web_port=web_port,
    )
    app = App(settings, clock=SystemClock(), market_data=exchange, wall_clock=wall)  # type: ignore[arg-type]
    await app.start()
    try:
        assert set(app.reachability.targets) == {"exchange", "llm"}  # no token: no Telegram target
        assert await app.check_reachability() == []
        assert app.reachability.status("llm").detail == "reachable (last answer 13:05 UTC)"
        status, body = await _get_json(f"http://127.0.0.1:{web_port}/readyz")
        assert status == 200 and body["checks"]["exchange"]["ok"] and body["checks"]["llm"]["ok"]

        llm.stop()
        # real calls fail first: the engine's LLM request (recorded through its usage log) ...
        snapshot = await app.snapshots.snapshot("BTC/USDT:USDT", datetime(2024, 3, 1, 12, tzinfo=UTC))
        record = await app.engine.decide(snapshot, await app.broker.account())
        assert record.status == "failed"
        assert "gpt-4o-mini: connection failed" in app.reachability.status("llm").detail
        # ... and a market-data fetch of the cycle's kind
        exchange.down = True
        with pytest.raises(TemporaryError):
            await app.market_data.candles("BTC/USDT:USDT", "1h", until=WALL, limit=2)
        assert not app.reachability.status("exchange").ok

        wall.advance(timedelta(minutes=1))
        assert await app.check_reachability() == []  # down for a minute: nothing yet
        status, body = await _get_json(f"http://127.0.0.1:{web_port}/readyz")
        assert status == 503 and body["ok"] is False
        assert body["checks"]["exchange"]["ok"] is False
        assert body["checks"]["exchange"]["detail"].startswith("unreachable since 13:05 UTC (1 min): binanceusdm")
        assert body["checks"]["llm"]["ok"] is False and "unreachable since 13:05 UTC" in body["checks"]["llm"]["detail"]
        assert "sk-test" not in str(body)
        health = await app.health_text()  # /health shows the same
        assert "Exchange (binanceusdm): unreachable since 13:05 UTC (1 min): binanceusdm" in health
        assert "LLM: unreachable since 13:05 UTC" in health

        wall.advance(timedelta(minutes=4))
        due = sorted(await app.check_reachability())
        assert due[0] == ("⚠️ Exchange (binanceusdm) unreachable since 13:05 UTC (5 min): binanceusdm ticker: "
                          "RequestTimeout after 4 attempts: read timeout")
        assert due[1].startswith("⚠️ LLM unreachable since 13:05 UTC (5 min): http://127.0.0.1:")
        assert "/v1/models: ClientConnectorError: Cannot connect" in due[1]  # the latest reason: the probe's
        assert len(due) == 2
        wall.advance(timedelta(minutes=3))
        assert await app.check_reachability() == []  # one alert per episode

        exchange.down = False
        llm = FakeOpenAIServer(port=llm_port).start()  # the endpoint comes back at the same address
        wall.advance(timedelta(minutes=1))
        assert sorted(await app.check_reachability()) == [
            "✅ Exchange (binanceusdm) reachable again after 9 min",
            "✅ LLM reachable again after 9 min",
        ]
        status, body = await _get_json(f"http://127.0.0.1:{web_port}/readyz")
        assert status == 200 and body["checks"]["exchange"]["ok"] and body["checks"]["llm"]["ok"]
        texts = await _alert_texts(app)
        assert sum("unreachable since" in t for t in texts) == 2 and sum("reachable again" in t for t in texts) == 2
    finally:
        await app.stop()
        llm.stop()


async def test_readyz_leaves_the_llm_out_without_an_llm_engine(tmp_path: Path) -> None:
    web_port = free_port()
    settings = load_settings(env_file=None, database_path=tmp_path / "bot.sqlite", symbols=("BTC/USDT:USDT",),
                             engine="rules", web_port=web_port)
    app = App(settings, clock=SystemClock(), market_data=FlakyExchange(SystemClock()),  # type: ignore[arg-type]
              wall_clock=SimulatedClock(WALL))
    await app.start()
    try:
        status, body = await _get_json(f"http://127.0.0.1:{web_port}/readyz")
        assert status == 200 and "llm" not in body["checks"]
        assert body["checks"]["exchange"]["ok"] is True
    finally:
        await app.stop()


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    server = FakeBotApi()
    await server.start()
    yield server
    await server.stop()


async def _until(condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.1)


async def telegram_outage_and_return(
    app: App, wall: SimulatedClock, go_away: Callable[[], Awaitable[None]], come_back: Callable[[], Awaitable[None]],
    admin_texts: Callable[[], list[str]], caplog: pytest.LogCaptureFixture,
) -> None:
    """Telegram answers, goes away for five minutes of wall time, comes back: one alert, queued while it is
    down (and logged), one recovery line, both delivered to the admin once it is back. Shared with the e2e
    run against the Bot API emulator."""
    monitor = app.reachability
    assert set(monitor.targets) == {"telegram"}  # offline data, rules engine
    await _until(lambda: any("started" in t for t in admin_texts()))  # start-up's own calls are done
    await app.publisher.wait_idle()
    assert monitor.status("telegram").detail.startswith("reachable")  # polling answers

    await go_away()  # polling's getUpdates fails from now on
    await _until(lambda: not monitor.status("telegram").ok)
    await asyncio.sleep(1.5)  # polling has retried (after 1 s) and failed again
    assert not monitor.status("telegram").ok
    wall.advance(timedelta(minutes=5))
    with caplog.at_level(logging.WARNING, logger="jobs.reachability_job"):
        due = await app.check_reachability()
    assert len(due) == 1 and due[0].startswith("⚠️ Telegram unreachable since 13:05 UTC (5 min): ")
    assert TOKEN not in due[0]
    assert any("Telegram unreachable since" in r.getMessage() for r in caplog.records)  # logged now
    [queued] = [p for p in await app.outbox.posts(kind="alert") if "Telegram unreachable" in p.text]
    assert queued.status == "pending" and queued.chat_id == str(ADMIN)  # kept, not lost

    await come_back()
    await _until(lambda: monitor.status("telegram").ok)
    wall.advance(timedelta(minutes=1))
    assert await app.check_reachability() == ["✅ Telegram reachable again after 5 min"]

    def delivered() -> bool:
        texts = admin_texts()
        return any("Telegram unreachable since 13:05 UTC" in t for t in texts) and any(
            "Telegram reachable again after 5 min" in t for t in texts)

    await _until(delivered, timeout_s=30)
    assert all(TOKEN not in t for t in admin_texts())


def telegram_app(tmp_path: Path, api_base: str, wall: SimulatedClock) -> App:
    settings = load_settings(
        env_file=None, market_data_dir=sample_data_dir(), database_path=tmp_path / "bot.sqlite",
        telegram_bot_token=TOKEN, telegram_api_base=api_base, telegram_channel_id="@aitrader_test",
        telegram_admin_ids=(ADMIN,), symbols=("BTC/USDT:USDT",),
    )
    return App(settings, clock=SystemClock(), wall_clock=wall)


@pytest.mark.slow
async def test_telegram_going_away_queues_the_alert_and_delivers_it_when_back(
    tmp_path: Path, api: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    wall = SimulatedClock(WALL)
    port = int(api.url.rsplit(":", 1)[1])
    app = telegram_app(tmp_path, api.url, wall)
    await app.start()
    try:
        await telegram_outage_and_return(
            app, wall, go_away=api.stop, come_back=lambda: api.start(port),
            admin_texts=lambda: [m["text"] for m in api.sent if m["chat_id"] == str(ADMIN)], caplog=caplog,
        )
    finally:
        await app.stop()


def test_ops_settings_are_no_part_of_the_strategy_version() -> None:
    from bot.wiring import CycleFactory, EngineEntry

    def version(**extra: object) -> str:
        return CycleFactory(load_settings(env_file=None, **extra)).version(EngineEntry("live", "rules")).id

    assert version() == version(unreachable_alert_min=30, web_admin_token="t" * 32)
