"""The dashboard over a running `bot.app.App` (duck-typed: bot.app sits above this package), and the bot's
menu button that opens it as a Telegram Mini App."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.web.readiness import Check, cycle_age, reachability_check
from bot.web.server import WebServer, WebSources
from core.errors import UserInputError

log = logging.getLogger(__name__)

MAX_CYCLE_AGE = timedelta(hours=2)  # the hourly cycle missed twice
MENU_TEXT = "Dashboard"


def _wall_now() -> datetime:
    return datetime.now(UTC)


def sources_of(app: Any, max_cycle_age: timedelta = MAX_CYCLE_AGE) -> WebSources:
    async def database() -> tuple[bool, str]:
        app.db.check_identity()  # raises when the file was deleted or replaced
        await app.control.state()
        return True, "ok"

    async def scheduler() -> tuple[bool, str]:
        running = app.scheduler is not None and app.scheduler.running
        return running, "running" if running else "not running"

    async def last_cycle() -> tuple[bool, str]:
        return cycle_age((await app.control.status()).last_cycle_at, app.clock.now(), max_cycle_age)

    async def telegram() -> tuple[bool, str]:
        if app.bot is None:
            return True, "no bot token: posts go to the console"
        alive = app.polling_alive
        return alive, "polling" if alive else "polling stopped"

    checks: dict[str, Check] = {"database": database, "scheduler": scheduler, "last_cycle": last_cycle,
                                "telegram": telegram}
    for name in ("exchange", "llm"):  # the reachability monitor's view (#16 item 11): the exchange when market
        if name in app.reachability.targets:  # data comes from it, the LLM when an LLM engine decides
            checks[name] = reachability_check(app.reachability, name)
    tokens = cost = None
    if app.settings.effective_engine not in ("rules", "trend"):
        from storage.llm_repo import SqliteUsageLog

        usage = SqliteUsageLog(app.db)

        async def tokens() -> int:
            return await usage.tokens_on(_wall_now().date())

        cost = usage.cost_total

    token = app.settings.telegram_bot_token
    admin_token = app.settings.web_admin_token
    return WebSources(
        control=app.control,
        history=app.history,
        outbox_depth=app.outbox.pending_count,
        checks=checks,
        admin_ids=app.admin_ids,
        token=token.get_secret_value() if token else None,
        wall_now=_wall_now,
        llm_tokens_today=tokens,
        llm_cost_usd=cost,
        admin_token=admin_token.get_secret_value() if admin_token else None,
        decisions=app.services.decision_log,
        leaderboard=app.dp["leaderboard"] if app.dp is not None else None,  # the one the /leaderboard command reads
    )


async def start_dashboard(app: Any, host: str = "0.0.0.0") -> WebServer:
    """Serve the dashboard on WEB_PORT; all interfaces, so a TLS proxy in front can reach it."""
    server = WebServer(sources_of(app))
    port = app.settings.web_port
    try:
        await server.start(host, port)
    except OSError as error:  # in use, or a privileged port: one clear line, not a traceback
        await server.stop()
        raise UserInputError(f"WEB_PORT={port}: cannot listen on it ({error.strerror or error}); "
                             "choose a free port above 1023 or leave WEB_PORT empty") from None
    return server


async def set_menu_button(bot: Any, url: str) -> None:
    """The bot's menu button opens the dashboard as a Mini App (a failure is logged, never fatal)."""
    from aiogram.types import MenuButtonWebApp, WebAppInfo

    try:
        await bot.set_chat_menu_button(menu_button=MenuButtonWebApp(text=MENU_TEXT, web_app=WebAppInfo(url=url)))
    except Exception as error:
        log.warning("setChatMenuButton failed: %s", error)
