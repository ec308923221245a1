"""`/metrics` carries the LLM's estimated cost (#20): `aitrader_llm_cost_usd_total` moves with the calls a cycle
makes to the local OpenAI-compatible stand-in, priced by LLM_PRICE_*; it parses with Prometheus' parser."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.app import App
from bot.commands.demo_cmd import DEFAULT_START
from bot.settings import load_settings
from core.clock import SimulatedClock
from core.market.offline import OfflineMarketData, sample_data_dir
from storage.llm_repo import SqliteUsageLog
from tests.bot.web.helpers import ADMIN, ENV, free_port
from tests.fakes.openai_server import FakeOpenAIServer, answer
from tests.settings_env import isolate_settings

HOLD = '{"action": "hold", "confidence": 0.2, "reasoning": "no edge"}'


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_settings(monkeypatch, tmp_path, (*ENV, "LLM_BASE_URL", "LLM_PRICES"))


async def _cost(port: int) -> float | None:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as response:
        text = await response.text()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "aitrader_llm_cost_usd_total":
                return float(sample.value)
    return None


async def test_llm_cost_counter_follows_the_usage_log(tmp_path: Path) -> None:
    llm = FakeOpenAIServer().start()
    llm.script(answer(HOLD, prompt_tokens=1000, completion_tokens=100))
    port = free_port()
    settings = load_settings(
        env_file=None, market_data_dir=sample_data_dir(), database_path=tmp_path / "app.sqlite",
        symbols=("BTC/USDT:USDT", "ETH/USDT:USDT"), telegram_admin_ids=(ADMIN,), web_port=port, engine="llm",
        llm_base_url=llm.base_url, llm_price_prompt_per_mtok=1000.0, llm_price_completion_per_mtok=2000.0,
    )
    clock = SimulatedClock(DEFAULT_START)
    app = App(settings, clock=clock, demo=True, console_out=tmp_path / "out",
              market_data=OfflineMarketData(sample_data_dir(), clock=clock))
    await app.start()
    try:
        assert await _cost(port) == 0.0
        await app.tick(clock.advance(timedelta(hours=1)))
        calls = await SqliteUsageLog(app.db).calls()
        assert calls and len(calls) == len(llm.requests)  # every request the stand-in answered was logged
        per_call = (1000 * 1000.0 + 100 * 2000.0) / 1e6
        assert await _cost(port) == pytest.approx(sum(c.cost_usd for c in calls)) == pytest.approx(
            per_call * len(llm.requests))
    finally:
        await app.stop()
        llm.stop()


async def test_no_llm_cost_metric_without_an_llm_engine(tmp_path: Path) -> None:
    port = free_port()
    settings = load_settings(env_file=None, market_data_dir=sample_data_dir(), database_path=tmp_path / "app.sqlite",
                             symbols=("BTC/USDT:USDT",), web_port=port, engine="rules")
    clock = SimulatedClock(DEFAULT_START)
    app = App(settings, clock=clock, demo=True, console_out=tmp_path / "out",
              market_data=OfflineMarketData(sample_data_dir(), clock=clock))
    await app.start()
    try:
        assert await _cost(port) is None
    finally:
        await app.stop()
