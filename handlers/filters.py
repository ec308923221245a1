"""Admin gating: one router-level filter on the sender's user id (never the chat id, DESIGN §7)."""

from __future__ import annotations

from collections.abc import Collection

from aiogram import Bot
from aiogram.filters import Filter
from aiogram.types import CallbackQuery, Message


class IsAdmin(Filter):
    """Passes when the sender's `from_user.id` is one of `admin_ids` (injected by name by the Dispatcher)."""

    async def __call__(self, event: Message | CallbackQuery, admin_ids: Collection[int] = ()) -> bool:
        user = event.from_user
        return user is not None and user.id in admin_ids


def actor_of(event: Message | CallbackQuery) -> str:
    """The audit actor string for a chat user ("tg:<user id>")."""
    user = event.from_user
    return f"tg:{user.id}" if user is not None else "tg:unknown"


class ForAnotherBot(Filter):
    """A command addressed to another bot (`/start@OtherBot` in a group): not ours to answer."""

    async def __call__(self, message: Message, bot: Bot) -> bool:
        text = message.text or message.caption or ""
        if not text.startswith("/"):
            return False
        _, at, mention = text.split(maxsplit=1)[0].partition("@")
        if not at:
            return False
        me = await bot.me()
        return mention.lower() != (me.username or "").lower()
