"""Admin commands that change what the bot risks: `/set KEY VALUE` (risk limits from chat) and
`/open SYM long|short [risk%]` (a manual trade). Anything that raises the risk answers with the same
confirmation button as going live (handlers.admin handles the press). Gated by the sender's user id."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.telegram import reply_format as fmt
from core.errors import UserInputError
from core.services.control import Confirmation, ControlService
from handlers.admin import confirmation_keyboard
from handlers.filters import IsAdmin, actor_of


def build_admin_risk_router() -> Router:
    router = Router(name="admin_risk")
    router.message.filter(IsAdmin())

    @router.message(Command("set"))
    async def set_limit(message: Message, command: CommandObject, control: ControlService) -> None:
        words = (command.args or "").split()
        if len(words) == 3 and words[0].lower() == "leverage":
            await _answer(message, await control.set_symbol_leverage(actor_of(message), words[1], words[2]))
            return
        if len(words) != 2:
            raise UserInputError(
                "/set takes a key and a value, e.g. /set risk 1.0, or /set leverage SYM N|off (see /risk)"
            )
        result = await control.set_risk(actor_of(message), words[0], words[1])
        await _answer(message, result)

    @router.message(Command("open"))
    async def open_position(message: Message, command: CommandObject, control: ControlService) -> None:
        words = (command.args or "").split()
        if len(words) not in (2, 3):
            raise UserInputError("/open takes a symbol, long or short, and an optional risk %, e.g. /open BTC/USDT:USDT long 1")
        await _answer(message, await control.request_open(actor_of(message), *words))

    return router


async def _answer(message: Message, result: str | Confirmation) -> None:
    if isinstance(result, Confirmation):
        await message.answer(fmt.confirmation_prompt(result), reply_markup=confirmation_keyboard(result))
    else:
        await message.answer(f"✅ {fmt.escape(result)}")
