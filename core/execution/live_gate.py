"""The checks behind `aitrader check` and the live-trading gate (issue #7).

Each check reaches one dependency and returns a `Verdict` with a clear reason; none raises. Secrets
never appear in a verdict: the Telegram token sits in the request URL, so error texts are scrubbed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import ccxt.async_support as ccxt
import httpx

from core.execution.exchange_client import ExchangeCredentials, make_exchange
from core.execution.exchange_errors import with_retry
from core.execution.venues import venue_of
from core.urls import scrub_urls_in

ExchangeFactory = Callable[[ExchangeCredentials], ccxt.Exchange]


@dataclass(frozen=True, slots=True)
class Verdict:
    name: str
    ok: bool
    detail: str
    required: bool = True  # a failing required check fails `aitrader check`

    def __post_init__(self) -> None:  # shown in `aitrader check`, logs and /status: never a URL's secret
        object.__setattr__(self, "detail", scrub_urls_in(self.detail))

    def line(self) -> str:
        if not self.ok and not self.required:  # e.g. the exchange while candles come from MARKET_DATA_DIR
            return f"✗ {self.name}: {self.detail} (not needed in this setup: `aitrader check` still passes)"
        return f"{'✓' if self.ok else '✗'} {self.name}: {self.detail}"


def _scrub(text: str, *secrets: str | None) -> str:
    for secret in secrets:
        if secret and len(secret) >= 6:  # shorter strings would mangle the text, not hide anything
            text = text.replace(secret, "***")
    return text


async def check_telegram(token: str | None, api_base: str, client: httpx.AsyncClient) -> Verdict:
    if not token:
        return Verdict("telegram", True, "no TELEGRAM_BOT_TOKEN: posts print to the console", required=False)
    try:
        response = await client.get(f"{api_base.rstrip('/')}/bot{token}/getMe")
        body = response.json()
    except (httpx.HTTPError, ValueError) as error:
        return Verdict("telegram", False, _scrub(f"cannot reach {api_base}: {type(error).__name__}", token))
    if response.status_code == 401 or not body.get("ok"):
        description = _scrub(str(body.get("description") or f"HTTP {response.status_code}"), token)
        return Verdict("telegram", False, f"token refused ({description})")
    return Verdict("telegram", True, f"bot @{body['result'].get('username', '?')} reachable at {api_base}")


async def check_llm(
    base_url: str, api_key: str | None, model: str, client: httpx.AsyncClient, *, required: bool,
    engine: str = "rules",
) -> Verdict:
    if not api_key and not required:
        return Verdict("llm", True, f"no LLM_API_KEY: the {engine} engine decides alone", required=False)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        response = await client.get(f"{base_url.rstrip('/')}/models", headers=headers)
    except httpx.HTTPError as error:
        return Verdict("llm", False, _scrub(f"cannot reach {base_url}: {type(error).__name__}", api_key), required)
    if response.status_code in (401, 403):
        return Verdict("llm", False, f"LLM_API_KEY refused by {base_url} (HTTP {response.status_code})", required)
    if response.status_code != 200:
        return Verdict("llm", False, f"{base_url}/models answered HTTP {response.status_code}", required)
    try:
        listed = {m.get("id") for m in response.json().get("data", [])}
    except (ValueError, AttributeError):
        listed = set()
    if listed and model not in listed:
        return Verdict("llm", False, f"model {model!r} is not offered by {base_url}", required)
    return Verdict("llm", True, f"{base_url} reachable, model {model}", required)


async def check_exchange(
    credentials: ExchangeCredentials,
    symbols: Sequence[str],
    *,
    required: bool,
    factory: ExchangeFactory = make_exchange,
) -> Verdict:
    name = f"exchange {credentials.exchange_id}{' (testnet)' if credentials.testnet else ''}"
    try:
        exchange = factory(credentials)
    except Exception as error:  # an unknown id or a sandbox the exchange lacks: say so, never crash
        return Verdict(name, False, f"cannot be used: {error}", required)
    try:
        markets = await with_retry(exchange.load_markets, attempts=2, base_wait_s=0.5)
        missing = [s for s in symbols if s not in markets]
        if missing:
            return Verdict(name, False, f"unknown symbols {', '.join(missing)}", required)
        if not credentials.has_keys:
            return Verdict(name, True, f"{len(markets)} markets; no keys (data only)", required)
        balance = await exchange.fetch_balance()
        venue = venue_of(exchange)
        problem = await venue.probe(exchange)
        if problem:
            return Verdict(name, False, problem, required)
        free = venue.account_figures(balance, venue.quote)[1]
        return Verdict(name, True, f"keys accepted, {free:.2f} {venue.quote} available", required)
    except ccxt.BaseError as error:
        known = venue_of(exchange).diagnose(error)
        if known:
            detail = known
        elif isinstance(error, ccxt.AuthenticationError):
            detail = "API key or secret refused"
        else:
            detail = f"{type(error).__name__}: {str(error)[:160]}"
        return Verdict(name, False, _scrub(detail, credentials.api_key, credentials.secret, credentials.private_key),
                       required)
    finally:
        await exchange.close()


def live_blocker(dry_run: bool, credentials: ExchangeCredentials, exchange: Verdict | None) -> str | None:
    """Why live trading is impossible right now, or None when it may go ahead (an admin still confirms)."""
    if not credentials.has_keys:
        return f"live trading needs {credentials.key_names}"
    if exchange is None:
        return "the exchange has not been checked yet"
    if not exchange.ok:
        return f"the exchange check failed: {exchange.detail}"
    return None


class LiveGate:
    """`ControlService(live_allowed=gate.blocker)`: refuses `/dryrun off` until the keys are set and the
    last exchange check passed; `refresh()` re-runs that check (at start-up, and before asking)."""

    def __init__(self, credentials: ExchangeCredentials, symbols: Sequence[str],
                 factory: ExchangeFactory = make_exchange) -> None:
        self._credentials = credentials
        self._symbols = tuple(symbols)
        self._factory = factory
        self._last: Verdict | None = None

    async def refresh(self) -> Verdict:
        self._last = await check_exchange(self._credentials, self._symbols, required=True, factory=self._factory)
        return self._last

    def blocker(self) -> str | None:
        return live_blocker(False, self._credentials, self._last)
