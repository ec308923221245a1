"""Which Telegram errors end the bot and which are retried (issue #12 item 4).

Fatal: the token is refused (401 Unauthorized: revoked or wrong; 404 on getMe: no such bot). Nothing
will ever get through, so the process stops with one line and a non-zero exit and a supervisor can
tell. Transient: network errors, 5xx and flood control — retried (aiogram's polling retries them by
itself; the start-up check retries them a few times before giving up).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import GetMe, TelegramMethod
from aiogram.types import User

from core.errors import FatalError
from core.services.reachability import ReachabilityMonitor
from core.urls import scrub_url

log = logging.getLogger(__name__)

TRANSIENT = (TelegramNetworkError, TelegramServerError, TelegramRetryAfter, asyncio.TimeoutError)


def fatal_line(error: BaseException, api_base: str) -> str | None:
    """The line to stop with, or None when `error` is not fatal."""
    if isinstance(error, TelegramUnauthorizedError):
        return (
            f"TELEGRAM_BOT_TOKEN was refused by Telegram at {scrub_url(api_base)} (401 Unauthorized): the token "
            "is revoked or wrong; get a valid one from @BotFather"
        )
    return None


async def bot_identity(bot: Bot, api_base: str, *, attempts: int = 3, delay_s: float = 1.0) -> User:
    """getMe, before polling starts: a refused token is fatal at once, an unreachable server after
    `attempts` tries (a supervisor restarts the process later)."""
    for attempt in range(1, attempts + 1):
        try:
            return await bot.me()
        except TelegramNotFound:
            raise FatalError(
                f"TELEGRAM_BOT_TOKEN: no bot with this token at TELEGRAM_API_BASE {scrub_url(api_base)} "
                "(getMe answered 404 Not Found)"
            ) from None
        except TRANSIENT as error:
            if attempt == attempts:
                raise FatalError(
                    f"TELEGRAM_API_BASE: Telegram at {scrub_url(api_base)} did not answer getMe after {attempts} "
                    f"attempts ({type(error).__name__}: {str(error)[:200]})"
                ) from None
            wait = max(delay_s * 2 ** (attempt - 1), float(getattr(error, "retry_after", 0) or 0))
            log.warning("getMe failed (%s), retrying in %.0f s", type(error).__name__, wait)
            await asyncio.sleep(wait)
        except Exception as error:
            line = fatal_line(error, api_base)
            if line:
                raise FatalError(line) from None
            raise
    raise AssertionError("unreachable")


class FatalErrorWatch(BaseRequestMiddleware):
    """A session middleware that reports a fatal answer to any request (getUpdates included, which
    aiogram's polling would otherwise retry for ever) to `on_fatal`, then re-raises it."""

    def __init__(self, api_base: str, on_fatal: Callable[[str], None]) -> None:
        self._api_base = api_base
        self._on_fatal = on_fatal

    async def __call__(self, make_request: NextRequestMiddlewareType[Any], bot: Bot,
                       method: TelegramMethod[Any]) -> Any:
        try:
            return await make_request(bot, method)
        except Exception as error:
            line = fatal_line(error, self._api_base)
            if line is None and isinstance(error, TelegramNotFound) and isinstance(method, GetMe):
                line = f"TELEGRAM_BOT_TOKEN: no bot with this token at {scrub_url(self._api_base)} (404 on getMe)"
            if line is not None:
                self._on_fatal(line)
            raise


UNREACHABLE = (TimeoutError, TelegramNetworkError, TelegramServerError)


def _reason(error: BaseException, bot: Bot) -> str:
    return f"{type(error).__name__}: {error}".replace(bot.token, "***")


def telegram_probe(bot: Bot) -> Callable[[], Awaitable[object]]:
    """getMe, for the reachability job when nothing else called Telegram lately: a network error or 5xx
    becomes a ConnectionError, which the job counts as unreachable (any other answer as reachable)."""

    async def probe() -> object:
        try:
            return await bot.get_me()
        except UNREACHABLE as error:
            raise ConnectionError(_reason(error, bot)) from None

    return probe


class ReachabilityWatch(BaseRequestMiddleware):
    """A session middleware that reports every Bot API call's outcome (sends, edits, getUpdates polling) to
    the reachability monitor: network errors, timeouts and 5xx mean Telegram cannot be reached; any other
    answer, an error answer included, means it can. The token never reaches the reason."""

    def __init__(self, monitor: ReachabilityMonitor, target: str = "telegram") -> None:
        self._monitor = monitor
        self._target = target

    async def __call__(self, make_request: NextRequestMiddlewareType[Any], bot: Bot,
                       method: TelegramMethod[Any]) -> Any:
        try:
            result = await make_request(bot, method)
        except UNREACHABLE as error:
            self._monitor.failed(self._target, _reason(error, bot))
            raise
        except TelegramAPIError:
            self._monitor.succeeded(self._target)
            raise
        self._monitor.succeeded(self._target)
        return result
