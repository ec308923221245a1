"""Error classes shared across layers (DESIGN §7: temporary → retry next tick; operational → pause and alert)."""


class UserInputError(ValueError):
    """Bad input from a person (CLI argument, chat command): reported in one line, never a traceback."""


class TemporaryError(RuntimeError):
    """A passing failure (network, rate limit): retried now or on the next tick."""


class OperationalError(RuntimeError):
    """A failure that needs a person (exchange down, kill-switch): pause entries and alert the admins."""


class FatalError(RuntimeError):
    """The process cannot go on (token revoked, database gone): it stops with one line and a non-zero exit."""
