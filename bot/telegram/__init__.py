"""Telegram presentation: post and reply formatting, charts, publisher and notifier (the outbox they drain
is `core.services.outbox`).

Imports `core` only (and aiogram); never `bot.app`, `handlers`, `jobs` or `storage`.
"""
