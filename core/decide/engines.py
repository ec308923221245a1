"""`build_engine(kind, ...)`: the one place that turns ENGINE=llm|rules|trend|ensemble into a DecisionEngine.

`trend` (core/decide/trend.py) is the researched default when no LLM is configured (docs/strategy.md; the
settings pick its shipped variant: 30-day TSMOM, long and short, with the regime filter and the funding veto);
`rules` is the original multi-timeframe score engine, kept under its name.

Used by the composition root (`bot/app.py`) and the CLI. Stores default to in-memory ones; the app passes
the SQLite ones from `storage.llm_repo` so capability memory, the call log, the budget alert and the
decision cache survive restarts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from core.config import LlmConfig
from core.decide.cache import DecisionCache
from core.decide.capabilities import CapabilityStore
from core.decide.endpoints import is_local_endpoint
from core.decide.rules import RulesEngine, RulesParams
from core.decide.trend import TrendEngine, TrendParams
from core.decide.usage import UsageLog
from core.errors import UserInputError
from core.protocols import Clock, DecisionEngine

if TYPE_CHECKING:
    from core.decide.llm import BudgetAlert

EngineKind = Literal["llm", "rules", "trend", "ensemble"]
ENGINE_KINDS: tuple[str, ...] = ("llm", "rules", "trend", "ensemble")


def build_engine(
    kind: str,
    *,
    llm_config: LlmConfig | None = None,
    api_key: str | None = None,
    rules_params: RulesParams | None = None,
    trend_params: TrendParams | None = None,
    usage: UsageLog | None = None,
    capabilities: CapabilityStore | None = None,
    cache: DecisionCache | None = None,
    clock: Clock | None = None,
    on_budget_exhausted: BudgetAlert | None = None,
) -> DecisionEngine:
    if kind not in ENGINE_KINDS:
        raise UserInputError(f"engine must be llm, rules, trend or ensemble, got {kind!r}")
    if kind == "trend":
        return TrendEngine(trend_params)
    rules = RulesEngine(rules_params)
    if kind == "rules":
        return rules
    config = llm_config or LlmConfig()
    if not api_key and not is_local_endpoint(config.base_url):
        raise UserInputError(f"engine {kind} needs LLM_API_KEY (or a local LLM_BASE_URL), none is set")
    # Imported here: the openai SDK costs ~35 MB of RSS, which a rules-only bot never needs.
    from core.decide.ensemble import EnsembleEngine
    from core.decide.llm import LlmEngine

    llm = LlmEngine(
        config,
        api_key,
        fallback=rules,
        usage=usage,
        capabilities=capabilities,
        cache=cache,
        clock=clock,
        on_budget_exhausted=on_budget_exhausted,
    )
    return llm if kind == "llm" else EnsembleEngine(llm, rules)
