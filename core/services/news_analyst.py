"""The news analyst on the LLM (#17): headlines → impact −2..+2 and the coins each is about.

It asks through the decision engine's own `LlmEngine.ask_json` — the same endpoint rules, structured-output
steps, retries, LLM_TIMEOUT_S budget and usage log — and shares its daily token budget: when the budget is
spent, or the model fails, the headlines stay unscored ("no score", never a guess). Scores are cached per
analyst identity (endpoint, model chain, prompt version) and headline, so each headline is asked about once and
a replay over recorded headlines is free and identical the second time.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from core.decide.llm import JsonAsk, LlmEngine
from core.decide.parsing import InvalidDecisionError, extract_json
from core.market.news import Headline
from core.market.sentiment import HeadlineScore

log = logging.getLogger(__name__)

NEWS_PROMPT_VERSION = "news-1"
BATCH = 20  # headlines per request
SYSTEM_PROMPT = (
    "You are a crypto news analyst. For each headline give its likely impact on crypto prices over the next day, "
    "an integer from -2 (critical negative: hack, insolvency, ban) through 0 (no effect) to 2 (major positive), "
    "and the tickers of the coins it is about (empty when it concerns the whole market). Answer with JSON only: "
    '{"items": [{"id": <the headline\'s number>, "impact": <-2..2>, "coins": ["BTC", ...]}]}, one item per headline.'
)
SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["items"],
    "properties": {
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id", "impact", "coins"],
                "properties": {
                    "id": {"type": "integer"},
                    "impact": {"type": "integer", "enum": [-2, -1, 0, 1, 2]},
                    "coins": {"type": "array", "items": {"type": "string"}},
                },
            },
        }
    },
}


class ScoreCache(Protocol):
    async def get_many(self, scorer: str, guids: Sequence[str]) -> dict[str, HeadlineScore]: ...

    async def put_many(self, scorer: str, scores: dict[str, HeadlineScore]) -> None: ...


class MemoryScoreCache:
    def __init__(self) -> None:
        self._scores: dict[tuple[str, str], HeadlineScore] = {}

    async def get_many(self, scorer: str, guids: Sequence[str]) -> dict[str, HeadlineScore]:
        return {g: self._scores[(scorer, g)] for g in guids if (scorer, g) in self._scores}

    async def put_many(self, scorer: str, scores: dict[str, HeadlineScore]) -> None:
        self._scores.update({(scorer, g): s for g, s in scores.items()})


def user_message(headlines: Sequence[Headline]) -> str:
    return "\n".join(f"{k}. [{h.source}] {h.title}" for k, h in enumerate(headlines, 1))


def parse_scores(content: str | None, count: int) -> dict[int, HeadlineScore]:
    """The answer's items by 1-based headline number; an item out of range or out of bounds is an error."""
    data = extract_json(content)
    items = data.get("items")
    if not isinstance(items, list):
        raise InvalidDecisionError('the answer needs an "items" list')
    out: dict[int, HeadlineScore] = {}
    for item in items:
        try:
            number, impact = int(item["id"]), int(item["impact"])
            coins = tuple(str(c).upper()[:10] for c in item.get("coins") or [] if str(c).strip())
            if not 1 <= number <= count:
                raise ValueError(f"id {number} names no headline (1..{count})")
            out[number] = HeadlineScore(impact, coins)
        except (KeyError, TypeError, ValueError) as error:
            raise InvalidDecisionError(f"item {item!r}: {error}") from None
    return out


class LlmNewsScorer:
    name = "llm"

    def __init__(self, llm: LlmEngine, cache: ScoreCache | None = None) -> None:
        self._llm = llm
        self._cache = cache or MemoryScoreCache()
        models = ">".join((llm.config.model, *llm.config.fallback_models))
        self.identity = hashlib.sha256(
            f"{llm.endpoint}|{models}|{NEWS_PROMPT_VERSION}|{SYSTEM_PROMPT}".encode()
        ).hexdigest()[:16]

    async def close(self) -> None:
        await self._llm.close()

    async def score(self, headlines: Sequence[Headline]) -> dict[str, HeadlineScore]:
        scores = await self._cache.get_many(self.identity, [h.guid for h in headlines])
        missing = [h for h in headlines if h.guid not in scores]
        for k in range(0, len(missing), BATCH):
            if await self._llm.budget_spent():
                log.warning("news analyst: the LLM daily token budget is spent; %d headline(s) stay unscored",
                            len(missing) - k)
                break
            batch = missing[k : k + BATCH]
            count = len(batch)
            answer = await self._llm.ask_json(JsonAsk(
                messages=[{"role": "system", "content": SYSTEM_PROMPT},
                          {"role": "user", "content": user_message(batch)}],
                schema=SCHEMA, schema_name="news_scores",
                parse=lambda content, n=count: parse_scores(content, n),  # type: ignore[misc]
            ))
            if answer.status != "ok":
                log.warning("news analyst: no score for %d headline(s): %s", len(batch), answer.error)
                continue
            fresh = {batch[number - 1].guid: score for number, score in answer.value.items()}
            await self._cache.put_many(self.identity, fresh)
            scores.update(fresh)
        return scores


__all__ = ["LlmNewsScorer", "MemoryScoreCache", "ScoreCache", "parse_scores", "user_message"]
