"""`/arena` (admins): the contestants' standings, then one equity chart of all of them. Thin: one call to the
composition root's view, which answers the text (and None for the chart while nothing can be drawn yet)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, Message

from handlers.filters import IsAdmin

ArenaView = Callable[[], Awaitable[tuple[str, bytes | None]]]


def build_admin_arena_router() -> Router:
    router = Router(name="admin_arena")
    router.message.filter(IsAdmin())

    @router.message(Command("arena"))
    async def arena(message: Message, arena_view: ArenaView) -> None:
        text, image = await arena_view()
        await message.answer(text)
        if image is not None:
            await message.answer_photo(BufferedInputFile(image, filename="arena.png"),
                                       caption="Arena · equity of every contestant")

    return router
