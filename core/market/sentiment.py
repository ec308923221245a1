"""The snapshot's `sentiment` (DESIGN §4.3, #17), point-in-time from a `NewsStore`.

At `as_of` only headlines first seen in (as_of − WINDOW, as_of] count, and the Fear & Greed value of as_of's
day. A `HeadlineScorer` (the news analyst: the LLM in `core.services.news_analyst`, or the keyword rules in
`core.market.news_keywords`) gives each headline an impact −2..+2 and the coins it is about (none: the whole
market). Per symbol the impacts of the headlines about it or the whole market are weighted by
w = 0.5^(age / 24 h) and `news_score` = Σ impact·w / max(1, Σ w): a single fresh headline scores its impact,
an older one fades, many fresh ones average. The strongest (|impact|·w) of at most three headlines with
|impact| ≥ 1 are the `key_events`, strongest first.

News regimes (`news_regime`, used by the guard when NEWS_REGIME is on): PANIC while a critical negative
headline (impact −2) is under 4 h old or the news score is at or below −1.5; DIGESTING while the newest
critical negative headline is 4–24 h old.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal, Protocol

from core.market.news import Headline, NewsStore
from core.models import KeyEvent, Sentiment, Snapshot
from core.protocols import SnapshotSource

log = logging.getLogger(__name__)

WINDOW = timedelta(hours=72)  # past three half-lives a headline weighs < 1/8
HALF_LIFE_H = 24.0
MAX_KEY_EVENTS = 3
MAX_REMEMBERED_SCORES = 20_000
PANIC_AGE = timedelta(hours=4)
DIGESTING_AGE = timedelta(hours=24)
PANIC_SCORE = -1.5
NewsRegime = Literal["panic", "digesting"]


@dataclass(frozen=True, slots=True)
class HeadlineScore:
    """The analyst's reading of one headline: impact −2..+2 and the base coins it is about (() = market-wide)."""

    impact: int
    coins: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not (-2 <= self.impact <= 2):
            raise ValueError(f"impact must be within [-2, 2], got {self.impact!r}")
        object.__setattr__(self, "coins", tuple(sorted({c.upper() for c in self.coins})))


class HeadlineScorer(Protocol):
    name: str

    async def score(self, headlines: Sequence[Headline]) -> dict[str, HeadlineScore]:
        """Scores by guid; a headline left out has no score (the LLM failed, say) and does not count."""
        ...


def base_coin(symbol: str) -> str:
    return symbol.split("/", 1)[0].upper()


def decay_weight(age: timedelta) -> float:
    return float(0.5 ** (max(0.0, age.total_seconds()) / 3600.0 / HALF_LIFE_H))


def build_sentiment(
    symbol: str, as_of: datetime, headlines: Sequence[Headline], scores: dict[str, HeadlineScore],
    fear_greed: int | None,
) -> Sentiment:
    """The pure part: headlines (first seen ≤ as_of) and their scores → the symbol's reading."""
    coin = base_coin(symbol)
    weighted: list[tuple[float, Headline, int]] = []
    total_w = total = 0.0
    for h in headlines:
        s = scores.get(h.guid)
        if s is None or h.first_seen > as_of or (s.coins and coin not in s.coins):
            continue
        w = decay_weight(as_of - h.first_seen)
        total_w += w
        total += s.impact * w
        if abs(s.impact) >= 1:
            weighted.append((abs(s.impact) * w, h, s.impact))
    score = None if total_w == 0 else max(-2.0, min(2.0, total / max(1.0, total_w)))
    weighted.sort(key=lambda item: (-item[0], -item[1].first_seen.timestamp(), item[1].guid))
    top = weighted[:MAX_KEY_EVENTS]
    events = tuple(KeyEvent(h.first_seen, h.title, impact) for _, h, impact in top)
    return Sentiment(fear_greed, score, events, top[0][1].source if top else "")


class SentimentReader:
    """`at(symbol, as_of)` → the Sentiment from what the store had seen by as_of."""

    def __init__(self, store: NewsStore, scorer: HeadlineScorer | None, *, fear_greed: bool) -> None:
        self._store = store
        self._scorer = scorer
        self._fear_greed = fear_greed
        self._scores: dict[str, HeadlineScore] = {}
        self._window: tuple[datetime, list[Headline]] | None = None

    @property
    def scorer_name(self) -> str:
        return self._scorer.name if self._scorer is not None else "none"

    async def close(self) -> None:
        close = getattr(self._scorer, "close", None)
        if close is not None:
            await close()

    async def _headlines(self, as_of: datetime) -> list[Headline]:
        if self._window is not None and self._window[0] == as_of:  # every symbol of one cycle asks the same
            return self._window[1]
        headlines = await self._store.seen_between(as_of - WINDOW, as_of)
        self._window = (as_of, headlines)
        return headlines

    async def score(self, headlines: Sequence[Headline]) -> dict[str, HeadlineScore]:
        """Scores of `headlines`, asking the scorer only for those not scored yet in this process."""
        if self._scorer is None:
            return {}
        if len(self._scores) > MAX_REMEMBERED_SCORES:  # a bot running for months: keep what the window needs
            wanted = {h.guid for h in headlines}
            self._scores = {g: s for g, s in self._scores.items() if g in wanted}
        missing = [h for h in headlines if h.guid not in self._scores]
        if missing:
            try:
                self._scores.update(await self._scorer.score(missing))
            except Exception as error:  # the analyst failing is "no score", never a failed snapshot
                log.warning("news analyst %s failed: %s", self._scorer.name, error)
        return self._scores

    async def at(self, symbol: str, as_of: datetime) -> Sentiment:
        headlines = await self._headlines(as_of)
        scores = await self.score(headlines)
        fear_greed = None
        if self._fear_greed:
            reading = await self._store.fear_greed_at(as_of)
            fear_greed = reading.value if reading is not None else None
        return build_sentiment(symbol, as_of, headlines, scores, fear_greed)


class SentimentSnapshots:
    """A SnapshotSource that adds `sentiment` to another's snapshots (live, demo and replay alike). A store
    or analyst failure leaves sentiment None for that snapshot: no context, never a failed cycle."""

    def __init__(self, inner: SnapshotSource, reader: SentimentReader) -> None:
        self._inner = inner
        self.reader = reader

    async def snapshot(self, symbol: str, as_of: datetime) -> Snapshot:
        snapshot = await self._inner.snapshot(symbol, as_of)
        try:
            sentiment = await self.reader.at(symbol, snapshot.as_of)
        except Exception as error:
            log.warning("no sentiment for %s at %s: %s", symbol, as_of, error)
            return snapshot
        return replace(snapshot, sentiment=sentiment)

    def __getattr__(self, name: str) -> object:  # the inner source's other methods (replay's bars, funding)
        return getattr(self._inner, name)


def critical_events(sentiment: Sentiment | None, as_of: datetime, within: timedelta) -> list[KeyEvent]:
    """Key events with impact −2 first seen in (as_of − within, as_of]."""
    if sentiment is None:
        return []
    return [e for e in sentiment.key_events if e.impact <= -2 and timedelta(0) <= as_of - e.time < within]


def news_regime(sentiment: Sentiment | None, as_of: datetime) -> NewsRegime | None:
    if sentiment is None:
        return None
    if critical_events(sentiment, as_of, PANIC_AGE) or (
        sentiment.news_score is not None and sentiment.news_score <= PANIC_SCORE
    ):
        return "panic"
    if critical_events(sentiment, as_of, DIGESTING_AGE):
        return "digesting"
    return None


__all__ = [
    "HeadlineScore", "HeadlineScorer", "NewsRegime", "SentimentReader", "SentimentSnapshots", "base_coin",
    "build_sentiment", "critical_events", "decay_weight", "news_regime",
]
