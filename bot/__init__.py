"""Composition root (`bot.app`), CLI (`bot.cli`, `bot.commands`) and settings.

Presentation lives in `bot.telegram` (posts, replies, charts, publisher, outbox) and `bot.reports` (replay
pictures). Only `bot.app` wires everything.
"""
