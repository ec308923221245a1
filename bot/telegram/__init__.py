"""Telegram presentation: post and reply formatting, charts, the durable outbox, publisher and notifier.

Imports `core` only (and aiogram); never `bot.app`, `handlers`, `jobs` or `storage`.
"""
