"""Per-user rate limit for public commands (a sliding window per Telegram user id)."""

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
        self._warned: set[int] = set()

    def allow(self, key: int) -> bool:
        now = self._clock()
        hits = self._hits.setdefault(key, deque())
        while hits and now - hits[0] >= self.window_s:
            hits.popleft()
        if len(hits) >= self.limit:
            return False
        hits.append(now)
        self._warned.discard(key)
        if len(self._hits) > 10_000:  # forget idle users so memory stays bounded
            self._hits = {k: v for k, v in self._hits.items() if v and now - v[-1] < self.window_s}
        return True

    def first_refusal(self, key: int) -> bool:
        """True once per burst, so a flooding user gets one notice, not one per message."""
        if key in self._warned:
            return False
        self._warned.add(key)
        return True


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
        if user is None or self._limiter.allow(user.id):
            return await handler(event, data)
        if isinstance(event, Message) and self._limiter.first_refusal(user.id):
            await event.answer(
                f"Too many requests: at most {self._limiter.limit} commands per "
                f"{self._limiter.window_s:g} seconds. Please wait a little."
            )
        return None
