"""Error router: a handler exception gets a polite reply and an admin alert, never a crash."""

from __future__ import annotations

import html
import logging

from aiogram import Router
from aiogram.types import ErrorEvent

from bot.telegram.reply_format import input_error_text
from core.errors import UserInputError
from core.protocols import Notifier

log = logging.getLogger(__name__)

POLITE_FAILURE = "Sorry, something went wrong while handling that. The admins have been told."


def build_errors_router() -> Router:
    router = Router(name="errors")

    @router.error()
    async def on_error(event: ErrorEvent, notifier: Notifier | None = None) -> bool:
        update = event.update
        error = event.exception
        message = update.message or (update.callback_query.message if update.callback_query else None)
        plain = str(error) if isinstance(error, UserInputError) else POLITE_FAILURE
        if not isinstance(error, UserInputError):
            log.error("handler failed on update %s", update.update_id, exc_info=error)
            if notifier is not None:
                command = update.message.text if update.message and update.message.text else type(update).__name__
                try:
                    await notifier.alert(
                        f"⚠️ Handler error on <code>{html.escape(command[:100])}</code>: "
                        f"{html.escape(type(error).__name__)}: {html.escape(str(error)[:300])}"
                    )
                except Exception:  # the alert path itself failing must not raise from the error handler
                    log.exception("could not alert admins about a handler error")
        try:
            if update.callback_query is not None:
                await update.callback_query.answer(plain[:200], show_alert=True)
            elif message is not None:
                await message.answer(
                    input_error_text(error) if isinstance(error, UserInputError) else html.escape(plain)
                )
        except Exception:
            log.exception("could not tell the user about a handler error")
        return True

    return router
