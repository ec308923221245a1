"""APScheduler jobs: the cycle, the position monitor, Market Pulse and the daily summary.

Imports `core` only; collaborators (notifier, broker, stores) arrive as job arguments from `bot.app`.
Never imports `bot` or `handlers`.
"""
