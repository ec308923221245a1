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

import numpy as np

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


class ScoredWindow:
    """The scored headlines of one as_of as arrays, so each symbol's reading is a few numpy operations (a replay
    asks for every symbol at every bar, over a few hundred headlines each time)."""

    def __init__(self, headlines: Sequence[Headline], scores: dict[str, HeadlineScore]) -> None:
        scored = [(h, scores[h.guid]) for h in headlines if h.guid in scores]
        self.headlines = [h for h, _ in scored]
        self.coins = [s.coins for _, s in scored]
        self.seen_s = np.array([h.first_seen_s for h in self.headlines], dtype=np.float64)
        self.impact = np.array([s.impact for _, s in scored], dtype=np.float64)
        self.market_wide = np.array([not c for c in self.coins], dtype=bool)
        self._by_coin: dict[str, np.ndarray] = {}

    def about(self, coin: str) -> np.ndarray:
        mask = self._by_coin.get(coin)
        if mask is None:
            mask = self.market_wide | np.array([coin in c for c in self.coins], dtype=bool)
            self._by_coin[coin] = mask
        return mask

    def sentiment(self, symbol: str, as_of: datetime, fear_greed: int | None) -> Sentiment:
        now = as_of.timestamp()
        keep = self.about(base_coin(symbol)) & (self.seen_s <= now)
        if not keep.any():
            return Sentiment(fear_greed, None, (), "")
        index = np.flatnonzero(keep)
        weights = 0.5 ** ((now - self.seen_s[index]) / 3600.0 / HALF_LIFE_H)
        impacts = self.impact[index]
        total_w = float(weights.sum())
        score = max(-2.0, min(2.0, float((impacts * weights).sum()) / max(1.0, total_w)))
        strength = np.abs(impacts) * weights
        strong = np.flatnonzero(np.abs(impacts) >= 1)
        if len(strong) > MAX_KEY_EVENTS:  # only those at least as strong as the third strongest can make it
            kth = np.partition(strength[strong], -MAX_KEY_EVENTS)[-MAX_KEY_EVENTS]
            strong = strong[strength[strong] >= kth]
        # strongest first; ties: the newer, then by guid (stable across runs)
        order = sorted(strong.tolist(), key=lambda k: (
            -strength[k], -self.seen_s[index[k]], self.headlines[index[k]].guid))[:MAX_KEY_EVENTS]
        top = [self.headlines[index[k]] for k in order]
        events = tuple(KeyEvent(h.first_seen, h.title, int(impacts[k])) for h, k in zip(top, order, strict=True))
        return Sentiment(fear_greed, score, events, top[0].source if top else "")


def build_sentiment(
    symbol: str, as_of: datetime, headlines: Sequence[Headline], scores: dict[str, HeadlineScore],
    fear_greed: int | None,
) -> Sentiment:
    """The pure part: headlines (only those first seen ≤ as_of count) and their scores → the symbol's reading."""
    return ScoredWindow(headlines, scores).sentiment(symbol, as_of, fear_greed)


class SentimentReader:
    """`at(symbol, as_of)` → the Sentiment from what the store had seen by as_of."""

    def __init__(self, store: NewsStore, scorer: HeadlineScorer | None, *, fear_greed: bool) -> None:
        self._store = store
        self._scorer = scorer
        self._fear_greed = fear_greed
        self._scores: dict[str, HeadlineScore] = {}
        self._window: tuple[datetime, list[Headline]] | None = None
        self._scored: tuple[datetime, ScoredWindow] | None = None

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
        if self._scored is None or self._scored[0] != as_of:  # every symbol of one cycle shares the window
            headlines = await self._headlines(as_of)
            self._scored = (as_of, ScoredWindow(headlines, await self.score(headlines)))
        fear_greed = None
        if self._fear_greed:
            reading = await self._store.fear_greed_at(as_of)
            fear_greed = reading.value if reading is not None else None
        return self._scored[1].sentiment(symbol, as_of, fear_greed)


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
