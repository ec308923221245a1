"""Error router: a handler exception gets a polite reply and an admin alert, never a crash.

The alert is plain text (escaped once, where it becomes a post) and goes through the app's rate-limited
`alert` when wired (a non-admin can trigger handler errors at will)."""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable

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
    async def on_error(
        event: ErrorEvent, notifier: Notifier | None = None, alert: Callable[[str], Awaitable[None]] | None = None
    ) -> bool:
        update = event.update
        error = event.exception
        message = update.message or (update.callback_query.message if update.callback_query else None)
        plain = str(error) if isinstance(error, UserInputError) else POLITE_FAILURE
        if not isinstance(error, UserInputError):
            log.error("handler failed on update %s", update.update_id, exc_info=error)
            send = alert or (notifier.alert if notifier is not None else None)
            if send is not None:
                command = update.message.text if update.message and update.message.text else "a button press"
                try:
                    await send(f"Handler error on {command[:100]!r}: {type(error).__name__}: {str(error)[:300]}")
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
