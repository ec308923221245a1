"""Public commands (DESIGN §4.7), rate-limited per user: /start, /help, /chart, /stats, /why.

This router also answers admin commands sent by non-admins (a polite refusal; nothing changes) and
any unknown command (the help text). Include it after the admin router.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Protocol

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    WebAppInfo,
)

from bot.telegram import reply_format as fmt
from core.errors import UserInputError
from core.services.control import ControlService
from handlers.admin import CANCEL_PREFIX, CONFIRM_PREFIX
from handlers.filters import ForAnotherBot
from handlers.rate_limit import RateLimiter, RateLimitMiddleware

CAPTION_LIMIT = 1024
DASHBOARD_BUTTON = "📊 Open the dashboard"


class ChartSource(Protocol):
    """What /chart and /stats draw with (the app wires market data and bot.telegram.charts behind it)."""

    async def symbol_chart(self, symbol: str, timeframe: str) -> bytes:
        """PNG of recent candles; UserInputError for an unknown symbol or timeframe."""
        ...

    async def equity_chart(self, points: Sequence[tuple[datetime, float]]) -> bytes: ...


def _is_admin(message: Message | CallbackQuery, admin_ids: Collection[int]) -> bool:
    return message.from_user is not None and message.from_user.id in admin_ids


def _dashboard_button(message: Message, url: str | None) -> InlineKeyboardMarkup | None:
    """The Mini App under /stats (WEB_PUBLIC_URL); Telegram takes web_app buttons in private chats only."""
    if not url or message.chat.type != "private":
        return None
    return InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text=DASHBOARD_BUTTON, web_app=WebAppInfo(url=url))]])


def build_public_router(limiter: RateLimiter | None = None) -> Router:
    router = Router(name="public")
    router.message.middleware(RateLimitMiddleware(limiter or RateLimiter()))

    @router.message(CommandStart())
    async def start(message: Message, admin_ids: Collection[int] = ()) -> None:
        await message.answer(fmt.start_text(_is_admin(message, admin_ids)))

    @router.message(Command("help"))
    async def help_(message: Message, admin_ids: Collection[int] = ()) -> None:
        await message.answer(fmt.help_text(_is_admin(message, admin_ids)))

    @router.message(Command("chart"))
    async def chart(message: Message, command: CommandObject, charts: ChartSource) -> None:
        words = (command.args or "").split()
        if not 1 <= len(words) <= 2:
            raise UserInputError("/chart takes a symbol and an optional timeframe, e.g. /chart BTC/USDT:USDT 4h")
        symbol, timeframe = words[0].upper(), (words[1].lower() if len(words) == 2 else "1h")
        image = await charts.symbol_chart(symbol, timeframe)
        await message.answer_photo(
            BufferedInputFile(image, filename="chart.png"), caption=f"{fmt.escape_text(symbol)} {timeframe}"
        )

    @router.message(Command("stats"))
    async def stats(message: Message, command: CommandObject, control: ControlService, charts: ChartSource,
                    dashboard_url: str | None = None) -> None:
        period = (command.args or "30d").strip().lower()
        if period not in ("7d", "30d", "all"):
            raise UserInputError(f"/stats takes 7d, 30d or all, got {period!r}")
        report = await control.stats(period)  # type: ignore[arg-type]
        text = fmt.stats_text(report)
        button = _dashboard_button(message, dashboard_url)
        if len(report.equity_points) < 2:
            await message.answer(text + "\nNo equity history to chart yet.", reply_markup=button)
            return
        image = await charts.equity_chart(report.equity_points)
        await message.answer_photo(BufferedInputFile(image, filename="equity.png"), caption=text[:CAPTION_LIMIT],
                                   reply_markup=button)

    @router.message(Command("why"))
    async def why(message: Message, command: CommandObject, control: ControlService) -> None:
        if not command.args or len(command.args.split()) != 1:
            raise UserInputError("/why takes one signal id, as shown under a channel post")
        signal_id = command.args.strip()
        entry = await control.why(signal_id)
        await message.answer(fmt.why_text(entry) if entry is not None else fmt.why_missing_text(signal_id))

    @router.message(Command(*fmt.ADMIN_COMMAND_NAMES))
    async def not_admin(message: Message) -> None:
        await message.answer(fmt.NOT_ADMIN)

    @router.message(F.text.startswith("/"), ~ForAnotherBot())
    async def unknown(message: Message, admin_ids: Collection[int] = ()) -> None:
        await message.answer(fmt.unknown_command_text(_is_admin(message, admin_ids)))

    @router.callback_query(F.data.startswith(CONFIRM_PREFIX) | F.data.startswith(CANCEL_PREFIX))
    async def not_admin_press(query: CallbackQuery) -> None:
        await query.answer("Only admins can press this; nothing was changed.", show_alert=True)

    return router
