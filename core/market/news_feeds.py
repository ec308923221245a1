"""The news and sentiment gateways (#17): RSS/Atom feeds (feedparser over httpx), CryptoPanic's `posts` API
(a key), and alternative.me's Fear & Greed index. Each fetch that fails — timeout, HTTP error (429 too), bad
XML, an empty feed, bad JSON — returns [] and logs one line: "no context", never a crash and never a trade.
URLs are logged scrubbed (an API key in the query never reaches a log line).
"""

from __future__ import annotations

import calendar
import json
import logging
import xml.sax
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import feedparser  # type: ignore[import-untyped]
import httpx

from core.market.news import FearGreed, FetchedHeadline, headline_guid
from core.urls import scrub_url, scrub_urls_in

log = logging.getLogger(__name__)

TIMEOUT_S = 10.0
MAX_BYTES = 5_000_000  # a feed larger than this is not a news feed
USER_AGENT = "aitrader/0.1 (+news; RSS reader)"
FEAR_GREED_URL = "https://api.alternative.me/fng/"
CRYPTOPANIC_URL = "https://cryptopanic.com/api/v1/posts/"


class _NoContext(Exception):
    """This fetch gives nothing usable; the message is the one log line."""


async def _get(client: httpx.AsyncClient, url: str, params: Mapping[str, str] | None = None) -> bytes:
    try:
        response = await client.get(url, params=params, timeout=TIMEOUT_S, follow_redirects=True,
                                    headers={"User-Agent": USER_AGENT})
    except httpx.TimeoutException:
        raise _NoContext(f"timeout after {TIMEOUT_S:g}s") from None
    except httpx.HTTPError as error:
        raise _NoContext(f"{type(error).__name__}: {scrub_urls_in(str(error))[:200]}") from None
    if response.status_code != 200:
        raise _NoContext(f"HTTP {response.status_code}")
    if len(response.content) > MAX_BYTES:
        raise _NoContext(f"{len(response.content):,} bytes is too large for a feed")
    return response.content


def _aware(value: Any) -> datetime | None:
    """feedparser's *_parsed struct_time (UTC) as an aware datetime."""
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _iso(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_feed(content: bytes, source: str) -> list[FetchedHeadline]:
    """RSS 2.0 / Atom bytes → headlines; raises _NoContext when it is not a feed or holds no item."""
    parsed = feedparser.parse(content)
    entries = parsed.get("entries") or []
    problem = parsed.get("bozo_exception")
    # broken XML (a truncated download) is refused whole; feedparser's other bozo notes (an encoding override,
    # a text/html content type) are harmless on real feeds
    if isinstance(problem, xml.sax.SAXException) or (problem is not None and not entries):
        raise _NoContext(f"not a feed ({type(problem).__name__}: {str(problem)[:120]})")
    if not entries and not parsed.get("version"):
        raise _NoContext("not a feed (neither RSS nor Atom)")
    out = []
    for entry in entries:
        title = (entry.get("title") or "").strip()
        if not title:
            continue
        link = (entry.get("link") or "").strip()
        guid = headline_guid(entry.get("id"), link, title, source)
        published = _aware(entry.get("published_parsed") or entry.get("updated_parsed"))
        summary = " ".join(str(entry.get("summary") or "").split())[:500]
        out.append(FetchedHeadline(guid, source, title, link, published, summary))
    if not out:
        raise _NoContext("the feed lists no item")
    return out


def source_name(url: str) -> str:
    """A feed's short name for posts: its host without www. (coindesk.com, cointelegraph.com)."""
    host = urlsplit(url).hostname or url
    return host.removeprefix("www.")


class RssFeed:
    """One RSS 2.0 or Atom feed (CoinDesk, Cointelegraph, Decrypt, …)."""

    def __init__(self, url: str, client: httpx.AsyncClient, *, name: str | None = None) -> None:
        self.url = url
        self.name = name or source_name(url)
        self._client = client

    async def fetch(self) -> list[FetchedHeadline]:
        try:
            return parse_feed(await _get(self._client, self.url), self.name)
        except _NoContext as why:
            log.warning("news feed %s: no context (%s)", scrub_url(self.url), why)
            return []


class CryptoPanicPosts:
    """CryptoPanic's `posts` API (`/api/v1/posts/?auth_token=KEY&public=true`); the key stays in the request."""

    name = "cryptopanic"

    def __init__(self, api_key: str, client: httpx.AsyncClient, *, url: str = CRYPTOPANIC_URL) -> None:
        self._key = api_key
        self._url = url
        self._client = client

    async def fetch(self) -> list[FetchedHeadline]:
        try:
            body = await _get(self._client, self._url, {"auth_token": self._key, "public": "true"})
            return self._parse(body)
        except _NoContext as why:
            log.warning("news API %s: no context (%s)", scrub_url(self._url), str(why).replace(self._key, "***"))
            return []

    @staticmethod
    def _parse(body: bytes) -> list[FetchedHeadline]:
        try:
            results = json.loads(body)["results"]
        except (ValueError, KeyError, TypeError):
            raise _NoContext("not the posts JSON (no results list)") from None
        out = []
        for post in results if isinstance(results, list) else []:
            if not isinstance(post, dict) or not str(post.get("title") or "").strip():
                continue
            source = post.get("source")
            source = source if isinstance(source, dict) else {}
            name = str(source.get("domain") or post.get("domain") or "cryptopanic")
            codes = [c.get("code") for c in post.get("currencies") or [] if isinstance(c, dict) and c.get("code")]
            guid = headline_guid(str(post["id"]) if post.get("id") is not None else None, post.get("url"),
                                 post["title"], name)
            out.append(FetchedHeadline(f"cryptopanic:{guid}", name, str(post["title"]), str(post.get("url") or ""),
                                       _iso(post.get("published_at")), " ".join(f"${c}" for c in codes)))
        if not out:
            raise _NoContext("the API lists no post")
        return out


class AlternativeMeFearGreed:
    """The Crypto Fear & Greed index (`/fng/?limit=N&format=json`): one value per UTC day, stamped 00:00."""

    def __init__(self, client: httpx.AsyncClient, *, url: str = FEAR_GREED_URL) -> None:
        self._url = url
        self._client = client

    async def fetch(self, days: int = 2) -> list[FearGreed]:
        try:
            body = await _get(self._client, self._url, {"limit": str(max(1, days)), "format": "json"})
            return parse_fear_greed(body)
        except _NoContext as why:
            log.warning("fear & greed %s: no context (%s)", scrub_url(self._url), why)
            return []


def parse_fear_greed(body: bytes) -> list[FearGreed]:
    """alternative.me's JSON → readings sorted by day; raises _NoContext on anything else."""
    try:
        data = json.loads(body)
        rows = data["data"]
    except (ValueError, KeyError, TypeError):
        raise _NoContext("not the fng JSON (no data list)") from None
    out = []
    for row in rows if isinstance(rows, list) else []:
        try:
            day = datetime.fromtimestamp(int(row["timestamp"]), UTC).date()
            out.append(FearGreed(day, int(row["value"]), str(row.get("value_classification") or "")))
        except (KeyError, TypeError, ValueError, OverflowError) as error:
            log.info("fear & greed: skipped a row (%s)", error)
    if not out:
        raise _NoContext("no reading in the answer")
    return sorted(out, key=lambda r: r.day)


__all__ = ["AlternativeMeFearGreed", "CryptoPanicPosts", "RssFeed", "parse_fear_greed", "parse_feed", "source_name"]
