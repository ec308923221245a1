"""`aitrader check`: validate settings and reach Telegram, the exchange and the LLM, one line each.

For the LLM it lists `/models` and then sends one real structured completion, reporting the output mode
the endpoint accepted, the latency and the tokens. `--reset-llm-capabilities` first forgets the output
modes stored per endpoint + model (say, after a server was restarted with a larger context).

Exit status: 0 when everything that is configured works; 1 when a required dependency fails, and
always when live trading is requested (DRY_RUN=false) but impossible. Bad settings raise
UserInputError (the CLI prints one line and exits 2).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import typer

from bot.logging_setup import register_secret
from bot.settings import Settings, load_settings
from core.execution.exchange_client import ExchangeCredentials, make_exchange
from core.execution.live_gate import ExchangeFactory, Verdict, check_exchange, check_llm, check_telegram, live_blocker
from core.urls import scrub_urls_in
from storage.db import Database
from storage.llm_repo import SqliteCapabilityStore, SqliteUsageLog

LlmProbe = Callable[[Settings, str | None, bool], Awaitable[Verdict]]


async def probe_completion(settings: Settings, api_key: str | None, required: bool) -> Verdict:
    """One real structured completion through the LLM engine (its capability store and call log)."""
    from core.decide.llm import LlmEngine

    async with Database(settings.database_path) as db:
        engine = LlmEngine(
            settings.llm_config(), api_key, capabilities=SqliteCapabilityStore(db), usage=SqliteUsageLog(db)
        )
        try:
            record = await engine.probe()
        finally:
            await engine.close()
    facts = (f"{record.mode or 'no'} mode, {record.latency_ms / 1000:.2f} s, "
             f"{record.usage.prompt_tokens}+{record.usage.completion_tokens} tokens, {record.attempts} request(s)")
    if record.status == "failed":
        return Verdict("llm completion", False, f"failed: {record.error} ({facts})", required)
    if record.status == "rejected":
        return Verdict("llm completion", True, f"{facts}; the answer did not validate: {record.error}", required)
    action = record.decision.action.value if record.decision is not None else "?"
    return Verdict("llm completion", True, f"{facts}; answer ok ({action})", required)


async def check_news(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> list[Verdict]:
    """One line per news source (#17); not required: without news the bot trades on candles alone."""
    if not settings.news_enabled:
        return []
    from bot.wiring import news_providers

    register_secret(settings.news_api_key.get_secret_value() if settings.news_api_key else None)
    out = []
    async with httpx.AsyncClient(transport=transport) as client:
        providers, fear_greed = news_providers(settings, client)
        for provider in providers:
            items = await provider.fetch()
            newest = max((h.published for h in items if h.published is not None), default=None)
            detail = (f"{len(items)} headline{'' if len(items) == 1 else 's'}" + (f", newest published {newest:%Y-%m-%d %H:%M} UTC" if newest else "")
                      if items else "no headlines (the reason is logged above): no news context from it")
            out.append(Verdict(f"news {provider.name}", bool(items), detail, required=False))
        if fear_greed is not None:
            readings = await fear_greed.fetch(1)
            detail = (f"{readings[-1].value} ({readings[-1].label}) on {readings[-1].day}" if readings
                      else "no reading (the reason is logged above)")
            out.append(Verdict("fear & greed", bool(readings), detail, required=False))
    return out


async def reset_capabilities(settings: Settings) -> int:
    async with Database(settings.database_path) as db:
        return await SqliteCapabilityStore(db).reset()

def no_keys_line(credentials: ExchangeCredentials) -> str:
    return (f"✗ live trading requested (DRY_RUN=false) but {credentials.key_names} are not set: "
            "set both, or DRY_RUN=true")


NO_KEYS_LINE = no_keys_line(ExchangeCredentials("binanceusdm"))


def credentials_of(settings: Settings) -> ExchangeCredentials:
    return settings.exchange_credentials()


async def run_check(
    env_file: str | Path | None = ".env",
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    exchange_factory: ExchangeFactory = make_exchange,
    reset_llm_capabilities: bool = False,
    llm_probe: LlmProbe = probe_completion,
) -> int:
    settings = load_settings(env_file)
    credentials = credentials_of(settings)
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else None
    llm_key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    for secret in (token, llm_key, credentials.api_key, credentials.secret, credentials.private_key):
        register_secret(secret)

    if settings.live_requested and not credentials.has_keys:
        typer.echo(no_keys_line(credentials))
        return 1

    typer.echo(f"✓ settings: valid ({'live' if settings.live_requested else 'dry-run'}, "
               f"engine {settings.effective_engine}, symbols {', '.join(settings.symbols)})")
    if reset_llm_capabilities:
        forgotten = await reset_capabilities(settings)
        typer.echo(f"✓ llm capabilities: forgot {forgotten} stored output mode(s); the next request tries "
                   "json_schema again")
    llm_required = settings.effective_engine in ("llm", "ensemble")
    async with httpx.AsyncClient(timeout=settings.llm_timeout_budget_s, transport=transport) as client:
        verdicts: list[Verdict] = [
            await check_telegram(token, settings.telegram_api_base, client),
            await check_exchange(
                credentials,
                settings.symbols,
                required=settings.live_requested or settings.market_data_dir is None,
                factory=exchange_factory,
            ),
            await check_llm(
                settings.llm_base_url, llm_key, settings.llm_model, client, required=llm_required,
                engine=settings.effective_engine,
            ),
        ]
    if verdicts[-1].ok and (llm_key or llm_required):
        verdicts.append(await llm_probe(settings, llm_key, llm_required))
    verdicts.extend(await check_news(settings, transport))
    for verdict in verdicts:
        typer.echo(verdict.line())
    failed = any(not v.ok and v.required for v in verdicts)
    if settings.live_requested:
        blocker = live_blocker(settings.dry_run, credentials, verdicts[1])
        if blocker:
            typer.echo(f"✗ live trading: impossible — {scrub_urls_in(blocker)}")
            return 1
        typer.echo("✓ live trading: possible; an admin still confirms it in chat (/dryrun off)")
    return 1 if failed else 0
