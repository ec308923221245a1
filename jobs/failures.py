"""How a job reports trouble: logged with its traceback and told to the admins, never raised — APScheduler
by itself would only log it, and a demo or an admin command driving a job must go on."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from core.protocols import Alert

log = logging.getLogger(__name__)


class Alerter(Protocol):
    """What a job needs of a Notifier when it only reports trouble."""

    async def alert(self, text: str) -> None: ...


@dataclass(frozen=True, slots=True)
class AlertVia:
    """An `Alerter` over an alert function (the app's rate-limited alert, with its Telegram fallback)."""

    send: Alert

    async def alert(self, text: str) -> None:
        await self.send(text)


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


async def tell_admins(alert: Alert | None, text: str) -> None:
    """Alert the admins; a failure to do so is logged, never raised."""
    if alert is None:
        return
    try:
        await alert(text)
    except Exception:
        log.exception("could not alert the admins: %s", text[:200])


async def report_failure(alert: Alert | None, failed: str, text: str) -> None:
    """Call from inside the `except` block: logs `failed` with the traceback, then tells the admins `text`."""
    log.exception(failed)
    await tell_admins(alert, text)


class AlertThrottle:
    """At most `limit` admin alerts per `window_s` (a non-admin could trigger a handler error alert about
    five times a minute); the ones held back are logged, counted and named in the next alert let through."""

    def __init__(self, send: Alert, limit: int = 5, window_s: float = 600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._send = send
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._sent: deque[float] = deque()
        self.held_back = 0

    async def __call__(self, text: str) -> None:
        now = self._clock()
        while self._sent and now - self._sent[0] >= self.window_s:
            self._sent.popleft()
        if len(self._sent) >= self.limit:
            self.held_back += 1
            log.warning("admin alert held back (over %d per %gs): %s", self.limit, self.window_s, text[:300])
            return
        if self.held_back:
            text = f"{text}\n({self.held_back} earlier alert(s) held back by the rate limit; see the log)"
            self.held_back = 0
        self._sent.append(now)
        await self._send(text)
