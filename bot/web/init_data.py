"""Telegram Mini App `initData` → the admin's user id, or why not (401 unsigned/expired, 403 not an admin).

The signature is Telegram's HMAC-SHA256 scheme (https://core.telegram.org/bots/webapps), checked by aiogram.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta

from aiogram.utils.web_app import safe_parse_webapp_init_data

MAX_AGE = timedelta(hours=1)


class InitDataRefused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def admin_of(
    init_data: str | None,
    *,
    token: str | None,
    admin_ids: Collection[int],
    now: datetime,
    max_age: timedelta = MAX_AGE,
) -> int:
    """The admin's user id signed into `init_data`; raises InitDataRefused otherwise."""
    if not token:
        raise InitDataRefused(403, "admin views need the bot's token (TELEGRAM_BOT_TOKEN) to check initData")
    if not init_data:
        raise InitDataRefused(401, "missing X-Telegram-Init-Data")
    try:
        data = safe_parse_webapp_init_data(token, init_data)
    except (ValueError, TypeError):  # a bad signature, or signed fields that do not parse
        raise InitDataRefused(401, "initData signature is not valid") from None
    signed_at = data.auth_date if data.auth_date.tzinfo else data.auth_date.replace(tzinfo=UTC)
    if now - signed_at > max_age or signed_at - now > timedelta(minutes=5):
        raise InitDataRefused(401, "initData has expired; reopen the app from the bot")
    if data.user is None or data.user.id not in admin_ids:
        raise InitDataRefused(403, "admins only")
    return data.user.id
