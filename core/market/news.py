"""News and Fear & Greed as the bot saw them (#17): headlines stamped with the time they were **first
seen**, and the daily Fear & Greed index, behind two small protocols.

- `NewsProvider` / `FearGreedProvider`: something that fetches now (RSS/Atom feeds, an API, alternative.me);
  the gateways are in `core.market.news_feeds`. A provider that fails returns nothing and logs one line.
- `NewsStore`: where what was fetched is recorded (SQLite in `storage.news_repo`, `MemoryNewsStore` here);
  `seen_between` is the point-in-time read: a headline counts at `as_of` only if first seen at or before it,
  whatever the feed's own published time says (feeds rewrite and backdate).
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Protocol

from core.models import DomainError, require_utc

MAX_TITLE = 300


@dataclass(frozen=True, slots=True)
class FetchedHeadline:
    """One feed item as fetched: its identity (guid or link), source, title and the feed's published time."""

    guid: str
    source: str
    title: str
    link: str = ""
    published: datetime | None = None
    summary: str = ""

    def __post_init__(self) -> None:
        if not self.guid:
            raise DomainError(f"a headline needs a guid or link: {self.title!r}")
        object.__setattr__(self, "title", " ".join(self.title.split())[:MAX_TITLE])


@dataclass(frozen=True, slots=True)
class Headline:
    """A recorded headline: first_seen is when this bot first fetched it (the point-in-time stamp)."""

    guid: str
    source: str
    title: str
    link: str
    published: datetime | None
    first_seen: datetime
    summary: str = ""
    first_seen_s: float = field(init=False, repr=False, compare=False)  # POSIX seconds, for the sentiment arrays

    def __post_init__(self) -> None:
        object.__setattr__(self, "first_seen_s", require_utc(self.first_seen, "first_seen").timestamp())


@dataclass(frozen=True, slots=True)
class FearGreed:
    """The Fear & Greed index of one UTC day (0 extreme fear … 100 extreme greed), known from 00:00 that day."""

    day: date
    value: int
    label: str = ""

    def __post_init__(self) -> None:
        if not (0 <= self.value <= 100):
            raise DomainError(f"fear & greed must be within [0, 100], got {self.value!r}")

    @property
    def known_from(self) -> datetime:
        return datetime.combine(self.day, time(0), tzinfo=UTC)


def headline_guid(guid: str | None, link: str | None, title: str, source: str) -> str:
    """A feed's guid, else its link, else a hash of source and title (some feeds give neither)."""
    for value in (guid, link):
        if value and value.strip():
            return value.strip()
    return "sha1:" + hashlib.sha1(f"{source}\n{title}".encode()).hexdigest()


class NewsProvider(Protocol):
    name: str

    async def fetch(self) -> list[FetchedHeadline]:
        """What the source lists now; [] on any failure (logged, never raised)."""
        ...


class FearGreedProvider(Protocol):
    async def fetch(self, days: int) -> list[FearGreed]:
        """The last `days` daily readings; [] on any failure (logged, never raised)."""
        ...


class NewsStore(Protocol):
    async def record(self, headlines: Sequence[FetchedHeadline], seen_at: datetime) -> int:
        """Keep the headlines not seen before with `seen_at` as their first-seen time; returns how many were new."""
        ...

    async def seen_between(self, since: datetime, until: datetime) -> list[Headline]:
        """Headlines first seen in (since, until], oldest first."""
        ...

    async def record_fear_greed(self, readings: Sequence[FearGreed]) -> None: ...

    async def fear_greed_at(self, as_of: datetime) -> FearGreed | None:
        """The reading of as_of's UTC day (known from 00:00), else the day before; None when neither is stored."""
        ...


def fear_greed_of(readings: Sequence[FearGreed], as_of: datetime) -> FearGreed | None:
    """`NewsStore.fear_greed_at` on day-sorted readings: today's value, else yesterday's (the fetch of the
    day may not have run yet at 00:00), never a later day's."""
    day = require_utc(as_of, "as_of").date()
    days = [r.day for r in readings]
    k = bisect_right(days, day) - 1
    if k < 0 or (day - readings[k].day).days > 1:
        return None
    return readings[k]


class MemoryNewsStore:
    """`NewsStore` in memory: tests, and replay over an archive loaded once from SQLite (`load`)."""

    def __init__(self, headlines: Iterable[Headline] = (), fear_greed: Iterable[FearGreed] = ()) -> None:
        self._by_guid: dict[str, Headline] = {}
        self._sorted: list[Headline] = []
        self._times: list[datetime] = []
        self._fg: dict[date, FearGreed] = {}
        self._fg_sorted: list[FearGreed] = []
        self.load(headlines, fear_greed)

    def load(self, headlines: Iterable[Headline], fear_greed: Iterable[FearGreed] = ()) -> None:
        for h in headlines:
            known = self._by_guid.get(h.guid)
            if known is None or h.first_seen < known.first_seen:
                self._by_guid[h.guid] = h
        self._sorted = sorted(self._by_guid.values(), key=lambda h: (h.first_seen, h.guid))
        self._times = [h.first_seen for h in self._sorted]
        for r in fear_greed:  # a day's value, once stored, is what was known that day (as in SQLite)
            self._fg.setdefault(r.day, r)
        self._fg_sorted = [self._fg[d] for d in sorted(self._fg)]

    async def record(self, headlines: Sequence[FetchedHeadline], seen_at: datetime) -> int:
        seen_at = require_utc(seen_at, "seen_at")
        new = [
            Headline(h.guid, h.source, h.title, h.link, h.published, seen_at, h.summary)
            for h in headlines if h.guid not in self._by_guid
        ]
        unique = list({h.guid: h for h in new}.values())
        self.load(unique)
        return len(unique)

    async def seen_between(self, since: datetime, until: datetime) -> list[Headline]:
        lo = bisect_right(self._times, since)
        hi = bisect_right(self._times, until)
        return self._sorted[lo:hi]

    async def record_fear_greed(self, readings: Sequence[FearGreed]) -> None:
        self.load((), readings)

    async def fear_greed_at(self, as_of: datetime) -> FearGreed | None:
        return fear_greed_of(self._fg_sorted, as_of)

    def __len__(self) -> int:
        return len(self._sorted)

    def first_seen_range(self) -> tuple[datetime, datetime] | None:
        return (self._times[0], self._times[-1]) if self._times else None

    def fingerprint(self, until: datetime) -> str:
        """A digest of everything a reader can see up to `until` (headlines first seen by then, readings of days
        up to its day): equal for two archives exactly when a replay ending at `until` reads the same news, so a
        file that keeps growing after the window changes nothing (the sweep's cell identity, #17)."""
        until = require_utc(until, "until")
        digest = hashlib.sha256()
        for h in self._sorted[: bisect_right(self._times, until)]:
            published = h.published.isoformat() if h.published else ""
            fields = (h.guid, h.source, h.title, h.link, published, h.first_seen.isoformat(), h.summary)
            digest.update(("\x1f".join(fields) + "\x1e").encode())
        for r in self._fg_sorted:
            if r.day <= until.date():
                digest.update(f"fg\x1f{r.day.isoformat()}\x1f{r.value}\x1f{r.label}\x1e".encode())
        return digest.hexdigest()[:16]


__all__ = [
    "FearGreed", "FearGreedProvider", "FetchedHeadline", "Headline", "MemoryNewsStore", "NewsProvider",
    "NewsStore", "fear_greed_of", "headline_guid",
]
