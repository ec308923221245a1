"""Logging with secrets masked: every registered secret is replaced by *** in every record."""

from __future__ import annotations

import logging
import re

from core.urls import scrub_urls_in

_SECRETS: set[str] = set()
_TOKEN_PATTERN = re.compile(r"(?<!\d)\d{6,12}:[A-Za-z0-9_-]{30,}")  # Telegram bot token shape


def register_secret(value: str | None) -> None:
    if value and len(value) >= 6:
        _SECRETS.add(value)


def mask(text: str) -> str:
    for secret in _SECRETS:
        text = text.replace(secret, "***")
    return scrub_urls_in(_TOKEN_PATTERN.sub("***", text))


class SecretMaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = mask(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SecretMaskingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpx2", "httpcore", "openai", "aiogram.event", "apscheduler.executors.default", "ccxt"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
