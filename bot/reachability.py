"""Which dependencies the running bot watches (issue #16 item 11, `/readyz` of #20), and the light probe for
each when no real call has been made lately. The monitor itself is core's (`core.services.reachability`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import aiohttp

from bot.settings import Settings
from core.protocols import Clock
from core.services.reachability import ReachabilityMonitor
from core.urls import scrub_url

LLM_PROBE_TIMEOUT_S = 10.0


def reachability_monitor(settings: Settings, clock: Clock, *, exchange: bool) -> ReachabilityMonitor:
    """Exchange when market data comes from it, the LLM when an LLM engine decides, Telegram with a token."""
    labels: dict[str, str] = {}
    if exchange:
        labels["exchange"] = f"Exchange ({settings.exchange_id})"
    if settings.effective_engine not in ("rules", "trend"):
        labels["llm"] = "LLM"
    if settings.telegram_bot_token is not None:
        labels["telegram"] = "Telegram"
    return ReachabilityMonitor(clock, timedelta(minutes=settings.unreachable_alert_min), labels)


def llm_probe(base_url: str, timeout_s: float = LLM_PROBE_TIMEOUT_S) -> Callable[[], Awaitable[object]]:
    """GET {LLM_BASE_URL}/models without the key: any HTTP answer (401 included) shows the endpoint is there,
    and costs no tokens; only a connection that fails or stays silent counts against it."""
    url = base_url.rstrip("/") + "/models"

    async def probe() -> object:
        try:
            async with (aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as http,
                        http.get(url, allow_redirects=False) as response):
                return response.status
        except aiohttp.ClientError as error:
            raise ConnectionError(f"{scrub_url(url)}: {type(error).__name__}: {error}") from None

    return probe


def exchange_probe(market_data: Any, symbol: str) -> Callable[[], Awaitable[object]]:
    """One ticker: the lightest public call every exchange serves (market lists are cached by ccxt)."""

    async def probe() -> object:
        return await market_data.ticker(symbol)

    return probe
