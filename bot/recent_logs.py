"""The last log lines in memory, for the admins' `/logs [n]` (freqtrade's): secrets masked like every
other log line (`SecretMaskingFilter`), bounded so a long run never grows it."""

from __future__ import annotations

import logging
from collections import deque

from bot.logging_setup import SecretMaskingFilter

KEEP = 500


class RecentLogs(logging.Handler):
    def __init__(self, keep: int = KEEP, level: int = logging.INFO) -> None:
        super().__init__(level)
        self._lines: deque[str] = deque(maxlen=keep)
        self.addFilter(SecretMaskingFilter())
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._lines.append(self.format(record))
        except Exception:  # a log line that cannot be formatted is not worth a crash
            self.handleError(record)

    def last(self, n: int) -> list[str]:
        return list(self._lines)[-n:]

    def install(self) -> RecentLogs:
        root = logging.getLogger()
        if self not in root.handlers:
            root.addHandler(self)
        return self

    def uninstall(self) -> None:
        logging.getLogger().removeHandler(self)
