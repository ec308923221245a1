"""Every reply within Telegram's limits (issue #12 item 6): a session middleware, so each handler's
`message.answer(...)` (and any added later) goes through the project's splitter.

Telegram refuses a text over 4096 characters or a caption over 1024; the user then got "something went
wrong" and every admin an alert. Here a long text is sent as several messages split by `split_html` (at
most `MAX_PARTS`; the rest is cut with a note), the inline keyboard on the last one; a long edit or
caption is cut by `truncate_html`. Channel posts are split by the publisher before they get here.
"""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.methods import EditMessageText, SendMessage, SendPhoto, TelegramMethod

from bot.telegram.post_format import CAPTION_LIMIT, TEXT_LIMIT, split_html, truncate_html

MAX_PARTS = 5
CUT_NOTE = "\n… (cut: the reply was too long)"


class ReplyLimits(BaseRequestMiddleware):
    async def __call__(self, make_request: NextRequestMiddlewareType[Any], bot: Bot,
                       method: TelegramMethod[Any]) -> Any:
        if isinstance(method, SendMessage) and len(method.text) > TEXT_LIMIT:
            parts = split_html(method.text, TEXT_LIMIT) or [truncate_html(method.text, TEXT_LIMIT)]
            if len(parts) > MAX_PARTS:
                parts = parts[:MAX_PARTS]
                parts[-1] = truncate_html(parts[-1], TEXT_LIMIT - len(CUT_NOTE)) + CUT_NOTE
            result = None
            for i, part in enumerate(parts):
                last = i == len(parts) - 1
                chunk = method.model_copy(update={"text": part, "reply_markup": method.reply_markup if last else None})
                result = await make_request(bot, chunk)
            return result
        if isinstance(method, EditMessageText) and len(method.text) > TEXT_LIMIT:
            method = method.model_copy(update={"text": truncate_html(method.text, TEXT_LIMIT)})
        elif isinstance(method, SendPhoto) and method.caption and len(method.caption) > CAPTION_LIMIT:
            method = method.model_copy(update={"caption": truncate_html(method.caption, CAPTION_LIMIT)})
        return await make_request(bot, method)


def install_reply_limits(bot: Bot) -> Bot:
    bot.session.middleware(ReplyLimits())
    return bot
