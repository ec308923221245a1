"""How the live broker reacts to each kind of exchange failure (issue #7, DESIGN §7).

- temporary (NetworkError, RequestTimeout, rate limits): retried with backoff; safe because every
  order carries a deterministic client id, so a retry finds the first attempt instead of doubling it;
- rejected (InsufficientFunds, InvalidOrder, bad symbol): the intent is dropped and the admins told;
- unavailable (ExchangeNotAvailable, maintenance): new entries pause until a call succeeds again;
- fatal (authentication, permissions): needs a person; entries pause and the admins are told.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import StrEnum

import ccxt.async_support as ccxt
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from core.errors import OperationalError


class ErrorKind(StrEnum):
    TEMPORARY = "temporary"
    REJECTED = "rejected"
    UNAVAILABLE = "unavailable"
    FATAL = "fatal"


def classify(error: BaseException) -> ErrorKind:
    # Order matters: ccxt's ExchangeNotAvailable and RequestTimeout are both NetworkError subclasses.
    if isinstance(error, ccxt.ExchangeNotAvailable):
        return ErrorKind.UNAVAILABLE
    if isinstance(error, ccxt.NetworkError):
        return ErrorKind.TEMPORARY
    if isinstance(error, ccxt.AuthenticationError | ccxt.PermissionDenied | ccxt.AccountSuspended):
        return ErrorKind.FATAL
    if isinstance(error, ccxt.InsufficientFunds | ccxt.InvalidOrder | ccxt.BadSymbol | ccxt.BadRequest):
        return ErrorKind.REJECTED
    if isinstance(error, OrderRejected):
        return ErrorKind.REJECTED
    return ErrorKind.FATAL


def describe(error: BaseException) -> str:
    """Short, key-free description: ccxt messages carry the exchange's reply, never our credentials."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text[:200]}" if text else type(error).__name__


def is_temporary(error: BaseException) -> bool:
    return classify(error) is ErrorKind.TEMPORARY


class OrderRejected(OperationalError):
    """The exchange (or our own pre-check: minimum notional, available margin) refused an intent."""


class ExchangeUnavailable(OperationalError):
    """The exchange is down or in maintenance: entries pause until it answers again."""


async def with_retry[T](
    call: Callable[[], Awaitable[T]],
    *,
    attempts: int = 4,
    base_wait_s: float = 0.5,
    max_wait_s: float = 8.0,
) -> T:
    """Run `call`, retrying only temporary errors with exponential backoff; re-raise the last one."""
    async for attempt in AsyncRetrying(
        retry=retry_if_exception(is_temporary),
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=base_wait_s, max=max_wait_s),
        reraise=True,
    ):
        with attempt:
            return await call()
    raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover
