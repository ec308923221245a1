"""The domain: models, protocols and the stages of the cycle, pure Python.

Subpackages by stage: `market` (data sources, indicators, snapshot), `decide` (engines), `risk` (the guard),
`execution` (brokers and the exit ladder), `evaluation` (replay, metrics, report), `services` (the cycle, the
control service, the track record). Layered evaluation > services > risk > execution > decide | market >
the kernel here (models, protocols, config, clock, errors); ccxt only in the exchange gateways, openai only
in `decide.llm`. Imports no aiogram, apscheduler or aiosqlite; anyone may import it (pyproject's contracts).
"""

from core.market import ccxt_lazy

ccxt_lazy.install()  # before anything imports ccxt: only the configured exchange's class is loaded (#19)
