"""aiosqlite storage: the connection, migrations and one repository per store protocol of `core`.

Imports `core` only; imported by `bot.app` and `bot.commands`, never by `handlers`, `jobs` or `bot.telegram`.
"""
