"""How a job reports trouble: logged with its traceback and told to the admins, never raised — APScheduler
by itself would only log it, and a demo or an admin command driving a job must go on."""

from __future__ import annotations

import logging

from core.protocols import Alert

log = logging.getLogger(__name__)


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
