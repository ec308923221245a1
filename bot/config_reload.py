"""`/reload_config` (issue #16 item 7): re-read the environment and `.env`, apply now what can change while the
bot runs, name what needs a restart, refuse an invalid file changing nothing; one audit entry.

Applied now: the risk limits (values set from chat with /set stay over them), the chart theme, the job
schedules (APScheduler's reschedule), the LLM request settings (model, fallbacks, timeout, retries, temperature,
max tokens, prices, token budget — same endpoint and key), the reachability alert delay, and the SYMBOLS and
MAX_LEVERAGE defaults where the admins have not changed the live value from chat (/symbols, /leverage). Every
other setting (token, channel, admins, exchange, database, engine, web server, costs …) needs a restart: the app
keeps running on its old value, which /show_config goes on showing.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from html import escape
from typing import Any

from pydantic import SecretStr

from bot.settings import Settings, load_settings
from core.errors import UserInputError
from core.urls import scrub_urls_in

RISK = ("risk_per_trade_pct", "max_open_positions", "min_reward_risk", "min_confidence", "max_spread_bps",
        "min_quote_volume_24h", "extreme_funding_rate", "daily_loss_limit_pct", "max_drawdown_pct",
        "cooldown_after_stop_h", "stale_exit_h", "max_stop_pct", "correlation_groups", "btc_filter_drop_pct",
        "btc_filter_symbol")
SCHEDULES = {"cycle_cron": "cycle", "pulse_cron": "pulse", "daily_summary_cron": "daily",
             "monitor_interval_s": "monitor", "news_fetch_interval_s": "news"}  # *_s: interval jobs
LLM_REQUEST = ("llm_model", "llm_fallback_models", "llm_timeout_s", "llm_max_retries", "llm_daily_token_budget",
               "llm_price_prompt_per_mtok", "llm_price_completion_per_mtok", "llm_prices", "llm_max_tokens",
               "llm_temperature")
LLM_ENDPOINT = ("llm_base_url", "llm_api_key")
STATE_DEFAULTS = ("symbols", "max_leverage")
OTHER_LIVE = ("chart_theme", "unreachable_alert_min")
DEMO_OWNED = ("market_data_dir", "database_path", "symbols", "dry_run")  # the demo's options set these
SHOWN = 60


def shown(value: object) -> str:
    """A setting's value as a reply may show it: secrets never, URLs without their credentials."""
    if isinstance(value, SecretStr):
        return "***" if value.get_secret_value() else "(not set)"
    if value is None:
        return "(not set)"
    text = ",".join(str(v) for v in value) if isinstance(value, tuple | list) else str(value)
    text = scrub_urls_in(text)
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"


def _differs(old: Settings, new: Settings, name: str) -> bool:
    a, b = getattr(old, name), getattr(new, name)
    if isinstance(a, SecretStr) or isinstance(b, SecretStr):
        return (a.get_secret_value() if a else None) != (b.get_secret_value() if b else None)
    return bool(a != b)


def _llm_engine(engine: Any) -> Any:
    """The LLM engine inside the configured engine (itself, or the ensemble's), or None."""
    for candidate in (engine, getattr(engine, "_llm", None)):
        if candidate is not None and hasattr(candidate, "config") and hasattr(candidate.config, "max_tokens"):
            return candidate
    return None


def _reschedule(app: Any, fresh: Settings, name: str) -> str | None:
    """Move the job to its new schedule; None when it went well, else why it did not apply."""
    from apscheduler.triggers.interval import IntervalTrigger

    from jobs.scheduler import cron

    job_id = SCHEDULES[name]
    scheduler = app.scheduler
    if scheduler is None or scheduler.get_job(job_id) is None:
        return "no such job running (the demo runs on its own clock; news only with a source)"
    trigger: Any
    if name.endswith("_s"):
        from datetime import UTC

        trigger = IntervalTrigger(seconds=getattr(fresh, name), timezone=UTC)
    else:
        trigger = cron(getattr(fresh, name), name.upper())
    scheduler.reschedule_job(job_id, trigger=trigger)
    return None


async def reload_config(app: Any, actor: str) -> str:
    """The reply to `/reload_config` (HTML). `app` is the running `bot.app.App` (duck-typed: it imports us)."""
    try:
        fresh = load_settings()
    except UserInputError as error:
        return f"❌ Not reloaded, the settings are invalid: {escape(str(error))} — nothing changed"
    old: Settings = app.settings
    if app.demo:
        fresh = fresh.model_copy(update={k: getattr(old, k) for k in DEMO_OWNED})
    changed = [name for name in Settings.model_fields if _differs(old, fresh, name)]
    notes: dict[str, str] = {}
    if any(n in changed for n in STATE_DEFAULTS):  # first: it may still refuse (unknown symbols)
        try:
            kept = await app.control.reload_defaults(actor, app.defaults, symbols=tuple(fresh.symbols),
                                                     max_leverage=fresh.max_leverage)
        except UserInputError as error:
            return f"❌ Not reloaded, SYMBOLS: {escape(str(error))}"
        app.defaults = replace(app.defaults, symbols=tuple(fresh.symbols), max_leverage=fresh.max_leverage)
        notes.update({name: f"the value set from chat stays: {shown(value)}" for name, value in kept.items()})

    applied: list[str] = []
    keep: dict[str, object] = {}  # settings that need a restart: the app goes on with the old value
    endpoint_changed = any(n in changed for n in LLM_ENDPOINT)
    llm = _llm_engine(app.engine)
    for name in changed:
        if name in SCHEDULES:
            problem = _reschedule(app, fresh, name)
            if problem:
                notes[name] = problem
        elif name in LLM_REQUEST and (endpoint_changed or llm is None):
            notes[name] = "not used: no LLM engine runs" if llm is None else "applies with the new endpoint at restart"
        elif name not in (*RISK, *LLM_REQUEST, *STATE_DEFAULTS, *OTHER_LIVE):
            keep[name] = getattr(old, name)
            continue
        applied.append(name)
    if llm is not None and not endpoint_changed and any(n in changed for n in LLM_REQUEST):
        llm.config = replace(fresh.llm_config(), base_url=llm.config.base_url)
    if "chart_theme" in changed:
        from bot.telegram import charts

        charts.use_theme(fresh.chart_theme)
    if "unreachable_alert_min" in changed:
        app.reachability.alert_after = timedelta(minutes=fresh.unreachable_alert_min)

    lines = [f"{n.upper()}: {shown(getattr(old, n))} → {shown(getattr(fresh, n))}" for n in applied]
    restart = sorted(n.upper() for n in keep)
    await app.control.reload_limits(actor, fresh.risk_limits(),
                                    also=[*lines, *(f"needs a restart: {n}" for n in restart)])
    effective = app.guard.limits
    for name in RISK:
        if name in applied and name not in ("correlation_groups", "btc_filter_symbol") \
                and getattr(effective, name) != getattr(fresh, name):
            notes[name] = f"the value set from chat with /set stays: {getattr(effective, name)}"
    app.settings = fresh.model_copy(update=keep)

    out = ["✅ Settings reloaded."]
    if applied:
        out.append("Applied now:")
        out += [f"• {escape(line)}" + (f" ({escape(notes[n])})" if n in notes else "")
                for n, line in zip(applied, lines, strict=True)]
    else:
        out.append("Nothing that applies while running has changed.")
    if restart:
        out.append("Changed, but needs a restart (still running on the old value): " + escape(", ".join(restart)))
    return "\n".join(out)
