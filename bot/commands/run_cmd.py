"""`aitrader run`: the Telegram bot with its scheduler on the real clock (DESIGN §4.1)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from bot.logging_setup import register_secret
from bot.settings import Settings, load_settings
from core.clock import SystemClock
from core.errors import FatalError, UserInputError

log = logging.getLogger(__name__)


def register_secrets(settings: Settings) -> None:
    """Every secret is masked in every log line from here on."""
    for secret in (
        settings.telegram_bot_token,
        settings.llm_api_key,
        settings.exchange_api_key,
        settings.exchange_secret,
        settings.exchange_private_key,
        settings.news_api_key,
        settings.web_admin_token,
    ):
        if secret is not None:
            register_secret(secret.get_secret_value())


async def wait_for_stop_signal() -> None:
    """Until SIGINT/SIGTERM (or cancellation)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)


async def run_bot() -> int:
    settings = load_settings()
    register_secrets(settings)
    if settings.telegram_bot_token is None:
        raise UserInputError(
            "TELEGRAM_BOT_TOKEN is not set: set it (and TELEGRAM_CHANNEL_ID, TELEGRAM_ADMIN_IDS) "
            "or try the bot without keys with `aitrader demo`"
        )
    from bot.app import App

    app = App(settings, clock=SystemClock())
    try:
        await app.start()  # a failure here has already undone itself
    except (UserInputError, FatalError):
        raise
    except Exception as error:  # anything else still ends in one line and a non-zero exit for the supervisor
        log.debug("start-up failed", exc_info=error)
        raise FatalError(f"start-up failed: {type(error).__name__}: {error} (run with -v for the traceback)") from None
    try:
        dry_run = (await app.control.state()).dry_run
        log.info("aitrader is running (dry-run %s); stop with Ctrl-C", "on" if dry_run else "off")
        await app.serve(wait_for_stop_signal())
    finally:
        await app.stop()
    return 0
