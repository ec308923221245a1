"""What a sweep worker runs for one cell (a local process or a Dask worker): build the engine the cell
names from the worker's own settings, then the replay. Secrets stay on the worker: an LLM key is read
from the worker's environment, never shipped with the task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.clock import SimulatedClock
from core.evaluation.cell_runner import run_cell
from core.evaluation.sweep import SweepCell
from core.protocols import DecisionEngine


def _engine_factory(cache_dir: str | None):
    def build(cell: SweepCell, clock: SimulatedClock) -> DecisionEngine:
        from core.decide.engines import build_engine

        if cell.engine == "rules":
            return build_engine("rules", rules_params=cell.settings.rules)
        from bot.commands.replay_cmd import CACHE_FILE, JsonlDecisionCache
        from bot.settings import load_settings

        settings = load_settings()
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key is not None else None
        cache = JsonlDecisionCache(Path(cache_dir or ".") / CACHE_FILE)
        return build_engine(cell.engine, llm_config=settings.llm_config(), api_key=key,
                            rules_params=cell.settings.rules, cache=cache, clock=clock)

    return build


def run_sweep_cell(cell: SweepCell, cache_dir: str | None = None) -> dict[str, Any]:
    return run_cell(cell, _engine_factory(cache_dir))
