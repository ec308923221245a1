"""Test-wide settings.

Property tests explore new random examples on developers' machines (that is how the split_html bug was
found) but run derandomized in CI, so a CI run is reproducible: the same examples every time.
"""

import os

import bot.aiogram_types  # noqa: F401  (aiogram as the app imports it: types built on first use)

from hypothesis import settings

import core  # noqa: F401  (ccxt as the app imports it: one exchange class at a time, core.market.ccxt_lazy)

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

from tests.fakes.news_server import news_server  # noqa: E402, F401  (fixture: the local news feeds server, #17)
