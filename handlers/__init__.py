"""aiogram routers (thin): admin, public, errors. Import `core` services and `bot.telegram` formatting;
never `storage`, `jobs`, ccxt or openai. Imported by `bot.app` only."""

import bot.aiogram_types  # noqa: F401  (before aiogram: its types build on first use, as in the app)
