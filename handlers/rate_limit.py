"""Per-user rate limit for public commands (a sliding window per Telegram user id).

Admins are never throttled by it (DESIGN §4.7). A message without `from` (a channel or an anonymous group
admin writing as the chat) is keyed by the chat it speaks as, so it cannot bypass the limit. A throttled
sender gets one notice per window, so a refusal is never silent for long."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import Message, TelegramObject


class RateLimiter:
    """At most `limit` events per `window_s` seconds per key; `clock` is injectable for tests."""

    def __init__(self, limit: int = 5, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError(f"rate limit needs limit >= 1 and window_s > 0, got {limit} per {window_s}s")
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._hits: dict[int, deque[float]] = {}
        self._warned: dict[int, float] = {}  # key → when the last notice went out

    def allow(self, key: int) -> bool:
        now = self._clock()
        hits = self._hits.setdefault(key, deque())
        while hits and now - hits[0] >= self.window_s:
            hits.popleft()
        if len(hits) >= self.limit:
            return False
        hits.append(now)
        if len(self._hits) > 10_000:  # forget idle users so memory stays bounded
            self._hits = {k: v for k, v in self._hits.items() if v and now - v[-1] < self.window_s}
            self._warned = {k: t for k, t in self._warned.items() if now - t < self.window_s}
        return True

    def first_refusal(self, key: int) -> bool:
        """True for the first refusal in each window, so a flooding user gets one notice per window, not
        one per message (and not one ever, then silence)."""
        now = self._clock()
        last = self._warned.get(key)
        if last is not None and now - last < self.window_s:
            return False
        self._warned[key] = now
        return True


def sender_key(event: TelegramObject) -> int | None:
    """The user id, else the chat a message speaks as (`sender_chat`, else its chat)."""
    user = getattr(event, "from_user", None)
    if user is not None:
        return int(user.id)
    if isinstance(event, Message):
        return int((event.sender_chat or event.chat).id)
    return None


class RateLimitMiddleware(BaseMiddleware):
    """Inner middleware for the public router: runs only when a public command matched."""

    def __init__(self, limiter: RateLimiter) -> None:
        self._limiter = limiter

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user = getattr(event, "from_user", None)
        if user is not None and user.id in data.get("admin_ids", ()):
            return await handler(event, data)
        key = sender_key(event)
        if key is None or self._limiter.allow(key):
            return await handler(event, data)
        if isinstance(event, Message) and self._limiter.first_refusal(key):
            await event.answer(
                f"Too many requests: at most {self._limiter.limit} commands per "
                f"{self._limiter.window_s:g} seconds. Please wait a little."
            )
        return None
