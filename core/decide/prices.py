"""USD per million tokens for a model: what the cost estimate of every LLM call uses.

Resolution, first match wins: a per-model price from `LLM_PRICES`; the flat `LLM_PRICE_*` pair when set;
0 for a local endpoint (your own hardware); the list price of a few well-known models below; else 0 —
an unknown model is never charged an invented price.
"""

from __future__ import annotations

from core.config import LlmConfig
from core.decide.endpoints import is_local_endpoint

# (prompt, completion) USD per million tokens: the providers' published list prices (2025).
KNOWN_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "deepseek-chat": (0.27, 1.10),
    "deepseek-reasoner": (0.55, 2.19),
}


def price_per_mtok(config: LlmConfig, model: str) -> tuple[float, float]:
    for name, prompt, completion in config.prices:
        if name == model:
            return prompt, completion
    if config.price_prompt_per_mtok is not None or config.price_completion_per_mtok is not None:
        return config.price_prompt_per_mtok or 0.0, config.price_completion_per_mtok or 0.0
    if is_local_endpoint(config.base_url):
        return 0.0, 0.0
    return KNOWN_PRICES.get(model.rsplit("/", 1)[-1], (0.0, 0.0))  # OpenRouter spells openai/gpt-4o-mini


def parse_prices(text: str) -> tuple[tuple[str, float, float], ...]:
    """`model=PROMPT/COMPLETION,…` (USD per million tokens) → entries; ValueError naming the bad part."""
    entries: list[tuple[str, float, float]] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, value = part.rpartition("=")
        prompt, slash, completion = value.partition("/")
        try:
            if not (sep and slash and name.strip()):
                raise ValueError
            p, c = float(prompt), float(completion)
            if not (p >= 0 and c >= 0):
                raise ValueError
        except ValueError:
            raise ValueError(f"must be MODEL=PROMPT/COMPLETION USD per million tokens, e.g. gpt-4o-mini=0.15/0.60; "
                             f"got {part!r}") from None
        entries.append((name.strip(), p, c))
    return tuple(entries)
