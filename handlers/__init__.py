"""aiogram routers (thin): admin, public, errors."""

import bot.aiogram_types  # noqa: F401  (before aiogram: its types build on first use, as in the app)
